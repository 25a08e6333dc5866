"""Create, submit and update a request."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.exceptions import chain as chain_mod
from apps.exceptions.models import ExceptionRequest
from apps.exceptions.selectors import can_edit
from apps.exceptions.services.helpers import _apply, _ask_approvers, _ensure_visible, _lock, _void_approvals
from apps.exceptions.services.validation import ExceptionInput, Status, exception_validate, max_expiry
from apps.exceptions.tiers import tier_policy
from apps.ledger.services import ledger_record

# ---------------------------------------------------------------- create, submit, update


def exception_request(
    *,
    actor,
    data: ExceptionInput,
    submit: bool = False,
    renewal_of: ExceptionRequest | None = None,
    now: datetime | None = None,
) -> ExceptionRequest:
    """Create a request (a draft, or submitted for approval at once)."""
    now = now or timezone.now()
    with transaction.atomic():
        cleaned = exception_validate(
            actor=actor, data=data, now=now, renewal_of_pk=renewal_of.pk if renewal_of else None
        )
        req = ExceptionRequest(
            requested_by=actor, status=Status.DRAFT, renewal_of=renewal_of, created_at=now, updated_at=now
        )
        _apply(req, cleaned)
        try:
            with transaction.atomic():
                req.save()
        except IntegrityError:
            raise ValidationError({"control": ["this exception already has an open renewal"]}) from None
        ledger_record(
            actor=actor,
            action="exception.created",
            target=req,
            data={"digest": req.digest(), "version": req.version, **req.approvable()},
        )
        if renewal_of is not None:
            ledger_record(
                actor=actor,
                action="exception.renewal_requested",
                target=renewal_of,
                data={"renewal": req.pk, "expires_at": req.expires_at},
            )
        if submit:
            _submit(req, actor=actor, now=now)
    return req


def _submit(req: ExceptionRequest, *, actor, now: datetime) -> None:
    req.ensure_can_move_to(Status.PENDING)
    if req.expires_at > max_expiry(req.tier, now=now) or req.expires_at <= now:
        raise ValidationError(
            {
                "expires_at": [
                    f"a {req.tier}-tier exception lasts at most {tier_policy().rule(req.tier).max_days} days from now"
                ]
            }
        )
    req.status = Status.PENDING
    req.submitted_at = req.submitted_at or now
    req.pending_since = now
    req.updated_at = now
    req.save(update_fields=["status", "submitted_at", "pending_since", "updated_at"])
    ledger_record(
        actor=actor,
        action="exception.submitted",
        target=req,
        data={
            "digest": req.digest(),
            "version": req.version,
            "tier": req.tier,
            "chain": list(chain_mod.chain_for(req)),
        },
    )
    _ask_approvers(req, why=f"{getattr(actor, 'display_name', actor)} asks for an exception.")


def exception_submit(*, request_id: int, actor, now: datetime | None = None) -> ExceptionRequest:
    """Submit a draft for approval (its requester or a compliance officer)."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _lock(request_id)
        _ensure_visible(actor, req)
        if not can_edit(actor, req) and not (req.status in ExceptionRequest.FINAL or req.status == Status.APPROVED):
            raise PermissionDenied("Only the requester or a compliance officer submits this request.")
        req.ensure_status(Status.DRAFT)
        _submit(req, actor=actor, now=now)
    return req


def exception_update(*, request_id: int, actor, data: ExceptionInput, now: datetime | None = None) -> ExceptionRequest:
    """Edit a draft or pending request. A change makes a new version and voids earlier approvals."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _lock(request_id)
        _ensure_visible(actor, req)
        req.ensure_status(Status.DRAFT, Status.PENDING)
        if not can_edit(actor, req):
            raise PermissionDenied("Only the requester or a compliance officer edits this request.")
        before = req.approvable()
        cleaned = exception_validate(
            actor=actor, data=data, now=now, exclude_pk=req.pk, renewal_of_pk=req.renewal_of_id
        )
        if (cleaned.control.pk, cleaned.system.pk) != (req.control_id, req.system_id):
            raise ValidationError(
                {"control": ["the control and system of a request do not change; make a new request"]}
            )
        _apply(req, cleaned)
        after = req.approvable()
        if after == before:
            return req
        req.ensure_can_move_to(req.status)
        req.version += 1
        req.updated_at = now
        changed = sorted(k for k in after if after[k] != before[k])
        if req.status == Status.PENDING:
            if req.expires_at > max_expiry(req.tier, now=now):
                raise ValidationError({"expires_at": ["longer than the tier allows"]})
            req.pending_since = now
        req.save()
        ledger_record(
            actor=actor,
            action="exception.updated",
            target=req,
            data={"version": req.version, "digest": req.digest(), "changed": changed, **after},
        )
        voided = _void_approvals(req, actor=actor, reason=f"request edited (version {req.version})", now=now)
        if req.status == Status.PENDING:
            why = f"{req.reference} changed ({', '.join(changed)})"
            why += f"; {voided} earlier approval(s) no longer count: please decide again." if voided else "."
            _ask_approvers(req, why=why)
    return req
