"""Writes of the ingest app: sources and their credentials, accepting and parsing receipts.

The accept path (`receipt_accept`) is what every webhook and upload runs before its 202:
the raw body goes to the blob store, then one transaction inserts the Receipt and its
ledger entry, and the parse task is queued after commit. Everything slow (parsing,
evidence rows) happens in `receipt_parse`, in a worker.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.evidence.services import evidence_record
from apps.formats import PARSERS, ParseError, normalize_subject, parse_upload, parse_webhook
from apps.ingest.binding import (  # noqa: F401 - the refusals are part of this module's interface
    AcceptRefused,
    EffectiveTimeRefused,
    IdempotencyConflict,
    SourceBindingRefused,
    source_binding_check,
)
from apps.ingest.blobs import blob_read, blob_settle, blob_store
from apps.ingest.crypto import secret_encrypt
from apps.ingest.dispatch import receipt_dispatch
from apps.ingest.hooks import body_redactor, evidence_recorded
from apps.ingest.models import Receipt, Source, SourceAllowance
from apps.ingest.tasks import receipt_parse as receipt_parse_task
from apps.inventory.models import System
from apps.ledger.services import ledger_entry_template, ledger_record, prepared_cursor

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "cps_"  # noqa: S105 - the prefix that marks a source token, not a secret
ERROR_LIMIT = 4000
# A receipt taken over from an interrupted parse (its worker process died) past this many claims
# is failed with the reason instead (claims count across re-parses too, hence the margin).
MAX_PARSE_ATTEMPTS = 10


# How far ahead of its receipt an effective time may be (clock skew between a CI runner and us).
EFFECTIVE_AT_SKEW = timedelta(minutes=5)
# The receipt sweep moves pending raw bodies this old into the blob store (their parse moves the rest).
PENDING_BODY_GRACE = timedelta(minutes=1)


# ---------------------------------------------------------------- sources


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SourceCredentials:
    """What is shown once after creating or rotating a source: never stored in clear."""

    source: Source
    token: str
    secret: str | None

    def as_json(self) -> dict:
        return {"id": self.source.pk, "kind": self.source.kind, "token": self.token, "secret": self.secret}


def ensure_can_manage_sources(actor) -> None:
    if isinstance(actor, str):  # "system:<command>": management commands run by an operator
        return
    if not (actor.is_superuser or actor.has_perm("ingest.change_source")):
        raise PermissionDenied("Only platform admins manage sources.")


@transaction.atomic
def source_create(*, actor, kind: str, name: str, system: System | None = None) -> SourceCredentials:
    """Create a source; returns its bearer token (and signing secret for webhook kinds), shown once."""
    ensure_can_manage_sources(actor)
    token = _new_token()
    secret = _new_secret() if kind in Source.WEBHOOK_KINDS else None
    source = Source(
        kind=kind,
        name=name.strip(),
        system=system,
        token_hash=token_hash(token),
        token_prefix=token[: len(TOKEN_PREFIX) + 6],
        secret_encrypted=secret_encrypt(secret) if secret else "",
        created_by=actor if not isinstance(actor, str) else None,
    )
    source.full_clean(exclude=["created_by"])
    source.save()
    ledger_record(
        actor=actor,
        action="source.created",
        target=source,
        data={
            "name": source.name,
            "kind": kind,
            "system": system.slug if system else "",
            "token_prefix": source.token_prefix,
            "has_secret": secret is not None,
        },
    )
    return SourceCredentials(source=source, token=token, secret=secret)


@transaction.atomic
def portal_upload_source(*, name: str, actor: str) -> Source:
    """The source that stands for people uploading through the portal (one per purpose, made on first use).

    A person's upload (an evidence request's answer, a control's document) is accepted like any other
    upload, through `receipt_accept`; its receipt names the user in its headers and its own ledger entry."""
    source = Source.objects.filter(name=name).first()
    if source is None:
        source = source_create(actor=actor, kind="generic-ci", name=name).source
    return source


def source_rotate(*, actor, source_id: int) -> SourceCredentials:
    """Replace a source's token (and secret); the old ones stop working at commit."""
    ensure_can_manage_sources(actor)
    source = Source.objects.select_for_update().get(pk=source_id)
    token = _new_token()
    secret = _new_secret() if source.is_webhook else None
    source.token_hash = token_hash(token)
    source.token_prefix = token[: len(TOKEN_PREFIX) + 6]
    source.secret_encrypted = secret_encrypt(secret) if secret else ""
    source.rotated_at = timezone.now()
    source.save(update_fields=["token_hash", "token_prefix", "secret_encrypted", "rotated_at"])
    ledger_record(
        actor=actor,
        action="source.rotated",
        target=source,
        data={"token_prefix": source.token_prefix, "has_secret": secret is not None},
    )
    return SourceCredentials(source=source, token=token, secret=secret)


