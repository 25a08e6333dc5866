"""Writes on users and roles. Every change of someone's roles goes through here."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.roles import ROLE_PERMISSIONS, Role
from apps.ledger.services import ledger_record


def roles_sync() -> None:
    """Create the role groups and give each exactly the permissions of ROLE_PERMISSIONS."""
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=str(role))
        if perms == ["*"]:
            wanted = list(Permission.objects.all())
        else:
            wanted = []
            for perm in perms:
                app_label, codename = perm.split(".", 1)
                found = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
                wanted.extend(found)
        group.permissions.set(wanted)


def _check_roles(roles: Iterable[str]) -> list[str]:
    roles = list(dict.fromkeys(roles))
    unknown = [role for role in roles if role not in Role.values]
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; use {', '.join(Role.values)}")
    return roles


@transaction.atomic
def user_set_roles(*, user: User, roles: Iterable[str], actor: User | None = None) -> User:
    """Replace a user's roles. Platform admins get access to the Django admin."""
    roles = _check_roles(roles)
    user = User.objects.select_for_update().get(pk=user.pk)
    before = sorted(user.roles)
    role_groups = Group.objects.filter(name__in=Role.values)
    user.groups.remove(*role_groups)
    user.groups.add(*Group.objects.filter(name__in=roles))
    is_staff = Role.ADMIN in roles or user.is_superuser
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
    user.__dict__.pop("roles", None)
    if before != sorted(roles):
        ledger_record(
            actor=actor or "system:accounts", action="user.roles_changed", target=user,
            data={"username": user.username, "before": before, "after": sorted(roles)},
        )
    return user


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str | None,
    roles: Iterable[str] = (),
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    title: str = "",
    actor: User | None = None,
) -> User:
    """Create a user with the given roles (password None: the user cannot log in)."""
    roles = _check_roles(roles)
    user = User(username=username, email=email, first_name=first_name, last_name=last_name, title=title)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    ledger_record(actor=actor or "system:accounts", action="user.created", target=user,
                  data={"username": username})
    return user_set_roles(user=user, roles=roles, actor=actor)


def sessions_clear() -> int:
    """Remove expired sessions; returns how many were removed."""

    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
