from django import forms

from apps.releases.policy import release_policy


def _class_choices():
    return release_policy().choices()


class ClassifyForm(forms.Form):
    """An owner sets (or changes) a release's change class."""

    subject = forms.CharField(
        max_length=1000,
        required=False,
        help_text="Artifact id or identity, e.g. git+https://github.com/org/repo@v1.2.0 or mlflow://model/7.",
    )
    change_class = forms.ChoiceField(choices=_class_choices, label="Change class")
    environment = forms.CharField(max_length=20, required=False, help_text="Empty: production.")
    reason = forms.CharField(
        max_length=2000,
        required=False,
        help_text="Required to lower the class (compliance officers who are not authors).",
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Sign off"), ("reject", "Reject")])
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000)
    digest = forms.CharField(widget=forms.HiddenInput, max_length=64)