def _source_set_enabled(*, actor, source_id: int, enabled: bool) -> Source:
    ensure_can_manage_sources(actor)
    source = Source.objects.select_for_update().get(pk=source_id)
    if source.enabled != enabled:
        source.enabled = enabled
        source.save(update_fields=["enabled"])
        ledger_record(
            actor=actor,
            action="source.enabled" if enabled else "source.disabled",
            target=source,
            data={"name": source.name},
        )
    return source


@transaction.atomic
def source_disable(*, actor, source_id: int) -> Source:
    """Refuse everything the source sends from now on (403); its evidence stays."""
    return _source_set_enabled(actor=actor, source_id=source_id, enabled=False)


@transaction.atomic
def source_enable(*, actor, source_id: int) -> Source:
    return _source_set_enabled(actor=actor, source_id=source_id, enabled=True)


@transaction.atomic
def source_allow_system(*, actor, source_id: int, system: System, reason: str = "") -> SourceAllowance:
    """Let an unbound source speak for `system`: its evidence about that system's subjects then counts."""
    ensure_can_manage_sources(actor)
    source = Source.objects.select_for_update().get(pk=source_id)
    if source.system_id:
        raise ValidationError(
            f"source {source.name!r} is bound to system {source.system.slug}: it speaks for that system only"
        )
    allowance, created = SourceAllowance.objects.get_or_create(
        source=source,
        system=system,
        defaults={
            "allowed_by": actor if not isinstance(actor, str) else None,
            "allowed_at": timezone.now(),
            "reason": reason.strip(),
        },
    )
    if created:
        ledger_record(
            actor=actor,
            action="source.system_allowed",
            target=source,
            data={"system": system.slug, "reason": reason.strip()},
        )
    return allowance


@transaction.atomic
def source_disallow_system(*, actor, source_id: int, system: System, reason: str = "") -> bool:
    """Withdraw an unbound source's allowance for `system`; its evidence there stops counting."""
    ensure_can_manage_sources(actor)
    source = Source.objects.select_for_update().get(pk=source_id)
    deleted, _ = SourceAllowance.objects.filter(source=source, system=system).delete()
    if deleted:
        ledger_record(
            actor=actor,
            action="source.system_disallowed",
            target=source,
            data={"system": system.slug, "reason": reason.strip()},
        )
    return bool(deleted)


# ---------------------------------------------------------------- accepting

# The receipt and its `receipt.accepted` ledger entry in ONE statement: the entry's canonical bytes
# are built in Python around the receipt's id (ledger_entry_template) and PostgreSQL splices the id
# in. Outside a caller's transaction the statement commits on its own (autocommit): one round trip
# for the whole durable write, instead of BEGIN, two INSERTs and COMMIT.
_ACCEPT_SQL = (
    "WITH r AS (INSERT INTO ingest_receipt (source_id, channel, event, delivery_key, sha256, size, content_type, "
    "headers, filename, subject, format_hint, system_id, effective_at, received_at, state, state_since, error, "
    "attempts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, '', 0) RETURNING id), "
    # The template's columns, in apps.ledger.services.TEMPLATE_COLUMNS order.
    "e AS (INSERT INTO ledger_pending (canonical, object_id, recorded_at, actor_type, actor_id, actor_label, action, "
    "object_type) SELECT %s::bytea || convert_to(r.id::text, 'UTF8') || %s::bytea, r.id::text, "
    "%s, %s, %s, %s, %s, %s FROM r) "
    "SELECT id FROM r"
)
# _ACCEPT_SQL's receipt columns, in its order (headers are sent as JSON text).
_ACCEPT_COLUMNS = (
    "source_id", "channel", "event", "delivery_key", "sha256", "size", "content_type", "headers", "filename",
    "subject", "format_hint", "system_id", "effective_at", "received_at", "state", "state_since",
)  # fmt: skip


@functools.cache
def _receipt_fields() -> tuple:
    return tuple(Receipt._meta.concrete_fields)


