"""Parsing of the pack request form (the scope is checked by apps.packs.scope)."""

from __future__ import annotations

from django import forms

from apps.packs.models import ScopeKind


class PackRequestForm(forms.Form):
    """One form for every scope kind; the fields a kind does not use are ignored."""

    kind = forms.ChoiceField(choices=ScopeKind.choices, widget=forms.RadioSelect, initial=ScopeKind.ARTIFACT)
    artifact = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Release or deployment")
    system = forms.ChoiceField(required=False)
    framework = forms.ChoiceField(required=False)
    engagement = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Included.")

    def __init__(self, *args, artifacts=(), systems=(), frameworks=(), engagements=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["artifact"].choices = [("", "—")] + [
            (a.pk, f"{a.get_kind_display()}: {a.name or a.uri}") for a in artifacts
        ]
        self.fields["system"].choices = [("", "—")] + [(s.slug, s.name) for s in systems]
        self.fields["framework"].choices = [("", "—")] + [(f.code, f.title) for f in frameworks]
        self.fields["engagement"].choices = [("", "—")] + [(e.pk, e.name) for e in engagements]

    def scope_params(self) -> dict:
        data = self.cleaned_data
        kind = data["kind"]
        if kind == ScopeKind.ARTIFACT:
            return {"artifact": data.get("artifact")}
        if kind == ScopeKind.SYSTEM:
            return {"system": data.get("system"), "start": data.get("start"), "end": data.get("end")}
        if kind == ScopeKind.FRAMEWORK:
            return {"framework": data.get("framework"), "start": data.get("start"), "end": data.get("end")}
        return {"engagement": data.get("engagement")}
