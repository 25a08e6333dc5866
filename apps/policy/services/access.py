"""Who may write rules and import catalogs."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from apps.accounts.roles import Role

# ---------------------------------------------------------------- who may do what


def can_edit_rules(user) -> bool:
    """Compliance officers and platform admins write rules and import catalogs."""
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_superuser or user.has_role(Role.ADMIN, Role.COMPLIANCE_OFFICER))


def ensure_can_edit_rules(actor) -> None:
    if isinstance(actor, str):  # "system:<command>"
        return
    if not can_edit_rules(actor):
        raise PermissionDenied("Only compliance officers and platform admins change rules and catalogs.")
