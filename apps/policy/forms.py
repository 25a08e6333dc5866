"""HTML input parsing for the policy pages: the rule editor, the as-of picker, catalog import."""

from __future__ import annotations

from django import forms

from apps.policy.rulesets import SELECTOR_FIELDS

SELECTOR_HELP = {
    "artifact_kinds": (
        "commit, image, package, model-version, release, deployment (empty: judge each system as a whole)"
    ),
    "environments": "dev, staging, prod",
    "tiers": "low, medium, high, critical",
    "data_classes": "phi, pii, financial, cardholder, credentials, model_output, public (any overlap)",
    "frameworks": "hipaa, gdpr, soc2, eu-ai-act, sr-11-7 (any overlap)",
    "system_kinds": "service, ml_model, data_platform",
}


def _names(text: str) -> list[str]:
    return [part.strip() for part in (text or "").replace("\n", ",").split(",") if part.strip()]


class AsOfForm(forms.Form):
    """?as_of=YYYY-MM-DD: show the state at the end of that day."""

    as_of = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="As of")

    def day(self):
        return self.cleaned_data.get("as_of") if self.is_valid() else None


class RuleForm(forms.Form):
    """The rule editor. Validation of the expression and selector happens in rule_spec_from_form()."""

    key = forms.SlugField(max_length=80, help_text="Stable identity: a-z, 0-9 and -.")
    title = forms.CharField(max_length=300)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    controls = forms.CharField(help_text="Control ids, comma separated (e.g. hipaa-164-312-a-2-iv, soc2-cc6-1).")
    requires = forms.CharField(
        required=False, help_text="Evidence kinds that must exist, else the result is 'missing' (e.g. sast-scan)."
    )
    expression = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "code"}),
        help_text="A CEL expression over the fact model; true passes.",
    )
    message = forms.CharField(
        required=False,
        max_length=500,
        help_text=(
            "What a person reads when it fails, facts filled in: e.g. "
            "{evidence.sast_scan.summary.by_level.error} error-level findings; at most 0 allowed. "
            "|count gives a list's size, |days whole days."
        ),
    )
    severity = forms.ChoiceField(choices=[(s, s) for s in ("low", "medium", "high", "critical")])
    mode = forms.ChoiceField(choices=[("gate", "Hard gate (blocks releases)"), ("warn", "Warning")])
    note = forms.CharField(required=False, max_length=500, help_text="Why it changes (kept with the version).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in SELECTOR_FIELDS:
            self.fields[f"sel_{name}"] = forms.CharField(
                required=False, label=name.replace("_", " ").capitalize(), help_text=SELECTOR_HELP.get(name, "")
            )

    @classmethod
    def initial_for(cls, version) -> dict:
        data = version.as_rule_dict()
        initial = {
            "key": data["key"],
            "title": data["title"],
            "description": data["description"],
            "controls": ", ".join(data["controls"]),
            "requires": ", ".join(data["requires"]),
            "expression": data["expression"],
            "severity": data["severity"],
            "mode": data["mode"],
            "message": data.get("message", ""),
        }
        for name, values in (data["selector"] or {}).items():
            initial[f"sel_{name}"] = ", ".join(values)
        return initial

    def rule_data(self) -> dict:
        """The fields as rule_from_dict() takes them (without the key)."""
        data = self.cleaned_data
        selector = {name: _names(data.get(f"sel_{name}", "")) for name in SELECTOR_FIELDS}
        return {
            "title": data.get("title", ""),
            "description": data.get("description", ""),
            "controls": _names(data.get("controls", "")),
            "requires": _names(data.get("requires", "")),
            "expression": data.get("expression", ""),
            "selector": {k: v for k, v in selector.items() if v},
            "severity": data.get("severity"),
            "mode": data.get("mode"),
            "message": data.get("message", ""),
        }


class CatalogImportForm(forms.Form):
    file = forms.FileField(help_text="An OSCAL catalog in JSON (NIST OSCAL 1.1).")
    code = forms.SlugField(required=False, max_length=60, help_text="Framework code; taken from the catalog if empty.")
