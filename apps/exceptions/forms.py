"""HTML input parsing for exception pages; the rules themselves live in services.exception_validate."""

from __future__ import annotations

from django import forms

from apps.approvals.expiry import end_of_day, expiry_day  # noqa: F401  (end_of_day re-exported)
from apps.exceptions.models import ExceptionRequest
from apps.exceptions.selectors import ExceptionFilters
from apps.exceptions.services import ExceptionInput
from apps.exceptions.tiers import Tier, tier_policy


class EvidencePicker(forms.SelectMultiple):
    """A `<select multiple>` of evidence grouped by system; each option names its system (`data-system`) so
    that exceptions/evidence-picker.js shows only the chosen system's evidence (no inline script: CSP)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.system_of: dict[str, str] = {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex=subindex, attrs=attrs)
        option["attrs"]["data-system"] = self.system_of.get(str(value), "")
        return option


class EvidenceIdsField(forms.TypedMultipleChoiceField):
    """Evidence ids picked from the offered options ("12, 15" typed in one value is read too).

    The options are what the picker shows; whether an id may be cited (the system's evidence, visible to the
    user) is exception_validate()'s check, whose refusal the page shows as this field's error."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", EvidencePicker(attrs={"size": 8, "data-evidence-picker": "system"}))
        super().__init__(coerce=int, required=False, **kwargs)

    def to_python(self, value):
        return [part for v in super().to_python(value) for part in v.replace(",", " ").split()]

    def valid_value(self, value) -> bool:
        return str(value).isdigit()


class ExceptionRequestForm(forms.Form):
    """The fields of a request; likelihood and impact are picked from the matrix's labels."""

    system = forms.ChoiceField(label="System")
    # Searchable pickers: the template renders the <datalist>s these inputs name (exception_picker_options).
    control = forms.CharField(
        label="Control",
        max_length=100,
        help_text="Type to search by id or title, e.g. gdpr-35-1.",
        widget=forms.TextInput(attrs={"list": "control-options", "autocomplete": "off"}),
    )
    artifact = forms.IntegerField(
        label="Narrow to artifact",
        required=False,
        min_value=1,
        help_text="Optional: type to search the system's releases and artifacts; empty covers the whole system.",
        widget=forms.NumberInput(attrs={"list": "artifact-options", "autocomplete": "off"}),
    )
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), help_text="Why the business accepts this risk."
    )
    compensating_controls = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="What reduces the risk until the control passes."
    )
    likelihood = forms.TypedChoiceField(coerce=int)
    impact = forms.TypedChoiceField(coerce=int)
    expires_on = forms.DateField(
        label="Expires on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The exception ends at the end of this day (UTC).",
    )
    evidence_ids = EvidenceIdsField(
        label="Supporting evidence",
        help_text="Optional: the system's evidence that supports the request (hold Ctrl or Cmd to pick several).",
    )

    def __init__(self, *args, systems=(), evidence=(), **kwargs):
        """`evidence`: the EvidenceOptions the picker offers (selectors.exception_evidence_options)."""
        super().__init__(*args, **kwargs)
        policy = tier_policy()
        self.fields["system"].choices = [("", "Choose a system")] + [(s.slug, s.name) for s in systems]
        groups: dict[str, list[tuple[int, str]]] = {}
        for option in evidence:
            groups.setdefault(option.system_name, []).append((option.pk, option.label))
        self.fields["evidence_ids"].choices = list(groups.items())
        self.fields["evidence_ids"].widget.system_of = {str(o.pk): o.system_slug for o in evidence}
        self.fields["likelihood"].choices = [("", "Choose…")] + [
            (i, f"{i} · {label}") for i, label in enumerate(policy.likelihood, 1)
        ]
        self.fields["impact"].choices = [("", "Choose…")] + [
            (i, f"{i} · {label}") for i, label in enumerate(policy.impact, 1)
        ]

    def to_input(self) -> ExceptionInput:
        d = self.cleaned_data
        return ExceptionInput(
            control=d["control"],
            system=d["system"],
            artifact=d.get("artifact"),
            justification=d["justification"],
            compensating_controls=d["compensating_controls"],
            likelihood=d["likelihood"],
            impact=d["impact"],
            expires_at=end_of_day(d["expires_on"]),
            evidence_ids=d.get("evidence_ids") or [],
        )

    @staticmethod
    def initial_from(req: ExceptionRequest) -> dict:
        return {
            "system": req.system.slug,
            "control": req.control.control_id,
            "artifact": req.artifact_id,
            "justification": req.justification,
            "compensating_controls": req.compensating_controls,
            "likelihood": req.likelihood,
            "impact": req.impact,
            "expires_on": expiry_day(req.expires_at),
            "evidence_ids": list(req.evidence_ids),
        }


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000)
    digest = forms.CharField(widget=forms.HiddenInput, help_text="The digest of the version shown.")


class RevokeForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)


class RenewForm(forms.Form):
    expires_on = forms.DateField(label="New expiry", widget=forms.DateInput(attrs={"type": "date"}))


class ExceptionFilterForm(forms.Form):
    system = forms.CharField(required=False)
    control = forms.CharField(required=False)
    tier = forms.ChoiceField(required=False, choices=[("", "Any")] + list(Tier.choices))
    status = forms.ChoiceField(required=False, choices=[("", "Any")] + list(ExceptionRequest.Status.choices))
    expiring_within = forms.IntegerField(required=False, min_value=0, max_value=3660, label="Expiring within (days)")
    mine = forms.BooleanField(required=False)

    def filters(self) -> ExceptionFilters:
        d = self.cleaned_data
        return ExceptionFilters(
            system=d.get("system") or "",
            control=d.get("control") or "",
            tier=d.get("tier") or "",
            status=d.get("status") or "",
            expiring_within=d.get("expiring_within"),
            requested_by_me=bool(d.get("mine")),
        )
