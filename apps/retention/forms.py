from django import forms

from apps.inventory.models import System
from apps.retention.models import LegalHold
from apps.retention.policy import retention_policy


class LegalHoldForm(forms.Form):
    scope = forms.ChoiceField(choices=LegalHold.Scope.choices, widget=forms.RadioSelect)
    system = forms.ModelChoiceField(
        queryset=System.objects.order_by("name"),
        required=False,
        help_text="Required for a system hold; narrows a period hold to one system.",
    )
    period_start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                                   help_text="Evidence effective from this day (UTC).")
    period_end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text="…until the end of this day.")
    evidence_ids = forms.CharField(required=False, help_text="Evidence ids, separated by commas or spaces.")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        help_text="The matter, the request or order, who asked.",
    )

    def clean_evidence_ids(self):
        raw = self.cleaned_data["evidence_ids"].replace(",", " ").split()
        try:
            return [int(x) for x in raw]
        except ValueError:
            raise forms.ValidationError("Use whole numbers (evidence ids).") from None


class ReleaseHoldForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=4000, label="Why release it")


class DataPolicyForm(forms.Form):
    redaction_rules = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=lambda: [(r.name, f"{r.name}: {r.description}") for r in retention_policy().redaction.values()],
    )
