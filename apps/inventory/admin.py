from django.contrib import admin

from apps.inventory.models import Environment, System


class EnvironmentInline(admin.TabularInline):
    model = Environment
    extra = 0


@admin.register(System)
class SystemAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "kind", "risk_tier")
    list_filter = ("kind", "risk_tier")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("risk_owners", "engineering_owners")
    inlines = [EnvironmentInline]
