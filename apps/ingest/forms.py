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
        help_text="Evidence from this source belongs to this system unless an upload names another.",
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
