"""Writes of the pull connectors: configuring a source's endpoint, syncing it, the schedule.

A sync claims its source by inserting a running SyncRun (a partial unique index allows one
per source), runs the connector outside any transaction (network), accepts every document
through `receipt_accept` as it arrives (blob store + Receipt + ledger, parse queued after
commit, exactly like a push), then in one transaction closes the SyncRun, stores the cursor
(only on success), sets the backoff and records the ledger entry.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.connectors import CONNECTORS, ConnectorError, Document
from apps.connectors.models import SyncRun
from apps.connectors.tasks import source_sync as source_sync_task
from apps.formats import ParseError, normalize_subject
from apps.ingest.crypto import SecretUnreadable, secret_decrypt, secret_encrypt
from apps.ingest.models import Source
from apps.ingest.services import AcceptRefused, ensure_can_manage_sources, receipt_accept
from apps.ledger.services import ledger_record

logger = logging.getLogger(__name__)
ERROR_LIMIT = 2000
BACKOFF_BASE_SECONDS = 60


class SyncRefused(Exception):
    """This source cannot be synced (not a pull kind, no endpoint, disabled)."""


def backoff_seconds(failures: int) -> int:
    """Wait after `failures` failed syncs in a row: 1, 2, 4… minutes, at most PORTAL_CONNECTOR_BACKOFF_MAX."""
    if failures <= 0:
        return 0
    return min(BACKOFF_BASE_SECONDS * 2 ** min(failures - 1, 20), settings.PORTAL_CONNECTOR_BACKOFF_MAX)


def source_credentials(source: Source) -> dict:
    if not source.credentials_encrypted:
        return {}
    try:
        return json.loads(secret_decrypt(source.credentials_encrypted))
    except (SecretUnreadable, ValueError):
        raise ConnectorError("the stored endpoint credentials cannot be read; set them again") from None


@transaction.atomic
def source_connector_configure(
    *,
    actor,
    source_id: int,
    endpoint_url: str,
    credentials: dict | None = None,
    options: dict | None = None,
    sync_interval: int | None = None,
) -> Source:
    """Point a pull source at its endpoint. `credentials` None keeps the stored ones, {} clears them."""
    ensure_can_manage_sources(actor)
    source = Source.objects.select_for_update().get(pk=source_id)
    if not source.is_pull:
        raise ValidationError(
            f"a {source.get_kind_display()} source is not pulled; only {', '.join(Source.PULL_KINDS)}"
        )
    source.endpoint_url = endpoint_url.strip()
    if credentials is not None:
        clean = {k: str(v) for k, v in credentials.items() if k in ("username", "password", "token") and v}
        source.credentials_encrypted = secret_encrypt(json.dumps(clean)) if clean else ""
    if options is not None:
        source.sync_options = options
    if sync_interval is not None:
        source.sync_interval = sync_interval
    source.full_clean(exclude=["created_by", "token_hash", "token_prefix"])
    source.save(update_fields=["endpoint_url", "credentials_encrypted", "sync_options", "sync_interval"])
    ledger_record(
        actor=actor,
        action="source.connector_configured",
        target=source,
        # never the credentials themselves: only whether there are some
        data={
            "endpoint": source.endpoint_url,
            "has_credentials": bool(source.credentials_encrypted),
            "options": source.sync_options,
            "interval": source.sync_interval,
        },
    )
    return source


def _accept(source: Source, run: SyncRun, document: Document) -> bool:
    subject = ""
    if document.subject:
        try:
            subject = normalize_subject(document.subject).uri
        except ParseError as exc:
            raise ConnectorError(f"{document.key}: {exc}") from None
    try:
        _, created = receipt_accept(
            source=source,
            channel=document.channel,
            body=document.body,
            content_type=document.content_type,
            delivery_key=document.delivery_key,
            event=document.event,
            headers={"user_agent": "portal-connector", "sync_run": run.pk, "key": document.key[:200]},
            filename=document.filename,
            subject=subject,
            system=source.system,
        )
    except AcceptRefused as exc:  # e.g. a bound source's document about another system's subject (issue 17)
        raise ConnectorError(f"{document.key}: refused: {exc}") from None
    return created


def source_sync(
    *, source_id: int, trigger: str, actor="system:source_sync", repositories: list[str] | None = None
) -> SyncRun | None:
    """Pull what changed from a source's endpoint. None when a sync of it is already running.

    `repositories` (an OCI source) limits this sync to those repositories; the cursor of the
    others is kept as it was."""
    source = Source.objects.select_related("system").get(pk=source_id)
    if not source.is_pull:
        raise SyncRefused(f"source {source.name!r} is {source.get_kind_display()}: it pushes, it is not pulled")
    if not source.endpoint_url:
        raise SyncRefused(f"source {source.name!r} has no endpoint URL yet; configure it first")
    if not source.enabled:
        raise SyncRefused(f"source {source.name!r} is disabled")
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(source=source, trigger=trigger, started_at=timezone.now())
    except IntegrityError:
        return None  # another sync of this source is running (the partial unique index said so)
    counts = {"items": 0, "new": 0}

    def emit(document: Document) -> None:
        counts["new"] += _accept(source, run, document)
        counts["items"] += 1

    error, cursor = "", None
    try:
        options = dict(source.sync_options or {})
        if repositories:
            options["repositories"] = list(repositories)
        connector = CONNECTORS[source.kind](
            endpoint=source.endpoint_url,
            credentials=source_credentials(source),
            options=options,
            timeout=settings.PORTAL_CONNECTOR_TIMEOUT,
            max_bytes=settings.PORTAL_INGEST_MAX_BYTES,
        )
        cursor = connector.sync(dict(source.cursor or {}), emit)
    except ConnectorError as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - the run must end with the reason, whatever happened
        logger.exception("source %s: sync failed unexpectedly", source.pk)
        error = f"internal error ({type(exc).__name__}: {exc})"
    return _finish(run, actor=actor, error=error[:ERROR_LIMIT], cursor=cursor, counts=counts)


@transaction.atomic
def _finish(run: SyncRun, *, actor, error: str, cursor: dict | None, counts: dict) -> SyncRun:
    now = timezone.now()
    source = Source.objects.select_for_update().get(pk=run.source_id)
    run.finished_at, run.items, run.new_receipts, run.error = now, counts["items"], counts["new"], error
    if error:
        run.status = SyncRun.Status.FAILED
        source.consecutive_failures += 1
        source.backoff_until = now + timedelta(seconds=backoff_seconds(source.consecutive_failures))
        source.last_error = error
    else:
        run.status = SyncRun.Status.SUCCEEDED
        run.cursor = cursor or {}
        source.cursor = cursor or {}
        source.consecutive_failures, source.backoff_until, source.last_error = 0, None, ""
        source.last_sync_at = now
    run.save(update_fields=["finished_at", "items", "new_receipts", "error", "status", "cursor"])
    source.save(update_fields=["cursor", "consecutive_failures", "backoff_until", "last_error", "last_sync_at"])
    ledger_record(
        actor=actor,
        action="source.synced" if not error else "source.sync_failed",
        target=source,
        data={
            "sync_run": run.pk,
            "trigger": run.trigger,
            "items": run.items,
            "new_receipts": run.new_receipts,
            "error": error[:500],
            "failures": source.consecutive_failures,
            "backoff_until": source.backoff_until,
        },
    )
    return run


def sync_runs_reap(*, now: datetime | None = None) -> int:
    """Close runs left 'running' by a dead worker (past the task time limit) as failed."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    reaped = 0
    for run in SyncRun.objects.filter(status=SyncRun.Status.RUNNING, started_at__lt=cutoff).only("id", "source_id"):
        _finish(
            run,
            actor="system:source_sync_due",
            error="the sync did not finish (worker lost)",
            cursor=None,
            counts={"items": 0, "new": 0},
        )
        reaped += 1
    return reaped


