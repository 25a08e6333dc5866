"""Read-only admin views: every write on exceptions goes through the services (and the ledger)."""

from django.contrib import admin

from apps.exceptions.models import Approval, ExceptionMetricSnapshot, ExceptionReminder, ExceptionRequest


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ExceptionRequest)
class ExceptionRequestAdmin(_ReadOnly):
    list_display = ["reference", "control", "system", "tier", "status", "expires_at", "requested_by", "version"]
    list_filter = ["status", "tier"]
    search_fields = ["control__control_id", "system__slug", "justification"]


@admin.register(Approval)
class ApprovalAdmin(_ReadOnly):
    list_display = ["request", "approver", "slot", "decision", "request_version", "at", "voided_at"]


admin.site.register(ExceptionReminder, _ReadOnly)
admin.site.register(ExceptionMetricSnapshot, _ReadOnly)
