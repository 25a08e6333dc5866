"""Exceptions in bulk for the scale generator: many exceptions in their final states at once.

Moved out of apps/exceptions (issue 22): it writes final states directly instead of walking the
model's transitions, which is right for a synthetic data set and wrong for anything a person relies
on. It keeps the rules the services enforce that a generated set must show (tiers from the tier
policy, separation of duties, the ledger entries each step would have written)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from apps.evidence.models import Artifact
from apps.exceptions import chain as chain_mod
from apps.exceptions.models import Approval, ExceptionRequest
from apps.exceptions.tiers import tier_policy
from apps.inventory.models import System
from apps.ledger.services import ledger_record_many
from apps.policy.models import Control

Status = ExceptionRequest.Status


@dataclass
class BulkException:
    """One exception with the history it already went through (created, submitted, decided, ended)."""

    control: Control
    system: System
    requested_by: object  # User
    justification: str
    compensating_controls: str
    likelihood: int
    impact: int
    expires_at: datetime
    status: str
    created_at: datetime
    artifact: Artifact | None = None
    evidence_ids: list[int] = field(default_factory=list)
    # (approver, slot, decision, at) in order; the last one decides when status is approved or rejected
    decisions: list[tuple] = field(default_factory=list)
    revoked_by: object | None = None  # User, with status revoked
    revoke_reason: str = ""
    ended_at: datetime | None = None  # expired, rejected or revoked


def exception_bulk_create(items: list[BulkException], *, actor="system:generate_scale") -> list[ExceptionRequest]:
    """Create many exceptions in their final states with their approvals and the ledger entries the
    single-step services would have written (created, submitted, approval_recorded, approved, rejected,
    revoked, expired), in one transaction. For generated data sets and imports of an existing register:
    no notifications are sent and nothing is re-evaluated (the caller evaluates or rolls up afterwards).

    The rules the services enforce hold here too: tiers come from the tier policy, the requester never
    decides, one person fills one slot, an approved exception records its approval time."""
    policy = tier_policy()
    entries = []
    with transaction.atomic():
        reqs = []
        for it in items:
            if it.status not in Status.values:
                raise ValidationError({"status": [f"unknown status {it.status!r}"]})
            people = [d[0].pk for d in it.decisions]
            if it.requested_by.pk in people or len(set(people)) != len(people):
                raise PermissionDenied("Separation of duties: the requester never decides, one person decides once.")
            decided = it.decisions[-1][3] if it.decisions else None  # the chain's last decision
            submitted = it.created_at if it.status != Status.DRAFT else None
            # Expired and revoked exceptions here were active before they ended.
            approved_at = decided if it.status in (Status.APPROVED, Status.EXPIRED, Status.REVOKED) else None
            decided_at = it.ended_at if it.status == Status.REVOKED else decided
            reqs.append(ExceptionRequest(
                control=it.control, system=it.system, artifact=it.artifact, justification=it.justification,
                compensating_controls=it.compensating_controls, likelihood=it.likelihood, impact=it.impact,
                tier=policy.tier_for(it.likelihood, it.impact), expires_at=it.expires_at,
                evidence_ids=list(it.evidence_ids), status=it.status, requested_by=it.requested_by,
                revoked_by=it.revoked_by, revoke_reason=it.revoke_reason, created_at=it.created_at,
                updated_at=it.ended_at or decided or it.created_at, submitted_at=submitted,
                pending_since=submitted, approved_at=approved_at, decided_at=decided_at,
                ended_at=it.ended_at if it.status in ExceptionRequest.FINAL else None,
            ))  # fmt: skip
        ExceptionRequest.objects.bulk_create(reqs, batch_size=1000)
        approvals = []
        for req, it in zip(reqs, items, strict=True):
            digest = req.digest()
            entries.append((it.requested_by, "exception.created", req,
                            {"digest": digest, "version": 1, **req.approvable()}))  # fmt: skip
            if req.submitted_at:
                entries.append((it.requested_by, "exception.submitted", req,
                                {"digest": digest, "version": 1, "tier": req.tier,
                                 "chain": list(chain_mod.chain_for(req))}))  # fmt: skip
            for approver, slot, decision, at in it.decisions:
                approvals.append(Approval(request=req, approver=approver, slot=slot, decision=decision, at=at,
                                          request_version=1, request_digest=digest, reauthenticated_at=at))
            if req.status in (Status.APPROVED, Status.EXPIRED, Status.REVOKED) and it.decisions:
                entries.append((it.decisions[-1][0], "exception.approved", req,
                                {"digest": digest, "version": 1, "expires_at": req.expires_at}))  # fmt: skip
            if req.status == Status.REJECTED and it.decisions:
                entries.append((it.decisions[-1][0], "exception.rejected", req, {"version": 1, "digest": digest}))
            if req.status == Status.REVOKED:
                entries.append((it.revoked_by, "exception.revoked", req,
                                {"reason": req.revoke_reason, "was": "approved", "digest": digest}))  # fmt: skip
            if req.status == Status.EXPIRED:
                entries.append(("system:exception_expire", "exception.expired", req,
                                {"expires_at": req.expires_at, "was": "approved", "digest": digest}))  # fmt: skip
        Approval.objects.bulk_create(approvals, batch_size=2000)
        for a in approvals:
            entries.append((a.approver, "exception.approval_recorded", a.request,
                            {"approval": a.pk, "slot": a.slot, "decision": a.decision, "version": 1,
                             "digest": a.request_digest}))  # fmt: skip
        ledger_record_many(entries)
    return reqs
