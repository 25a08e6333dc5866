"""Writes of retention: data policies, legal holds, disposal on schedule, the ingestion hooks.

Every write takes the retention advisory lock inside its transaction, so a hold placed while
the disposal task runs is seen by every disposal decided after it commits, and a disposal
decided before it finishes first (each disposal re-checks holds under the lock).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.accounts.roles import Role
from apps.approvals.refusals import decision_refusals_recorded
from apps.approvals.slots import Slot, slot_candidates
from apps.evidence.models import Evidence, EvidenceRecord
from apps.ingest.blobs import blob_delete
from apps.ingest.models import Receipt, Source
from apps.ledger.services import ledger_record
from apps.retention.detect import identifiers_count
from apps.retention.models import DataPolicy, Disposal, IdentifierFlag, LegalHold, ReceiptRedaction
from apps.retention.policy import retention_policy
from apps.retention.redaction import Redaction, redact_body
from apps.retention.selectors import (
    SETTLED,
    held_receipts_q,
    receipt_kept_until_expr,
    receipts_due,
    redaction_rules_for,
    retention_start,
)

logger = logging.getLogger(__name__)

RETENTION_LOCK = 0x2E7E47  # pg_advisory_xact_lock key shared by holds and disposals
DISPOSER = "system:retention_dispose"


def can_manage_retention(user) -> bool:
    """Compliance officers (and platform admins) place holds and set data policies."""
    return bool(getattr(user, "is_authenticated", False)) and (
        user.is_superuser or user.has_role(Role.ADMIN, Role.COMPLIANCE_OFFICER)
    )


def ensure_can_manage_retention(actor) -> None:
    if isinstance(actor, str):  # "system:<command>": an operator's management command
        return
    if not can_manage_retention(actor):
        raise PermissionDenied("Only compliance officers and platform admins manage legal holds and data policies.")


def _lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RETENTION_LOCK])


# ---------------------------------------------------------------- data policy (redaction at ingestion)


@transaction.atomic
def data_policy_set(*, actor, system, redaction_rules: list[str]) -> DataPolicy:
    """Choose which redaction rules run on the system's incoming webhook bodies (from the next delivery)."""
    ensure_can_manage_retention(actor)
    known = retention_policy().redaction
    unknown = [r for r in redaction_rules if r not in known]
    if unknown:
        raise ValidationError(f"unknown redaction rule(s) {unknown}; the policy defines {sorted(known)}")
    rules = sorted(set(redaction_rules))
    policy = DataPolicy.objects.select_for_update().filter(system=system).first()
    before = policy.redaction_rules if policy else []
    if policy is None:
        policy = DataPolicy(system=system)
    if before == rules and policy.pk:
        return policy
    policy.redaction_rules = rules
    policy.updated_by = None if isinstance(actor, str) else actor
    policy.updated_at = timezone.now()
    policy.save()
    ledger_record(
        actor=actor,
        action="data_policy.changed",
        target=system,
        data={"system": system.slug, "redaction_rules": rules, "before": before},
    )
    return policy


def ingest_redact(*, source: Source, channel: str, body: bytes, system=None) -> Redaction | None:
    """The redaction receipt_accept applies before storing a body; None when no rule applies.

    Called after the webhook signature was checked on the original body."""
    system_id = system.pk if system is not None else source.system_id
    rules = redaction_rules_for(system_id=system_id, channel=channel)
    if not rules:
        return None
    return redact_body(body, rules)


def redaction_ledger_data(redaction: Redaction | None) -> dict:
    """What the receipt.accepted ledger entry adds about redaction (nothing when none ran)."""
    if redaction is None:
        return {}
    return {
        "redaction": list(redaction.rules),
        "original_sha256": redaction.original_sha256,
        "redacted": redaction.count,
    }


def receipt_redaction_record(*, receipt_id: int, redaction: Redaction | None) -> None:
    """Record the redaction on the receipt, in receipt_accept's transaction."""
    if redaction is None:
        return
    ReceiptRedaction.objects.create(
        receipt_id=receipt_id,
        rules=list(redaction.rules),
        original_sha256=redaction.original_sha256,
        stored_sha256=redaction.stored_sha256,
        redacted_count=redaction.count,
        paths=list(redaction.paths),
        at=timezone.now(),
    )