# The same, with a small raw body committed as a PendingBody in the same statement (the blob store
# gets it after the 202: PORTAL_INLINE_BODY_MAX_BYTES). Content-addressed: a second receipt of the
# same bytes finds the row there already.
_ACCEPT_INLINE_SQL = _ACCEPT_SQL.replace(
    " SELECT id FROM r",
    ", b AS (INSERT INTO ingest_pendingbody (sha256, body, created_at) SELECT %s, %s, %s FROM r "
    "ON CONFLICT (sha256) DO NOTHING) SELECT id FROM r",
)
# What receipt_accept looks up itself unless the caller already did (the webhook views read the
# original receipt of a delivery id in the same statement as the source: apps.ingest.auth).
LOOK_UP = object()


def receipt_accept(
    *,
    source: Source,
    channel: str,
    body: bytes,
    content_type: str = "",
    delivery_key: str = "",
    event: str = "",
    headers: dict | None = None,
    filename: str = "",
    subject: str = "",
    format_hint: str = "",
    system: System | None = None,
    effective_at: datetime | None = None,
    enqueue: bool = True,
    key_from_content: bool = False,
    original: Receipt | None | object = LOOK_UP,
) -> tuple[Receipt, bool]:
    """Store the raw body and commit a Receipt; returns (receipt, created).

    A repeated (source, delivery_key) returns the original receipt and writes nothing.
    `key_from_content=True` says the delivery key is a digest of the content in canonical form
    (an OpenLineage event): then a replay in other bytes (whitespace, key order) is the same
    content, so it answers the original receipt instead of a conflict.
    A body up to PORTAL_INLINE_BODY_MAX_BYTES is committed in the receipt's own statement (a
    PendingBody, moved into the blob store by the parse); a larger one is written to the blob store
    before the statement: if the insert then fails, an unreferenced content-addressed blob is
    harmless, while a Receipt without its body would not be.
    `enqueue=False` is for the demo seed and benchmarks, which parse synchronously.
    `original`: the receipt already stored under (source, delivery_key), or None, when the caller
    has read it already (the webhook views, with the source); by default it is looked up here.

    Refused before anything is stored (AcceptRefused): an effective time more than 5 minutes
    after now, a subject or system another system owns when the source is bound (apps.ingest.binding),
    and a known delivery key with another body (409, both digests).
    """
    now = timezone.now()
    if effective_at is not None and effective_at > now + EFFECTIVE_AT_SKEW:
        raise EffectiveTimeRefused(
            f"effective_at {_iso(effective_at)} is more than 5 minutes after the time of receipt ({_iso(now)}): "
            "evidence speaks about what has happened; send the time it was produced, or leave effective_at out"
        )
    source_binding_check(source=source, subject=subject, system=system)
    # Data minimisation (apps.retention): the system's redaction rules run on the original body
    # (whose signature the API already checked) and what is stored, and hashed, is the redacted one.
    sent_digest = hashlib.sha256(body).hexdigest()
    if delivery_key:
        # A replay answers the original; the same key with another body is a conflict. Checked before
        # the blob is written so a refused body leaves nothing (the unique constraint below still
        # settles two concurrent first deliveries).
        if original is LOOK_UP:
            original = Receipt.objects.filter(source=source, delivery_key=delivery_key[:200]).first()
        if original is not None:
            return (original if key_from_content else _replay(original, sent_digest, delivery_key, channel)), False
    redactor = body_redactor()  # apps.retention registers it (apps.ingest.hooks)
    redaction = redactor.redact(source=source, channel=channel, body=body, system=system)
    if redaction is not None:
        body = redaction.body
    digest = hashlib.sha256(body).hexdigest() if redaction is not None else sent_digest
    # A small body is committed with the receipt, below; a larger one is in the store first.
    inline = len(body) <= settings.PORTAL_INLINE_BODY_MAX_BYTES
    if not inline:
        blob_store(body, sha256=digest)
    row = {
        "source_id": source.pk,
        "channel": channel,
        "event": event[:100],
        "delivery_key": delivery_key[:200],
        "sha256": digest,
        "size": len(body),
        "content_type": content_type[:200],
        "headers": headers or {},
        "filename": filename[:255],
        "subject": subject,
        "format_hint": format_hint,
        "system_id": system.pk if system else None,
        "effective_at": effective_at,
        "received_at": now,
        "state": Receipt.State.QUEUED,
        "state_since": now,
        "error": "",
        "attempts": 0,
        "parsed_at": None,
    }
    template = ledger_entry_template(
        actor=source,
        action="receipt.accepted",
        object_type=Receipt._meta.label_lower,
        data={
            "sha256": digest,
            "size": row["size"],
            "channel": channel,
            "event": row["event"],
            "delivery": row["delivery_key"],
            **redactor.ledger_data(redaction),
        },
    )
    params = [json.dumps(row[name]) if name == "headers" else row[name] for name in _ACCEPT_COLUMNS]
    params += [template.canonical_head, template.canonical_tail, *template.columns]
    if inline:
        params += [digest, body, now]
    sql = _ACCEPT_INLINE_SQL if inline else _ACCEPT_SQL
    try:
        if redaction is None and not connection.in_atomic_block:
            # The common case: one statement in autocommit, durable when it returns.
            row["id"] = _accept_insert(sql, params)
        else:
            # A redaction record joins the statement's transaction; inside a caller's transaction
            # a savepoint keeps a duplicate key from aborting it (the replay is answered below).
            with transaction.atomic():
                row["id"] = _accept_insert(sql, params)
                redactor.record(receipt_id=row["id"], redaction=redaction)
    except IntegrityError:
        if not delivery_key:
            raise
        original = Receipt.objects.filter(source=source, delivery_key=delivery_key[:200]).first()
        if original is None:  # not a replay after all: some other constraint failed
            raise
        return (original if key_from_content else _replay(original, sent_digest, delivery_key, channel)), False
    # The row as a query would return it (positional construction: keyword construction of a model
    # cost an accept ~5% of its CPU), with its source and system attached.
    receipt = Receipt.from_db(connection.alias, None, [row[field.attname] for field in _receipt_fields()])
    Receipt.source.field.set_cached_value(receipt, source)
    if system is not None:
        Receipt.system.field.set_cached_value(receipt, system)
    if enqueue:
        receipt_id = receipt.pk
        # robust: a broker outage after commit must not turn a committed receipt into a 500;
        # the sweep queues it again later. Web processes batch these messages (dispatch.py).
        transaction.on_commit(lambda: receipt_dispatch(receipt_id), robust=True)
    return receipt, True


