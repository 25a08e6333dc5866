"""Django admin: read-mostly views; every write goes through the services (and the ledger)."""

from django.contrib import admin, messages

from apps.ingest.models import Receipt, Source
from apps.ingest.services import InvalidTransition, receipt_reparse, source_disable, source_enable


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "system", "enabled", "token_prefix", "created_at", "rotated_at")
    list_filter = ("kind", "enabled")
    search_fields = ("name",)
    actions = ["disable", "enable"]
    readonly_fields = [f.name for f in Source._meta.fields]
    exclude = ("token_hash", "secret_encrypted")

    def has_add_permission(self, request):
        return False  # created on the Sources page or with create_source: the credentials are shown once there

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Disable selected sources", permissions=["change"])
    def disable(self, request, queryset):
        for source in queryset:
            source_disable(actor=request.user, source_id=source.pk)

    @admin.action(description="Enable selected sources", permissions=["change"])
    def enable(self, request, queryset):
        for source in queryset:
            source_enable(actor=request.user, source_id=source.pk)


@admin.register(Receipt)
class ReceiptAdmin(admin.ModelAdmin):
    list_display = ("id", "source", "channel", "event", "state", "received_at", "attempts", "short_error")
    list_filter = ("state", "channel", "source")
    search_fields = ("sha256", "delivery_key", "filename")
    actions = ["reparse"]
    readonly_fields = [f.name for f in Receipt._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="error")
    def short_error(self, obj):
        return obj.error[:120]

    @admin.action(description="Re-parse selected receipts (failed or parsed)", permissions=["change"])
    def reparse(self, request, queryset):
        done, refused = 0, []
        for receipt in queryset:
            try:
                receipt_reparse(actor=request.user, receipt_id=receipt.pk)
                done += 1
            except InvalidTransition:
                refused.append(str(receipt.pk))
        self.message_user(request, f"{done} receipt(s) queued to be parsed again.", messages.SUCCESS)
        if refused:
            self.message_user(request, f"Not failed or parsed, left alone: {', '.join(refused)}", messages.WARNING)
