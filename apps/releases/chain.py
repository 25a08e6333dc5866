"""Release sign-off chains: N of M per slot, separation of duties, on the approval engine's rules.

From the approval engine (apps.approvals.slots): what each slot requires for a system
(`holds_slot`), who could fill it (`slot_candidates`), the place that keeps the chain
completable (`place_for`). Added here, because
exception chains have one person per slot: a step may need `count` different people
(two risk owners of the system), and the release's AUTHORS (as the evidence names them) are
refused as well as whoever requested the sign-off.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied

from apps.accounts.scoping import can_see_system, is_read_only
from apps.approvals.slots import Slot, chain_blockers, holds_slot, place_for, slot_candidates
from apps.releases.models import SignoffDecision
from apps.releases.policy import Step, release_policy


def chain_for(signoff) -> tuple[Step, ...]:
    cls = release_policy().classes.get(signoff.change_class)
    return cls.chain_for(signoff.system.risk_tier) if cls else ()


def is_author(user, signoff) -> bool:
    """The user made the change: their username or e-mail address is among the release's authors."""
    names = {a.strip().lower() for a in signoff.authors if a.strip()}
    mine = {user.get_username().lower()}
    if user.email:
        mine.add(user.email.lower())
    return bool(names & mine)


def live_approvals(signoff) -> list:
    """Approvals that count: not voided, of the current version and digest."""

    digest = signoff.digest()
    return [
        d
        for d in signoff.decisions.filter(voided_at__isnull=True, decision=SignoffDecision.Decision.APPROVE).order_by(
            "at", "id"
        )
        if d.signoff_version == signoff.version and d.signoff_digest == digest
    ]


@dataclass(frozen=True)
class StepState:
    step: Step
    approvals: tuple  # SignoffDecisions filling it
    candidates: tuple = ()

    @property
    def remaining(self) -> int:
        return max(0, self.step.count - len(self.approvals))


def chain_state(signoff, *, with_candidates: bool = False) -> list[StepState]:
    approvals = live_approvals(signoff)
    out = []
    for step in chain_for(signoff):
        filled = tuple(a for a in approvals if a.slot == step.slot)
        cands = ()
        if with_candidates:
            exclude = [signoff.requested_by_id] if signoff.requested_by_id else []
            cands = tuple(
                u for u in slot_candidates(step.slot, signoff.system, exclude=exclude) if not is_author(u, signoff)
            )
        out.append(StepState(step=step, approvals=filled, candidates=cands))
    return out


def chain_complete(signoff) -> bool:
    """Every step has `count` distinct live approvals, none by an author or the requester."""
    approvals = live_approvals(signoff)
    people = [a.approver_id for a in approvals]
    if len(set(people)) != len(people) or (signoff.requested_by_id and signoff.requested_by_id in people):
        return False
    if any(is_author(a.approver, signoff) for a in approvals):
        return False
    return all(s.remaining == 0 for s in chain_state(signoff))


def open_slots_for(user, signoff) -> list[str]:
    """Slots this user could fill now (empty when separation of duties forbids any)."""
    if not getattr(user, "is_authenticated", False) or user.pk == signoff.requested_by_id or is_author(user, signoff):
        return []
    if any(a.approver_id == user.pk for a in live_approvals(signoff)):
        return []
    return [s.step.slot for s in chain_state(signoff) if s.remaining and holds_slot(user, s.step.slot, signoff.system)]


def _barred(signoff) -> list:
    decided = signoff.decisions.filter(voided_at__isnull=True).values_list("approver_id", flat=True)
    return [pk for pk in [signoff.requested_by_id, *decided] if pk]


def chain_stuck_reason(signoff) -> str:
    """Why nobody eligible remains to complete this pending sign-off ('' when someone does)."""
    return chain_blockers(
        {st.step.slot: st.remaining for st in chain_state(signoff)},
        signoff.system,
        barred=_barred(signoff),
        is_barred=lambda u: is_author(u, signoff),
    )


def ensure_can_decide(user, signoff, *, decision: str, slot: str | None = None) -> str:
    """The slot the user decides in; PermissionDenied naming the rule that forbids it otherwise."""
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied("Sign in to sign releases off.")
    if is_read_only(user) or not can_see_system(user, signoff.system_id):
        raise PermissionDenied("You cannot sign off releases of this system.")
    if is_author(user, signoff):
        raise PermissionDenied("Separation of duties: the release's author never signs it off.")
    if signoff.requested_by_id and user.pk == signoff.requested_by_id:
        raise PermissionDenied("Separation of duties: whoever requested the sign-off cannot give it.")
    chain = chain_for(signoff)
    if not any(holds_slot(user, s.slot, signoff.system) for s in chain):
        needed = ", ".join(f"{s.count} × {Slot(s.slot).label.lower()}" for s in chain) or "nobody"
        raise PermissionDenied(
            f"This {signoff.change_class} release of {signoff.system.name} needs sign-off by: {needed}. "
            "You hold none of these."
        )
    if signoff.decisions.filter(voided_at__isnull=True, approver_id=user.pk).exists():
        raise PermissionDenied("Separation of duties: you have already decided on this release; one person signs once.")
    slots = open_slots_for(user, signoff)
    if decision == "reject":
        return slots[0] if slots else next(s.slot for s in chain if holds_slot(user, s.slot, signoff.system))
    if not slots:
        raise PermissionDenied("Every place in the chain you could fill is already filled by someone else.")
    return place_for(
        user,
        open_counts={st.step.slot: st.remaining for st in chain_state(signoff)},
        user_slots=slots,
        system=signoff.system,
        barred=_barred(signoff),
        is_barred=lambda u: is_author(u, signoff),
        wanted=slot,
        what=signoff.reference,
    )
