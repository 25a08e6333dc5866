from django import forms

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.inventory.models import DataClass, Environment, FrameworkCode, RiskTier, System
from apps.inventory.selectors import SystemFilters, system_framework_choices_for_user


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


class SystemFilterForm(forms.Form):
    """The systems list's filters; the CSV export reads the same query parameters."""

    q = forms.CharField(required=False, max_length=120, label="Name")
    kind = forms.ChoiceField(required=False, choices=[("", "Any"), *System.Kind.choices])
    risk_tier = forms.ChoiceField(required=False, choices=[("", "Any"), *RiskTier.choices], label="Risk tier")
    framework = forms.ChoiceField(required=False, choices=[("", "Any"), *FrameworkCode.choices])

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # The menu offers what the user's systems are in scope for; a code outside it filters to
        # nothing rather than being refused (like a typed URL: the list then says no system matches).
        offered = system_framework_choices_for_user(user=user)
        self.fields["framework"].choices = [("", "Any"), *offered]
        self.fields["framework"].valid_value = lambda value: value in FrameworkCode.values

    def filters(self) -> SystemFilters:
        data = self.cleaned_data
        return SystemFilters(
            q=(data.get("q") or "").strip(),
            kind=data.get("kind") or "",
            risk_tier=data.get("risk_tier") or "",
            framework=data.get("framework") or "",
        )
