"""Slots of an approval chain and who may fill them, for any client of the engine.

- `system_risk_owner`: the risk owner role AND listed as a risk owner of the system;
- `compliance_officer`: the compliance officer role;
- `executive`: a member of the EXECUTIVE_GROUP group (the "designated executive").

`place_for()` picks the place an approver fills so the chain stays completable
(matching.py), and refuses a chosen place that would make it impossible, naming who could
still complete it. `chain_blockers()` says which places nobody eligible remains for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.core.exceptions import PermissionDenied
from django.db import models

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.accounts.scoping import is_read_only
from apps.approvals import matching

EXECUTIVE_GROUP = "exception_executive"


class Slot(models.TextChoices):
    """A place in an approval chain and who may fill it."""

    SYSTEM_RISK_OWNER = "system_risk_owner", "Risk owner of the system"
    COMPLIANCE_OFFICER = "compliance_officer", "Compliance officer"
    EXECUTIVE = "executive", "Designated executive"


def is_executive(user) -> bool:
    """Designated executives: members of the EXECUTIVE_GROUP group (see `manage.py exception_executive`)."""
    if not getattr(user, "is_authenticated", False):
        return False
    cache = user.__dict__.setdefault("_exception_exec", {})
    if "v" not in cache:
        cache["v"] = user.groups.filter(name=EXECUTIVE_GROUP).exists()
    return cache["v"]


def can_use_inbox(user) -> bool:
    """Risk owners, compliance officers and designated executives have an approval inbox."""

    if not getattr(user, "is_authenticated", False) or is_read_only(user):
        return False
    return user.has_role(Role.RISK_OWNER, Role.COMPLIANCE_OFFICER) or is_executive(user)


def holds_slot(user, slot: str, system) -> bool:
    """Whether the user holds what `slot` requires for this system (not yet whether they may use it)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if slot == Slot.SYSTEM_RISK_OWNER:
        return user.has_role(Role.RISK_OWNER) and system.risk_owners.filter(pk=user.pk).exists()
    if slot == Slot.COMPLIANCE_OFFICER:
        return user.has_role(Role.COMPLIANCE_OFFICER)
    if slot == Slot.EXECUTIVE:
        return is_executive(user)
    return False


def slot_candidates(slot: str, system, *, exclude=()):
    """Users who could fill a slot for this system (active, holding the role)."""

    qs = User.objects.filter(is_active=True).exclude(pk__in=list(exclude))
    if slot == Slot.SYSTEM_RISK_OWNER:
        qs = qs.filter(groups__name=Role.RISK_OWNER, risk_owned_systems=system)
    elif slot == Slot.COMPLIANCE_OFFICER:
        qs = qs.filter(groups__name=Role.COMPLIANCE_OFFICER)
    elif slot == Slot.EXECUTIVE:
        qs = qs.filter(groups__name=EXECUTIVE_GROUP)
    else:
        return qs.none()
    return qs.distinct().order_by("username")


def remaining_holders(open_counts: Mapping[str, int], system, *, barred: Iterable[int], is_barred=None) -> dict:
    """Who could still fill each open slot: {slot: {user id: user}}, without anyone barred
    (the requester, whoever already decided) or for whom `is_barred(user)` is true (authors)."""
    barred = list(barred)
    out = {}
    for slot, n in open_counts.items():
        if n <= 0:
            continue
        users = [u for u in slot_candidates(slot, system, exclude=barred) if not (is_barred and is_barred(u))]
        out[slot] = {u.pk: u for u in users}
    return out


def _label(slot: str) -> str:
    return Slot(slot).label.lower()


def _names(users: Iterable) -> str:
    names = sorted(u.get_username() for u in users)
    return ", ".join(names) if names else "nobody"


def place_for(
    user, *, open_counts: Mapping[str, int], user_slots: list[str], system, barred: Iterable[int], is_barred=None,
    wanted: str | None = None, what: str = "this request",
) -> str:  # fmt: skip
    """The slot `user` fills: one that keeps the chain completable (or `wanted`, unless it would make
    the chain impossible: PermissionDenied naming who could still complete it)."""
    holders = remaining_holders(open_counts, system, barred=barred, is_barred=is_barred)
    choice = matching.slot_choice(
        open_counts=open_counts,
        holders={s: set(by) for s, by in holders.items()},
        approver=user.pk,
        approver_slots=user_slots,
        wanted=wanted,
    )
    if choice.slot is None:
        if wanted:
            raise PermissionDenied(
                f"You cannot fill the {_label(wanted)} place of {what}: it is filled or not yours; "
                f"yours: {', '.join(_label(s) for s in user_slots if open_counts.get(s, 0) > 0) or 'none open'}."
            )
        raise PermissionDenied(f"Every place you could fill on {what} is already filled by someone else.")
    if choice.completable_before and choice.slot not in choice.keeps_completable:
        left = {s: n for s, n in matching.without_one(open_counts, choice.slot).items() if n > 0}
        others = {s: {pk: u for pk, u in by.items() if pk != user.pk} for s, by in holders.items()}
        short = [s for s in left if len(others.get(s, {})) < left[s]] or list(left)
        detail = "; ".join(
            f"{'nobody else' if not others.get(s) else 'only ' + _names(others[s].values())} can fill "
            f"{_label(s)}"
            for s in short
        )
        instead = ", ".join(_label(s) for s in choice.keeps_completable)
        raise PermissionDenied(
            f"Taking the {_label(choice.slot)} place would make {what} impossible to complete ({detail}). "
            f"Decide as {instead} instead: then it can still be completed."
        )
    return choice.slot


def chain_blockers(open_counts: Mapping[str, int], system, *, barred: Iterable[int], is_barred=None) -> str:
    """Why nobody eligible remains to complete a chain ('' when it can still complete)."""
    holders = remaining_holders(open_counts, system, barred=barred, is_barred=is_barred)
    slots = matching.unfillable(open_counts, {s: set(by) for s, by in holders.items()})
    if not slots:
        return ""
    parts = []
    for s in slots:
        who = holders.get(s, {}).values()
        parts.append(f"{open_counts[s]} × {_label(s)} still needed, eligible: {_names(who)}")
    return "Nobody eligible remains to complete the chain: " + "; ".join(parts) + "."
