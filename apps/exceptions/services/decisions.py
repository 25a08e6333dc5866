"""Approve, reject, revoke, expire and renew: the decisions on a request."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.approvals.digest import ensure_digest
from apps.approvals.expiry import expiry_day
from apps.approvals.reauth import ensure_recent_reauth
from apps.approvals.refusals import decision_refusals_recorded
from apps.exceptions import chain as chain_mod
from apps.exceptions.models import Approval, ExceptionRequest
from apps.exceptions.selectors import can_revoke, current_state
from apps.exceptions.services.helpers import _ensure_visible, _lock, _notify, _owners, exception_reevaluate
from apps.exceptions.services.lifecycle import exception_request
from apps.exceptions.services.validation import ExceptionInput, Status
from apps.ledger.services import ledger_record

# ---------------------------------------------------------------- decisions


def _ensure_digest(req: ExceptionRequest, expected: str | None) -> None:
    ensure_digest(current=req.digest(), expected=expected, reference=req.reference, version=req.version)


def exception_approve(
    *,
    request_id: int,
    approver,
    comment: str = "",
    reauthenticated_at: datetime | None,
    digest: str | None = None,
    now: datetime | None = None,
    slot: str | None = None,
) -> ExceptionRequest:
    """Record one approval; activate the exception when its chain is complete. A refused attempt is a ledger entry."""
    with decision_refusals_recorded(actor=approver, attempt="exception.approve",
                                    target=("exceptions.exceptionrequest", request_id), digest=digest):  # fmt: skip
        return _exception_approve(
            request_id=request_id,
            approver=approver,
            comment=comment,
            reauthenticated_at=reauthenticated_at,
            digest=digest,
            now=now,
            slot=slot,
        )


def _exception_approve(
    *,
    request_id: int,
    approver,
    comment: str = "",
    reauthenticated_at: datetime | None,
    digest: str | None = None,
    now: datetime | None = None,
    slot: str | None = None,
) -> ExceptionRequest:
    """Record one approval; activate the exception when its chain is complete."""
    now = now or timezone.now()
    activated = False
    with transaction.atomic():
        req = _lock(request_id)
        _ensure_visible(approver, req)
        req.ensure_status(Status.PENDING)
        slot = chain_mod.ensure_can_decide(approver, req, decision=Approval.Decision.APPROVE, slot=slot)
        ensure_recent_reauth(reauthenticated_at, now=now)  # after SoD: no point re-authenticating to be refused
        _ensure_digest(req, digest)
        if req.expires_at <= now:
            raise ValidationError(
                {"expires_at": ["the requested expiry has passed: the request must be updated first"]}
            )
        frozen = current_state(req)
        digest = req.digest()  # what this approval binds to
        try:
            with transaction.atomic():
                approval = Approval.objects.create(
                    request=req,
                    approver=approver,
                    slot=slot,
                    decision=Approval.Decision.APPROVE,
                    request_version=req.version,
                    request_digest=digest,
                    comment=comment.strip(),
                    frozen_state=frozen,
                    reauthenticated_at=reauthenticated_at,
                    at=now,
                )
        except IntegrityError:
            raise PermissionDenied("Separation of duties: that slot or person is already on this request.") from None
        ledger_record(
            actor=approver,
            action="exception.approval_recorded",
            target=req,
            data={
                "approval": approval.pk,
                "slot": slot,
                "decision": "approve",
                "version": req.version,
                "digest": digest,
                "comment": approval.comment,
                "reauthenticated_at": reauthenticated_at,
            },
        )
        if chain_mod.approval_chain_complete(req):
            req.ensure_can_move_to(Status.APPROVED)
            req.status = Status.APPROVED
            req.approved_at = req.decided_at = now
            req.frozen_state, req.frozen_at = frozen, now
            req.review_reason = ""
            req.updated_at = now
            req.save(
                update_fields=[
                    "status",
                    "approved_at",
                    "decided_at",
                    "frozen_state",
                    "frozen_at",
                    "review_reason",
                    "updated_at",
                ]
            )
            ledger_record(
                actor=approver,
                action="exception.approved",
                target=req,
                data={
                    "digest": digest,
                    "version": req.version,
                    "expires_at": req.expires_at,
                    "approvals": [
                        {"id": a.pk, "slot": a.slot, "approver": a.approver_id, "digest": a.request_digest}
                        for a in chain_mod.live_approvals(req)
                    ],
                    "frozen_state": frozen,
                },
            )
            _notify(
                _owners(req, engineers=True),
                req,
                "approved",
                f"Active until the end of {expiry_day(req.expires_at):%Y-%m-%d}. "
                f"{req.control.label} on {req.system.name} counts as excepted.",
            )
            activated = True
        else:
            _notify([req.requested_by], req, f"approved by {approver.display_name}", "More approvals are needed.")
    if activated:
        exception_reevaluate(req)
    return req


def exception_reject(
    *,
    request_id: int,
    approver,
    comment: str,
    reauthenticated_at: datetime | None,
    digest: str | None = None,
    now: datetime | None = None,
) -> ExceptionRequest:
    """Reject a pending request, with a reason; someone in its chain decides. A refused attempt is a ledger entry."""
    with decision_refusals_recorded(actor=approver, attempt="exception.reject",
                                    target=("exceptions.exceptionrequest", request_id), digest=digest):  # fmt: skip
        return _exception_reject(
            request_id=request_id,
            approver=approver,
            comment=comment,
            reauthenticated_at=reauthenticated_at,
            digest=digest,
            now=now,
        )


def _exception_reject(
    *,
    request_id: int,
    approver,
    comment: str,
    reauthenticated_at: datetime | None,
    digest: str | None = None,
    now: datetime | None = None,
) -> ExceptionRequest:
    """Reject a pending request, with a reason; someone in its chain decides."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _lock(request_id)
        _ensure_visible(approver, req)
        req.ensure_status(Status.PENDING)
        slot = chain_mod.ensure_can_decide(approver, req, decision=Approval.Decision.REJECT)
        ensure_recent_reauth(reauthenticated_at, now=now)  # after SoD: no point re-authenticating to be refused
        _ensure_digest(req, digest)
        if not comment.strip():
            raise ValidationError({"comment": ["say why the request is rejected"]})
        digest = req.digest()
        approval = Approval.objects.create(
            request=req,
            approver=approver,
            slot=slot,
            decision=Approval.Decision.REJECT,
            request_version=req.version,
            request_digest=digest,
            comment=comment.strip(),
            frozen_state=current_state(req),
            reauthenticated_at=reauthenticated_at,
            at=now,
        )
        req.ensure_can_move_to(Status.REJECTED)
        req.status = Status.REJECTED
        req.decided_at = req.ended_at = req.updated_at = now
        req.save(update_fields=["status", "decided_at", "ended_at", "updated_at"])
        ledger_record(
            actor=approver,
            action="exception.rejected",
            target=req,
            data={
                "approval": approval.pk,
                "slot": slot,
                "version": req.version,
                "digest": digest,
                "comment": approval.comment,
                "reauthenticated_at": reauthenticated_at,
            },
        )
        _notify(_owners(req), req, f"rejected by {approver.display_name}", approval.comment)
    return req