def _accept_insert(sql: str, params: list) -> int:
    """Insert the receipt and its ledger entry (_ACCEPT_SQL, _ACCEPT_INLINE_SQL); returns the receipt's id."""
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _replay(original: Receipt, sent_digest: str, delivery_key: str, channel: str) -> Receipt:
    """The original receipt of a replayed key, or IdempotencyConflict when this body differs.

    Compared as sent: with redaction (apps.retention) the receipt's sha256 is the stored body's,
    and the digest of what was sent is on its redaction record."""
    first = original.sha256
    if first != sent_digest:
        first = (
            Receipt.objects.filter(pk=original.pk).values_list("redaction__original_sha256", flat=True).first()
            or original.sha256
        )
    if first != sent_digest:
        label = "Idempotency-Key" if channel in Receipt.FILE_CHANNELS else "delivery id"
        raise IdempotencyConflict(
            f"{label} {delivery_key[:200]!r} was already used with another body (sha256 {first}); this body's "
            f"sha256 is {sent_digest}: nothing was stored. Send a new key for new content",
            sha256=sent_digest,
            original_sha256=first,
            receipt=str(original.pk),
        )
    return original


# ---------------------------------------------------------------- parsing


def _parse(receipt: Receipt, body: bytes):
    if receipt.channel in Receipt.FILE_CHANNELS:
        return parse_upload(
            body, receipt.format_hint or None, content_type=receipt.content_type, filename=receipt.filename
        )
    return parse_webhook(receipt.channel, receipt.event, body)


def _finish(receipt_id: int, attempt: int, state: str, *, error: str = "") -> bool:
    """Move a receipt this worker claimed (attempt number) out of PARSING; False if it lost the claim."""
    now = timezone.now()
    return bool(
        Receipt.objects.filter(pk=receipt_id, state=Receipt.State.PARSING, attempts=attempt).update(
            state=state,
            state_since=now,
            error=error[:ERROR_LIMIT],
            parsed_at=now if state == Receipt.State.PARSED else None,
        )
    )


