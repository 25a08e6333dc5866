from django.contrib import admin

from apps.engagements.models import Engagement, EvidenceRequest


@admin.register(Engagement)
class EngagementAdmin(admin.ModelAdmin):
    """Read-only here: engagements are opened and ended through the portal's pages (services)."""

    list_display = ("name", "access_start", "access_end", "observation_start", "observation_end")
    readonly_fields = [f.name for f in Engagement._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(EvidenceRequest)
class EvidenceRequestAdmin(admin.ModelAdmin):
    list_display = ("control_ref", "title", "engagement", "status", "due_date")
    list_filter = ("status",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
