"""Read-only admin views of policy data: rules and results change only through their services."""

from django.contrib import admin

from apps.policy.models import ControlResult, Framework, RuleVersion, SystemPolicy


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Framework)
class FrameworkAdmin(ReadOnly):
    list_display = ["code", "title", "version", "origin", "loaded_at"]


@admin.register(RuleVersion)
class RuleVersionAdmin(ReadOnly):
    list_display = ["rule", "version", "mode", "severity", "created_at"]
    list_select_related = ["rule"]


@admin.register(ControlResult)
class ControlResultAdmin(ReadOnly):
    list_display = ["control", "rule", "system", "artifact", "status", "evaluated_at"]
    list_filter = ["status"]
    list_select_related = ["control", "rule", "system", "artifact"]


@admin.register(SystemPolicy)
class SystemPolicyAdmin(admin.ModelAdmin):
    """Per-system rule settings (allowed regions, log retention); the next evaluation reads them."""

    list_display = ["system", "allowed_regions", "log_retention_days", "updated_at"]
