from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.accounts.services import user_set_roles


class UserRolesForm(forms.ModelForm):
    roles = forms.MultipleChoiceField(choices=Role.choices, required=False, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = User
        fields = ("username", "first_name", "last_name", "email", "title", "is_active", "is_superuser")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["roles"].initial = sorted(self.instance.roles)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Users; roles are edited as roles (through the service), not as raw groups."""

    form = UserRolesForm
    list_display = ("username", "email", "first_name", "last_name", "is_active", "role_list")
    list_filter = ("is_active", "groups")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "email", "title")}),
        ("Roles", {"fields": ("roles", "is_active", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    readonly_fields = ("last_login", "date_joined")

    @admin.display(description="Roles")
    def role_list(self, obj):
        return ", ".join(obj.role_labels)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if "roles" in form.cleaned_data:
            user_set_roles(user=form.instance, roles=form.cleaned_data["roles"], actor=request.user)