def evidence_identifiers_flag(*, receipt: Receipt, evidence: list[Evidence], body: bytes) -> dict[str, int]:
    """Count direct identifiers in the stored body; flag the evidence parsed from it (receipt_parse's transaction)."""
    if not evidence:
        return {}
    counts = identifiers_count(body, retention_policy().detector)
    if not counts:
        return {}
    now = timezone.now()
    IdentifierFlag.objects.bulk_create(
        [IdentifierFlag(evidence=e, counts=counts, total=sum(counts.values()), detected_at=now) for e in evidence],
        ignore_conflicts=True,  # a re-parse writes new evidence; earlier flags stay with the earlier evidence
    )
    ledger_record(
        actor="system:receipt_parse",
        action="evidence.identifiers_flagged",
        target=receipt,
        data={"evidence": [str(e.pk) for e in evidence], "counts": counts},
    )
    return counts


# ---------------------------------------------------------------- legal holds


@transaction.atomic
def legal_hold_place(
    *,
    actor,
    scope: str,
    reason: str,
    system=None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    evidence_ids: list[int] | None = None,
) -> LegalHold:
    """Hold a system, a period (optionally of one system) or a set of evidence: nothing covered is disposed of."""
    ensure_can_manage_retention(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A legal hold needs a reason (the matter, the request, who asked).")
    if scope not in LegalHold.Scope.values:
        raise ValidationError(f"unknown scope {scope!r}; use system, period or evidence")
    ids = sorted({int(i) for i in evidence_ids or []})
    if scope == LegalHold.Scope.EVIDENCE:
        found = set(Evidence.objects.filter(pk__in=ids).values_list("pk", flat=True))
        missing = [i for i in ids if i not in found]
        if not ids or missing:
            raise ValidationError(
                f"no evidence with id(s) {missing}" if missing else "name at least one piece of evidence"
            )
    _lock()
    hold = LegalHold(
        scope=scope,
        system=system if scope != LegalHold.Scope.EVIDENCE else None,
        period_start=period_start if scope == LegalHold.Scope.PERIOD else None,
        period_end=period_end if scope == LegalHold.Scope.PERIOD else None,
        evidence_ids=ids if scope == LegalHold.Scope.EVIDENCE else [],
        reason=reason,
        placed_by=actor,
        placed_at=timezone.now(),
    )
    hold.full_clean(exclude=["placed_by", "released_by"])
    hold.save()
    ledger_record(
        actor=actor,
        action="legal_hold.placed",
        target=hold,
        data={
            "scope": scope,
            "system": system.slug if hold.system_id else None,
            "period_start": hold.period_start,
            "period_end": hold.period_end,
            "evidence": ids,
            "reason": reason,
        },
    )
    return hold


def legal_hold_release(*, actor, hold_id: int, reason: str) -> LegalHold:
    """Release a hold; what it covered becomes disposable again on its own schedule.

    An approval chain of one, requester excluded (the approval engine's rule): the person who placed
    the hold does not release it; a second compliance officer does. A refused attempt is a ledger entry."""
    with decision_refusals_recorded(actor=actor, attempt="legal_hold.release", target=("retention.legalhold", hold_id)):
        return _legal_hold_release(actor=actor, hold_id=hold_id, reason=reason)


@transaction.atomic
def _legal_hold_release(*, actor, hold_id: int, reason: str) -> LegalHold:
    ensure_can_manage_retention(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the hold is released (matter closed, counsel's instruction...).")
    _lock()
    hold = LegalHold.objects.select_for_update().get(pk=hold_id)
    if not isinstance(actor, str) and actor.pk == hold.placed_by_id:
        others = slot_candidates(Slot.COMPLIANCE_OFFICER, None, exclude=[actor.pk])
        names = ", ".join(u.get_username() for u in others[:10]) or "nobody yet: another officer must be appointed"
        raise PermissionDenied(
            f"Separation of duties: you placed {hold.reference}; a second compliance officer releases it ({names})."
        )
    hold.ensure_can_move_to(LegalHold.Status.RELEASED)
    hold.status = LegalHold.Status.RELEASED
    hold.released_by, hold.released_at, hold.release_reason = actor, timezone.now(), reason
    hold.save(update_fields=["status", "released_by", "released_at", "release_reason"])
    ledger_record(actor=actor, action="legal_hold.released", target=hold, data={"reason": reason})
    return hold


# ---------------------------------------------------------------- disposal


def _governing_schedule(evidence: list[Evidence]) -> str:
    policy = retention_policy()
    best, name = None, "default"
    for e in evidence:
        days, schedule = policy.days_for(e.kind, e.system.frameworks if e.system_id else [])
        until = retention_start(e) + timedelta(days=days)
        if best is None or until > best:
            best, name = until, schedule
    return name


def _live_receipts_of(sha256: str):
    """Receipts whose raw body is this blob and that still need it (not disposed of)."""
    return Receipt.objects.filter(sha256=sha256).exclude(Exists(Disposal.objects.filter(receipt=OuterRef("pk"))))


@transaction.atomic
def receipt_dispose(*, receipt_id: int, now: datetime | None = None, actor=DISPOSER) -> Disposal | None:
    """Dispose of one receipt's raw body and parsed detail rows if it is past retention and not held.

    Safe to run twice (the Disposal row is unique per receipt); returns None when there is
    nothing to do. The Evidence rows, their sha256 and every ledger entry stay."""
    now = now or timezone.now()
    _lock()
    receipt = Receipt.objects.select_for_update().select_related("source").get(pk=receipt_id)
    if Disposal.objects.filter(receipt=receipt).exists():
        return None
    policy = retention_policy()
    kept_until = (
        Receipt.objects.filter(pk=receipt.pk)
        .annotate(k=receipt_kept_until_expr(policy))
        .values_list("k", flat=True)
        .get()
    )
    if receipt.state not in SETTLED or kept_until > now:
        return None
    if Receipt.objects.filter(held_receipts_q(), pk=receipt.pk).exists():
        return None
    evidence = list(Evidence.objects.filter(receipt=receipt).select_related("system").order_by("generation", "ordinal"))
    blob_deleted = not _live_receipts_of(receipt.sha256).exclude(pk=receipt.pk).exists()
    records_count = EvidenceRecord.objects.filter(evidence__in=evidence).count() if evidence else 0
    system_id = (
        receipt.system_id or receipt.source.system_id or next((e.system_id for e in evidence if e.system_id), None)
    )
    disposal = Disposal.objects.create(
        receipt=receipt,
        system_id=system_id,
        sha256=receipt.sha256,
        kept_until=kept_until,
        schedule=_governing_schedule(evidence) if evidence else "default",
        policy_digest=policy.digest,
        evidence_ids=[e.pk for e in evidence],
        records_deleted=records_count,
        blob_deleted=blob_deleted,
        disposed_at=now,
    )
    records = 0
    if evidence:
        with connection.cursor() as cursor:
            # The evidence trigger lets detail rows go only with this flag set AND a Disposal row for
            # their receipt (migration retention/0002); Evidence rows themselves stay immutable.
            cursor.execute("SET LOCAL portal.retention_dispose = 'on'")
            cursor.execute("DELETE FROM evidence_evidencerecord WHERE evidence_id = ANY(%s)", [disposal.evidence_ids])
            records = cursor.rowcount
            cursor.execute("SET LOCAL portal.retention_dispose = 'off'")
    data = {
        "sha256": receipt.sha256,
        "kept_until": kept_until,
        "schedule": disposal.schedule,
        "policy_sha256": policy.digest,
        "evidence": [str(e.pk) for e in evidence],
        "records_deleted": records,
        "blob_deleted": blob_deleted,
        "shared_with_live_receipts": not blob_deleted,
    }
    ledger_record(actor=actor, action="receipt.disposed", target=receipt, data=data)
    for e in evidence:
        ledger_record(
            actor=actor,
            action="evidence.disposed",
            target=e,
            data={
                "receipt": str(receipt.pk),
                "sha256": e.sha256,
                "kept_until": kept_until,
                "schedule": disposal.schedule,
            },
        )
    if blob_deleted:
        sha256 = receipt.sha256
        transaction.on_commit(lambda: blob_purge(sha256=sha256), robust=True)
    return disposal


def blob_purge(*, sha256: str) -> bool:
    """Delete a disposed blob unless a receipt that needs it exists (again). True when deleted."""
    if _live_receipts_of(sha256).exists():
        return False
    if not blob_delete(sha256):  # from the store, or still pending in the database
        return False
    logger.info("retention: deleted blob sha256:%s", sha256)
    return True


def retention_dispose_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Dispose of everything past retention and not held (the beat task); returns how many receipts.

    Each receipt is its own transaction. Also retries blob deletions of the last week that a
    storage error interrupted."""
    now = now or timezone.now()
    done = 0
    for receipt_id in list(receipts_due(now=now, limit=limit).values_list("pk", flat=True)):
        if receipt_dispose(receipt_id=receipt_id, now=now) is not None:
            done += 1
    for sha256 in (
        Disposal.objects.filter(blob_deleted=True, disposed_at__gte=now - timedelta(days=7))
        .values_list("sha256", flat=True)
        .distinct()
    ):
        try:
            blob_purge(sha256=sha256)
        except OSError:
            logger.exception("retention: could not delete blob sha256:%s; retrying on the next run", sha256)
    return done
