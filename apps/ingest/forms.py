from django import forms

from apps.ingest.models import Receipt, Source
from apps.inventory.models import System


class SourceForm(forms.Form):
    kind = forms.ChoiceField(choices=Source.Kind.choices)
    name = forms.CharField(max_length=120, help_text="Unique, e.g. 'github payments-api'.")
    system = forms.ModelChoiceField(
        queryset=System.objects.order_by("name"),
        required=False,
        to_field_name="slug",
        help_text="A bound source writes evidence only about this system's subjects (others get 403); "
        "leave empty for a shared source, whose evidence counts only for systems an admin allows it for.",
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if Source.objects.filter(name=name).exists():
            raise forms.ValidationError("A source with this name exists already.")
        return name


class ReceiptFilterForm(forms.Form):
    state = forms.ChoiceField(required=False, choices=[("", "Any"), *Receipt.State.choices])
    source = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    recognised = forms.ChoiceField(
        required=False, choices=[("", "Any"), ("no", "Not recognised (kept as generic evidence)")]
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [("", "Any"), *Source.objects.order_by("name").values_list("id", "name")]


class SourceAllowanceForm(forms.Form):
    """Allow an unbound source to speak for a system, or withdraw that (apps.ingest.binding)."""

    system = forms.ModelChoiceField(queryset=System.objects.order_by("name"), to_field_name="slug")
    allow = forms.TypedChoiceField(choices=[("true", "allow"), ("false", "withdraw")], coerce=lambda v: v == "true")
    reason = forms.CharField(max_length=500, required=False)
