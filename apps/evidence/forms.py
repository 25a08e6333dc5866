from django import forms

from apps.evidence.models import Verdict
from apps.evidence.selectors import EvidenceFilters
from apps.ingest.models import Source
from apps.inventory.models import System


class EvidenceFilterForm(forms.Form):
    """The evidence browser's filters; the API parses the same query parameters with it."""

    system = forms.ChoiceField(required=False)
    kind = forms.CharField(required=False, max_length=40)
    verdict = forms.ChoiceField(required=False, choices=[("", "Any"), *Verdict.choices])
    subject = forms.CharField(required=False, max_length=2048)
    source = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    artifact = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    since = forms.DateTimeField(required=False)
    until = forms.DateTimeField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system"].choices = [("", "Any"), *System.objects.order_by("name").values_list("slug", "name")]
        self.fields["source"].choices = [("", "Any"), *Source.objects.order_by("name").values_list("id", "name")]

    def filters(self) -> EvidenceFilters:
        data = self.cleaned_data
        until = data.get("until")
        if until is not None and len(str(self.data.get("until", "")).strip()) <= 10:
            until = until.date()  # a bare date includes that whole day
        return EvidenceFilters(
            system=data.get("system") or "",
            kind=data.get("kind") or "",
            verdict=data.get("verdict") or "",
            subject=data.get("subject") or "",
            source=data.get("source"),
            artifact=data.get("artifact"),
            since=data.get("since"),
            until=until,
        )