def receipt_parse(*, receipt_id: int, takeover: bool = False) -> Receipt | None:
    """Parse a queued receipt into evidence. Safe to run twice: the first claim wins, others return None.

    A ParseError marks the receipt failed with the parser's message (the blob stays, a re-parse
    can follow a fix). Database and storage errors put the receipt back to queued and re-raise,
    so the task retries; any other error is a bug and marks it failed with what happened.

    `takeover` (a redelivered or retried task) also claims a receipt left "parsing": the attempt
    that claimed it is gone (its worker process was killed, or it raised and could not put the
    receipt back while the database was down). Without it that receipt would wait for the sweep's
    parsing limit (the task time limit). Even if the earlier attempt were alive, it could not
    finish: every finish is conditional on the attempt number, which this claim moves on.
    """
    claim = {"state": Receipt.State.PARSING, "state_since": timezone.now(), "attempts": F("attempts") + 1}
    claimed = Receipt.objects.filter(pk=receipt_id, state=Receipt.State.QUEUED).update(**claim)
    took_over = False
    if not claimed and takeover:
        with transaction.atomic():
            took_over = claimed = Receipt.objects.filter(pk=receipt_id, state=Receipt.State.PARSING).update(**claim)
            if took_over:
                ledger_record(
                    actor="system:receipt_parse",
                    action="receipt.requeued",
                    target=("ingest.receipt", receipt_id),
                    data={"from": Receipt.State.PARSING, "reason": "taken over from an interrupted attempt"},
                )
    if not claimed:
        return None
    receipt = Receipt.objects.select_related("source").get(pk=receipt_id)
    attempt = receipt.attempts
    if took_over and attempt > MAX_PARSE_ATTEMPTS:
        # A body that kills the process parsing it (out of memory, say) must not loop through redelivery.
        _fail(
            receipt,
            attempt,
            f"gave up at attempt {attempt}: the worker process parsing it died each time (out of memory?); "
            "the raw body is kept, re-parse once the cause is fixed",
        )
        receipt.refresh_from_db()
        return receipt
    try:
        body = blob_read(receipt.sha256, settle=True)  # a pending body moves into the blob store now
        result = _parse(receipt, body)
        # Signed provenance counts only once its signature verifies against a trusted key: a parser
        # can read what an attestation claims, never check it (it has no keys).
        from apps.ingest.trust import provenance_verify  # noqa: PLC0415 - circular: apps.ingest.trust imports this module

        provenance_verify(result=result, system_id=receipt.system_id or receipt.source.system_id, source=receipt.source)
        given_subject = normalize_subject(receipt.subject) if receipt.subject else None
        with transaction.atomic():
            evidence = evidence_record(
                receipt=receipt,
                result=result,
                given_subject=given_subject,
                given_effective_at=receipt.effective_at,
                system_id=receipt.system_id or receipt.source.system_id,
                bound_source=receipt.source if receipt.source.system_id else None,
            )
            # Parsed, with a note when a bound source named another system's subjects: the rest still
            # counts, and the sender learns why some of it was not attached.
            refusals = dict.fromkeys(
                f"not attached: {item['reason']}" for e in evidence for item in e.summary.get("not_attached", [])
            )
            if not _finish(receipt.pk, attempt, Receipt.State.PARSED, error="; ".join(refusals)):
                transaction.set_rollback(True)  # the sweep gave it to someone else meanwhile
                return None
            # What follows the evidence (retention flags, release tracking, policy queueing), in this
            # transaction: apps.pipeline runs the steps, in the one order it documents.
            evidence_recorded(receipt=receipt, evidence=evidence, body=body)
            ledger_record(
                actor="system:receipt_parse",
                action="receipt.parsed",
                target=receipt,
                data={
                    "format": result.format,
                    "evidence": [str(e.pk) for e in evidence],
                    "attempt": attempt,
                    # false: kept as generic evidence that no parser read (see selectors.receipt_recognised)
                    "recognised": not any(e.kind == "generic" for e in result.evidence),
                },
            )
    except ParseError as exc:
        _fail(receipt, attempt, str(exc))
    except FileNotFoundError:
        _fail(
            receipt,
            attempt,
            f"the raw body sha256:{receipt.sha256} is missing from the blob store; "
            "restore it from backup, then re-parse",
        )
    except (DatabaseError, OSError):
        # Transient (database restarting, blob store unreachable): give it back and let the task retry.
        Receipt.objects.filter(pk=receipt.pk, state=Receipt.State.PARSING, attempts=attempt).update(
            state=Receipt.State.QUEUED, state_since=timezone.now()
        )
        raise
    except Exception as exc:
        logger.exception("receipt %s: unexpected error while parsing", receipt.pk)
        _fail(
            receipt,
            attempt,
            f"internal error while parsing ({type(exc).__name__}: {exc}); the raw body is kept, re-parse after the fix",
        )
    receipt.refresh_from_db()
    return receipt