def sources_due(*, now: datetime | None = None) -> list[int]:
    """Ids of enabled pull sources whose interval has passed and whose backoff is over."""
    now = now or timezone.now()
    due = []
    candidates = Source.objects.filter(kind__in=Source.PULL_KINDS, enabled=True).exclude(endpoint_url="")
    for source in candidates.only("id", "last_sync_at", "sync_interval", "backoff_until"):
        if source.backoff_until and source.backoff_until > now:
            continue
        if source.last_sync_at and source.last_sync_at + timedelta(seconds=source.sync_interval) > now:
            continue
        due.append(source.pk)
    return due


def source_sync_due(*, now: datetime | None = None) -> list[int]:
    """Beat: reap dead runs, queue a sync of every due source (after commit); returns their ids."""
    sync_runs_reap(now=now)
    ids = sources_due(now=now)

    for source_id in ids:
        source_sync_task.delay(source_id, SyncRun.Trigger.SCHEDULE)
    return ids


def source_sync_soon(*, source_id: int, trigger: str = SyncRun.Trigger.WEBHOOK) -> None:
    """Queue a sync after the current transaction commits (a webhook said something changed)."""

    transaction.on_commit(lambda: source_sync_task.delay(source_id, trigger), robust=True)


def source_sync_queue(*, source_id: int, trigger: str, repositories: list[str], countdown: int) -> None:
    """Send a sync of these repositories of a source to the queue, to run in `countdown` seconds."""

    source_sync_task.apply_async((source_id, trigger), {"repositories": repositories}, countdown=countdown)


def registry_sync_debounced(*, source_id: int, repository: str) -> bool:
    """Queue (after commit) one sync of a registry repository per PORTAL_OCI_SYNC_DEBOUNCE seconds.

    The first notification of a burst claims the window with an atomic Redis SET NX and queues a
    sync to run when the window ends, so it sees everything the burst pushed; the others in the
    window queue nothing. True when this call queued the sync."""
    window = settings.PORTAL_OCI_SYNC_DEBOUNCE
    digest = hashlib.sha256(repository.encode()).hexdigest()[:32]  # any repository name makes a safe key
    if not cache.add(f"connectors:oci-sync:{source_id}:{digest}", 1, timeout=window):
        return False
    transaction.on_commit(
        functools.partial(
            source_sync_queue,
            source_id=source_id,
            trigger=SyncRun.Trigger.WEBHOOK,
            repositories=[repository],
            countdown=window,
        ),
        robust=True,
    )
    return True
