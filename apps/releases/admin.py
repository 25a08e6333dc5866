from django.contrib import admin

from apps.releases.models import ReleaseSignoff, SignoffDecision


@admin.register(ReleaseSignoff)
class ReleaseSignoffAdmin(admin.ModelAdmin):
    """Read-only: sign-offs change only through apps.releases.services (ledger entries)."""

    list_display = ("__str__", "artifact", "system", "environment", "change_class", "status", "requested_at")
    list_filter = ("status", "change_class", "environment")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SignoffDecision)
class SignoffDecisionAdmin(ReleaseSignoffAdmin):
    list_display = ("__str__", "signoff", "approver", "slot", "decision", "at", "voided_at")
    list_filter = ("decision", "slot")
