from django import forms

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.inventory.models import DataClass, Environment, FrameworkCode, System


class PersonChoiceField(forms.ModelMultipleChoiceField):
    """People listed by name and title, not by username."""

    def label_from_instance(self, obj):
        return f"{obj.display_name} ({obj.title})" if obj.title else obj.display_name


class SystemForm(forms.ModelForm):
    data_classes = forms.MultipleChoiceField(
        choices=DataClass.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    frameworks = forms.MultipleChoiceField(
        choices=FrameworkCode.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    environments = forms.MultipleChoiceField(
        choices=Environment.Name.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    risk_owners = PersonChoiceField(
        queryset=User.objects.filter(groups__name=Role.RISK_OWNER, is_active=True).distinct(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    engineering_owners = PersonChoiceField(
        queryset=User.objects.filter(groups__name=Role.ENGINEER, is_active=True).distinct(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = System
        fields = ["name", "slug", "kind", "description", "risk_tier", "data_classes", "frameworks"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["environments"].initial = list(self.instance.environments.values_list("name", flat=True))
            self.fields["risk_owners"].initial = list(self.instance.risk_owners.all())
            self.fields["engineering_owners"].initial = list(self.instance.engineering_owners.all())
