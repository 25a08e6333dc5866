"""Approval chains and separation of duties: who may fill which slot of which request.

The rules, all checked on the server for every decision (services call `ensure_can_decide`):

- the requester never approves or rejects their own request;
- one person never fills two slots of a chain (and decides at most once per version);
- a slot is filled only by someone who holds what it requires FOR THAT SYSTEM:
  `system_risk_owner` = the risk owner role AND listed as a risk owner of the request's system;
  `compliance_officer` = the compliance officer role;
  `executive` = a member of the EXECUTIVE_GROUP group (the "designated executive");
- the person must be able to see the system at all (apps.accounts.scoping).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from apps.accounts.roles import Role
from apps.accounts.scoping import can_see_system, is_read_only
from apps.exceptions.tiers import Slot, tier_policy

EXECUTIVE_GROUP = "exception_executive"


def is_executive(user) -> bool:
    """Designated executives: members of the EXECUTIVE_GROUP group (see `manage.py exception_executive`)."""
    if not getattr(user, "is_authenticated", False):
        return False
    cache = user.__dict__.setdefault("_exception_exec", {})
    if "v" not in cache:
        cache["v"] = user.groups.filter(name=EXECUTIVE_GROUP).exists()
    return cache["v"]


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


def chain_for(req) -> tuple[str, ...]:
    """The slots the request's tier requires, in order."""
    return tier_policy().rule(req.tier).chain


def live_approvals(req) -> list:
    """Approvals that count: not voided, of the current version and digest, decision approve."""
    from apps.exceptions.models import Approval

    digest = req.digest()
    return [
        a
        for a in req.approvals.filter(voided_at__isnull=True, decision=Approval.Decision.APPROVE)
        if a.request_version == req.version and a.request_digest == digest
    ]


@dataclass(frozen=True)
class SlotState:
    slot: str
    label: str
    approval: object | None  # the Approval filling it, if any
    candidates: tuple  # users who could fill it (for the preview and the inbox), requester excluded


def chain_state(req, *, with_candidates: bool = False) -> list[SlotState]:
    """Each slot of the request's chain and the live approval filling it (if any)."""
    filled = {a.slot: a for a in live_approvals(req)}
    out = []
    for slot in chain_for(req):
        cands = tuple(slot_candidates(slot, req.system, exclude=[req.requested_by_id])) if with_candidates else ()
        out.append(SlotState(slot=slot, label=Slot(slot).label, approval=filled.get(slot), candidates=cands))
    return out


def approval_chain_complete(req) -> bool:
    """Every slot filled by a distinct, live approval of this exact version (and nobody is the requester)."""
    approvals = live_approvals(req)
    by_slot = {a.slot: a for a in approvals}
    people = [a.approver_id for a in approvals]
    if len(set(people)) != len(people) or req.requested_by_id in people:
        return False  # belt and braces: the services and constraints already refuse both
    return all(slot in by_slot for slot in chain_for(req))


def slot_candidates(slot: str, system, *, exclude=()):
    """Users who could fill a slot for this system (active, holding the role), for display."""
    from apps.accounts.models import User

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


def open_slots_for(user, req) -> list[str]:
    """Slots of the chain this user could fill now (empty when separation of duties forbids any)."""
    if not getattr(user, "is_authenticated", False) or user.pk == req.requested_by_id:
        return []
    live = live_approvals(req)
    if any(a.approver_id == user.pk for a in live):
        return []
    taken = {a.slot for a in live}
    return [s for s in chain_for(req) if s not in taken and holds_slot(user, s, req.system)]


def ensure_can_decide(user, req, *, decision: str) -> str:
    """The slot the user decides in; PermissionDenied saying which rule forbids it otherwise."""
    from apps.exceptions.models import Approval

    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied("Sign in to decide on exceptions.")
    if is_read_only(user) or not can_see_system(user, req.system_id):
        raise PermissionDenied("You cannot decide on exceptions of this system.")
    if user.pk == req.requested_by_id:
        raise PermissionDenied("Separation of duties: the requester cannot approve or reject their own request.")
    chain = chain_for(req)
    if not any(holds_slot(user, s, req.system) for s in chain):
        needed = ", ".join(Slot(s).label.lower() for s in chain)
        raise PermissionDenied(
            f"This {req.tier}-tier exception needs approval by: {needed}. You hold none of these for {req.system.name}."
        )
    live = req.approvals.filter(voided_at__isnull=True)
    if live.filter(approver_id=user.pk).exists():
        raise PermissionDenied(
            "Separation of duties: you have already decided on this request; one person fills one slot."
        )
    slots = open_slots_for(user, req)
    if decision == Approval.Decision.REJECT:
        # A rejection needs standing in the chain, not a free slot.
        return slots[0] if slots else next(s for s in chain if holds_slot(user, s, req.system))
    if not slots:
        raise PermissionDenied("Every slot you could fill on this request is already filled by someone else.")
    return slots[0]
