"""Django admin: read-mostly views; every write goes through the services (and the ledger)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect

from apps.common.states import InvalidTransition
from apps.ingest.models import Receipt, Source, TrustedKey
from apps.ingest.services import receipt_reparse, source_disable, source_enable
from apps.ingest.trust import TrustedKeyError, trusted_key_add, trusted_key_revoke


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


class TrustedKeyAddForm(forms.ModelForm):
    """Add a trusted key: the form only parses; trusted_key_add validates, saves and records."""

    class Meta:
        model = TrustedKey
        fields = ["name", "system", "source", "public_key_pem", "keyid", "issuer", "identity"]


@admin.register(TrustedKey)
class TrustedKeyAdmin(admin.ModelAdmin):
    """Trusted keys: add through trusted_key_add, revoke through trusted_key_revoke; no edits (each is ledgered)."""

    list_display = ("name", "kind", "system", "source", "algorithm", "short_fingerprint", "created_at", "revoked_at")
    list_filter = ("kind", "algorithm", "system")
    search_fields = ("name", "fingerprint", "keyid", "identity")
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TrustedKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else [f.name for f in TrustedKey._meta.fields]

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: what was trusted when stays on record

    @admin.display(description="fingerprint")
    def short_fingerprint(self, obj):
        return obj.fingerprint[:16]

    def save_model(self, request, obj, form, change):
        if change:
            return  # every field is read-only once added
        data = form.cleaned_data
        try:
            key = trusted_key_add(
                actor=request.user,
                name=data["name"],
                system=data.get("system"),
                source=data.get("source"),
                public_key_pem=data.get("public_key_pem") or "",
                keyid=data.get("keyid") or "",
                issuer=data.get("issuer") or "",
                identity=data.get("identity") or "",
            )
        except TrustedKeyError as exc:
            raise ValidationError(str(exc)) from None
        obj.pk = key.pk
        obj.refresh_from_db()

    def _changeform_view(self, request, object_id, form_url, extra_context):
        try:
            return super()._changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(request.path)

    @admin.action(description="Revoke selected trusted keys", permissions=["change"])
    def revoke(self, request, queryset):
        done = 0
        for key in queryset.filter(revoked_at__isnull=True):
            trusted_key_revoke(actor=request.user, key_id=key.pk, reason=f"revoked in the admin by {request.user}")
            done += 1
        self.message_user(request, f"{done} trusted key(s) revoked.", messages.SUCCESS)
