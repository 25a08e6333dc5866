from django.contrib import admin

from apps.packs.models import Pack


@admin.register(Pack)
class PackAdmin(admin.ModelAdmin):
    """Read-only: packs change only through their services (a built pack never changes)."""

    list_display = ["id", "scope_label", "requester", "requested_at", "status", "stage", "progress", "attempts", "size"]
    list_filter = ["status", "scope_kind"]
    readonly_fields = [f.name for f in Pack._meta.fields] + ["system_ids"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