def exception_revoke(*, request_id: int, actor, reason: str, now: datetime | None = None) -> ExceptionRequest:
    """A compliance officer ends an active (or pending) exception early, with a reason."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _lock(request_id)
        _ensure_visible(actor, req)
        req.ensure_status(Status.APPROVED, Status.PENDING)
        if not can_revoke(actor, req):
            raise PermissionDenied("Only compliance officers revoke exceptions.")
        if not reason.strip():
            raise ValidationError({"reason": ["say why the exception is revoked"]})
        was_active = req.status == Status.APPROVED
        req.ensure_can_move_to(Status.REVOKED)
        req.status = Status.REVOKED
        req.revoked_by, req.revoke_reason = actor, reason.strip()
        req.decided_at = req.ended_at = req.updated_at = now
        req.save(update_fields=["status", "revoked_by", "revoke_reason", "decided_at", "ended_at", "updated_at"])
        ledger_record(
            actor=actor,
            action="exception.revoked",
            target=req,
            data={"reason": req.revoke_reason, "was": "approved" if was_active else "pending", "digest": req.digest()},
        )
        _notify(_owners(req, engineers=True), req, f"revoked by {actor.display_name}", req.revoke_reason)
    if was_active:
        exception_reevaluate(req)
    return req


def exception_expire(*, request_id: int, now: datetime | None = None, actor="system:exception_expire") -> bool:
    """End an exception whose expiry has come; its results return to failing at once. False if not due."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _lock(request_id)
        if req.status not in (Status.APPROVED, Status.PENDING) or req.expires_at > now:
            return False  # not due, or already ended by someone else: safe to run twice
        was_active = req.status == Status.APPROVED
        req.ensure_can_move_to(Status.EXPIRED)
        req.status = Status.EXPIRED
        req.ended_at = req.updated_at = now
        req.save(update_fields=["status", "ended_at", "updated_at"])
        ledger_record(
            actor=actor,
            action="exception.expired",
            target=req,
            data={"expires_at": req.expires_at, "was": "approved" if was_active else "pending", "digest": req.digest()},
        )
        _notify(
            _owners(req, engineers=True),
            req,
            "expired",
            f"{req.control.label} on {req.system.name} is no longer excepted."
            + (" Its results count as failing again." if was_active else " It expired before a decision."),
        )
    if was_active:
        exception_reevaluate(req)
    return True


def exception_expire_due(*, now: datetime | None = None) -> list[int]:
    """Beat, every minute: expire every exception whose time has come; ids expired."""
    now = now or timezone.now()
    due = ExceptionRequest.objects.filter(status__in=[Status.APPROVED, Status.PENDING], expires_at__lte=now)
    done = []
    for pk in due.order_by("expires_at").values_list("pk", flat=True)[:500]:
        if exception_expire(request_id=pk, now=now):
            done.append(pk)
    return done


def exception_renew(
    *,
    request_id: int,
    actor,
    data: ExceptionInput | None = None,
    submit: bool = True,
    now: datetime | None = None,
    expires_at: datetime | None = None,
) -> ExceptionRequest:
    """A new request linked to an approved (or expired) one; it goes through approval again."""
    now = now or timezone.now()
    with transaction.atomic():
        old = _lock(request_id)
        _ensure_visible(actor, old)
        old.ensure_status(Status.APPROVED, Status.EXPIRED)
        if data is None:
            if expires_at is None:
                raise ValidationError({"expires_at": ["give the renewal's expiry"]})
            data = ExceptionInput(
                control=old.control.control_id,
                system=old.system.slug,
                artifact=old.artifact_id,
                justification=old.justification,
                compensating_controls=old.compensating_controls,
                likelihood=old.likelihood,
                impact=old.impact,
                expires_at=expires_at,
                evidence_ids=list(old.evidence_ids),
            )
        if (data.control, data.system) != (old.control.control_id, old.system.slug):
            raise ValidationError({"control": ["a renewal covers the same control and system"]})
        return exception_request(actor=actor, data=data, submit=submit, renewal_of=old, now=now)
