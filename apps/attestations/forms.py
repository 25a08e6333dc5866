"""HTML input of manual evidence: the upload form and the attestation form on a control's page."""

from __future__ import annotations

from django import forms

from apps.attestations.models import DocumentRequirement, ManualDocument
from apps.inventory.models import System


class DocumentUploadForm(forms.Form):
    requirement = forms.ModelChoiceField(queryset=DocumentRequirement.objects.none(), label="Required document")
    system = forms.ModelChoiceField(queryset=System.objects.none(), label="System it covers")
    title = forms.CharField(max_length=300)
    document_date = forms.DateTimeField(
        required=False, help_text="When it was issued or the activity happened (UTC); empty: now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )  # fmt: skip
    file = forms.FileField()

    def __init__(self, *args, control, systems, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["requirement"].queryset = DocumentRequirement.objects.filter(control=control)
        self.fields["system"].queryset = System.objects.filter(pk__in=[s.pk for s in systems])


class AttestationForm(forms.Form):
    system = forms.ModelChoiceField(queryset=System.objects.none())
    period_start = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    period_end = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    statement = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    documents = forms.ModelMultipleChoiceField(queryset=ManualDocument.objects.none())
    password = forms.CharField(widget=forms.PasswordInput, required=False, help_text="Re-authenticate to attest.")
    otp_token = forms.CharField(required=False, label="Authenticator code (if enrolled)")

    def __init__(self, *args, control, systems, **kwargs):
        super().__init__(*args, **kwargs)
        ids = [s.pk for s in systems]
        self.fields["system"].queryset = System.objects.filter(pk__in=ids)
        self.fields["documents"].queryset = ManualDocument.objects.filter(
            requirement__control=control, system_id__in=ids, status=ManualDocument.Status.APPROVED
        )
