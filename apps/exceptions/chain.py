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

from apps.accounts.scoping import can_see_system, is_read_only
from apps.approvals.slots import (  # noqa: F401  (EXECUTIVE_GROUP, is_executive: the engine's, re-exported)
    EXECUTIVE_GROUP,
    Slot,
    chain_blockers,
    holds_slot,
    is_executive,
    place_for,
    slot_candidates,
)
from apps.exceptions.models import Approval
from apps.exceptions.tiers import tier_policy


def chain_for(req) -> tuple[str, ...]:
    """The slots the request's tier requires, in order."""
    return tier_policy().rule(req.tier).chain


def live_approvals(req) -> list:
    """Approvals that count: not voided, of the current version and digest, decision approve."""

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


def open_slots_for(user, req) -> list[str]:
    """Slots of the chain this user could fill now (empty when separation of duties forbids any)."""
    if not getattr(user, "is_authenticated", False) or user.pk == req.requested_by_id:
        return []
    live = live_approvals(req)
    if any(a.approver_id == user.pk for a in live):
        return []
    taken = {a.slot for a in live}
    return [s for s in chain_for(req) if s not in taken and holds_slot(user, s, req.system)]


def ensure_can_decide(user, req, *, decision: str, slot: str | None = None) -> str:
    """The slot the user decides in; PermissionDenied saying which rule forbids it otherwise.

    Among the open slots the user could fill, the one that keeps the chain completable (or
    `slot`, when they chose it and it does not make the chain impossible)."""

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
    taken = {a.slot for a in live_approvals(req)}
    return place_for(
        user,
        open_counts={s: 0 if s in taken else 1 for s in chain},
        user_slots=slots,
        system=req.system,
        barred=[req.requested_by_id, *live.values_list("approver_id", flat=True)],
        wanted=slot,
        what=req.reference,
    )


def chain_stuck_reason(req) -> str:
    """Why nobody eligible remains to complete this pending request's chain ('' when someone does)."""

    taken = {a.slot for a in live_approvals(req)}
    decided = req.approvals.filter(voided_at__isnull=True).values_list("approver_id", flat=True)
    return chain_blockers(
        {s: 0 if s in taken else 1 for s in chain_for(req)}, req.system, barred=[req.requested_by_id, *decided]
    )
