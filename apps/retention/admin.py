from django.contrib import admin

from apps.retention.models import DataPolicy, Disposal, IdentifierFlag, LegalHold, ReceiptRedaction


class _ReadOnly(admin.ModelAdmin):
    """Read-only: retention rows change only through apps.retention.services (ledger entries)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.register(DataPolicy, _ReadOnly)
admin.site.register(ReceiptRedaction, _ReadOnly)
admin.site.register(IdentifierFlag, _ReadOnly)
admin.site.register(LegalHold, _ReadOnly)
admin.site.register(Disposal, _ReadOnly)
