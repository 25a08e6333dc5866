from django import forms

from apps.evidence.models import Verdict
from apps.evidence.selectors import EvidenceFilters, filter_sources_for_user, filter_systems_for_user


class _MenuOrAnyField(forms.TypedChoiceField):
    """A menu whose value may also be one that the menu does not offer.

    The menu lists what the user may see; a system or source outside it (typed in a URL, or kept from
    a bookmark) filters to nothing, exactly like one that does not exist, rather than being dropped
    and answering with the unfiltered list."""

    def valid_value(self, value):
        return True


# An engagement's link names each of its systems; a bound keeps the query's IN list small.
MAX_SYSTEMS = 100


class _SystemsField(forms.MultipleChoiceField):
    """The System menu: one or several slugs (`?system=a&system=b`), any of them also outside the menu
    (it then matches nothing, like _MenuOrAnyField)."""

    widget = forms.SelectMultiple(attrs={"size": 3})

    def valid_value(self, value):
        return True

    def validate(self, value):
        super().validate(value)
        if len(value) > MAX_SYSTEMS:
            raise forms.ValidationError(f"At most {MAX_SYSTEMS} systems at once.")


class EvidenceFilterForm(forms.Form):
    """The evidence browser's filters; the API parses the same query parameters with it."""

    system = _SystemsField(required=False)
    kind = forms.CharField(required=False, max_length=40)
    verdict = forms.ChoiceField(required=False, choices=[("", "Any"), *Verdict.choices])
    subject = forms.CharField(required=False, max_length=2048)
    source = _MenuOrAnyField(required=False, coerce=int, empty_value=None)
    artifact = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    control = forms.CharField(required=False, max_length=120, widget=forms.HiddenInput)
    since = forms.DateTimeField(required=False)
    until = forms.DateTimeField(required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # The menus offer only what the user may see (issue 21: an auditor's menus listed the whole
        # organisation): their systems, and the sources that sent evidence they see.
        self.fields["system"].choices = [("", "Any"), *filter_systems_for_user(user=user).values_list("slug", "name")]
        self.fields["source"].choices = [("", "Any"), *filter_sources_for_user(user=user).values_list("id", "name")]

    def filters(self) -> EvidenceFilters:
        data = self.cleaned_data
        until = data.get("until")
        if until is not None and len(str(self.data.get("until", "")).strip()) <= 10:
            until = until.date()  # a bare date includes that whole day
        return EvidenceFilters(
            systems=tuple(dict.fromkeys(slug for slug in data.get("system") or () if slug)),
            kind=data.get("kind") or "",
            verdict=data.get("verdict") or "",
            subject=data.get("subject") or "",
            source=data.get("source"),
            artifact=data.get("artifact"),
            control=(data.get("control") or "").strip(),
            since=data.get("since"),
            until=until,
        )