def _fail(receipt: Receipt, attempt: int, message: str) -> None:
    with transaction.atomic():
        if _finish(receipt.pk, attempt, Receipt.State.FAILED, error=message):
            ledger_record(
                actor="system:receipt_parse",
                action="receipt.failed",
                target=receipt,
                data={"error": message[:ERROR_LIMIT], "attempt": attempt},
            )


def _enqueue_after_commit(receipt_ids: list[int]) -> None:
    def send():
        for receipt_id in receipt_ids:
            receipt_parse_task.delay(receipt_id)

    transaction.on_commit(send, robust=True)


@transaction.atomic
def receipt_reparse(*, actor, receipt_id: int) -> Receipt:
    """Queue a failed or parsed receipt again (after a parser fix). A parsed receipt's earlier
    evidence stays as it is (evidence is never edited); the new parse writes a new generation."""
    if not isinstance(actor, str) and not (actor.is_superuser or actor.has_perm("ingest.change_receipt")):
        raise PermissionDenied("Only platform admins re-parse receipts.")
    receipt = Receipt.objects.select_for_update().get(pk=receipt_id)
    receipt.ensure_can_move_to(Receipt.State.QUEUED)
    before = receipt.state
    receipt.state, receipt.state_since, receipt.error = Receipt.State.QUEUED, timezone.now(), ""
    receipt.save(update_fields=["state", "state_since", "error"])
    ledger_record(actor=actor, action="receipt.requeued", target=receipt, data={"from": before, "reason": "re-parse"})
    _enqueue_after_commit([receipt.pk])
    return receipt


def receipt_sweep(*, older_than: int | None = None, now: datetime | None = None) -> int:
    """Queue again receipts left queued (lost message) or parsing (dead worker) too long; returns how many.

    Parsing receipts get at least the task time limit before they count as stuck, so a large
    file still being parsed is not taken away from its worker. Raw bodies committed with their
    receipts a minute ago or more, which no parse has moved into the blob store yet, move now.
    """
    try:
        blob_settle(older_than=PENDING_BODY_GRACE)
    except OSError:  # the blob store is failing: the bodies stay committed; re-queueing must still happen
        logger.exception("receipt sweep: pending raw bodies could not be moved into the blob store; next sweep")
    now = now or timezone.now()
    queued_cutoff = now - timedelta(seconds=older_than or settings.PORTAL_RECEIPT_SWEEP_SECONDS)
    parsing_cutoff = now - timedelta(
        seconds=max(older_than or settings.PORTAL_RECEIPT_SWEEP_SECONDS, settings.CELERY_TASK_TIME_LIMIT + 30)
    )
    with transaction.atomic():
        stuck = list(
            Receipt.objects.select_for_update(skip_locked=True)
            .filter(
                Q(state=Receipt.State.QUEUED, state_since__lt=queued_cutoff)
                | Q(state=Receipt.State.PARSING, state_since__lt=parsing_cutoff)
            )
            .order_by("id")
            .values_list("id", "state")[:1000]
        )
        if not stuck:
            return 0
        ids = [pk for pk, _ in stuck]
        # state_since moves forward, so a receipt is re-sent at most once per sweep interval.
        Receipt.objects.filter(pk__in=ids).update(state=Receipt.State.QUEUED, state_since=now)
        for pk, state in stuck:
            if state == Receipt.State.PARSING:
                ledger_record(
                    actor="system:receipt_sweep",
                    action="receipt.requeued",
                    target=("ingest.receipt", pk),
                    data={"from": state, "reason": "stuck while parsing"},
                )
        _enqueue_after_commit(ids)
    return len(ids)


def validate_format_hint(kind: str) -> str:
    """An upload's `kind`: one of the parser formats or "generic"."""

    kind = (kind or "").strip().lower()
    if kind and kind not in PARSERS and kind != "generic":
        raise ValidationError(f"unknown kind {kind!r}; use one of {', '.join([*PARSERS, 'generic'])} or leave it out")
    return kind
