"""Return an approved exception to review when what it froze has materially changed."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.exceptions.findings import material_changes
from apps.exceptions.models import ExceptionRequest
from apps.exceptions.selectors import covered_results, current_state
from apps.exceptions.services.helpers import (
    _ask_approvers,
    _lock,
    _notify,
    _owners,
    _void_approvals,
    exception_reevaluate,
)
from apps.exceptions.services.validation import Status
from apps.ledger.services import ledger_record

# ---------------------------------------------------------------- material change


def exception_return_to_review(
    *, request_id: int, reasons: list[str], now: datetime | None = None, actor="system:exception_review"
) -> bool:
    """An active exception whose frozen state materially changed goes back to its approvers."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _lock(request_id)
        if req.status != Status.APPROVED:
            return False
        req.ensure_can_move_to(Status.PENDING)
        req.status = Status.PENDING
        req.review_reason = "; ".join(reasons)[:2000]
        req.pending_since = req.updated_at = now
        req.save(update_fields=["status", "review_reason", "pending_since", "updated_at"])
        ledger_record(
            actor=actor,
            action="exception.review_required",
            target=req,
            data={"reasons": reasons, "frozen_at": req.frozen_at, "digest": req.digest()},
        )
        _void_approvals(req, actor=actor, reason="the approved state changed materially", now=now)
        _notify(
            _owners(req, engineers=True),
            req,
            "back in review: what was approved has changed",
            "The exception no longer covers its results until it is approved again.\n\n" + "\n".join(reasons),
        )
        _ask_approvers(req, why="What this exception was approved against has changed:\n" + "\n".join(reasons))
    exception_reevaluate(req)
    return True


def exception_check_material_changes(*, now: datetime | None = None) -> list[int]:
    """Beat, every minute: compare each active exception's frozen state with the current one.

    Only exceptions whose covered results changed since approval (ControlResult.evaluated_at
    moves only on a change) or whose system changed are compared; ids sent back to review."""
    now = now or timezone.now()
    sent = []
    active = ExceptionRequest.objects.filter(status=Status.APPROVED, frozen_at__isnull=False).select_related(
        "control", "system", "artifact"
    )
    for req in active.iterator(chunk_size=200):
        touched = covered_results(req).filter(evaluated_at__gt=req.frozen_at).exists()
        if not touched and req.system.risk_tier == req.frozen_state.get("system_risk_tier"):
            continue
        reasons = material_changes(req.frozen_state, current_state(req))
        if reasons and exception_return_to_review(request_id=req.pk, reasons=reasons, now=now):
            sent.append(req.pk)
    return sent
