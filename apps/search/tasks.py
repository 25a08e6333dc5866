from datetime import timedelta

from celery import shared_task
from django.db import DatabaseError
from django.utils import timezone


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError, DatabaseError),
    retry_backoff=3,  # 3 … 48 s: within a minute (tests/faults/test_celery_rules.py); beat's reconcile backs it
    retry_jitter=True,
    max_retries=5,
)
def evidence_search_index(evidence_ids: list[int]) -> int:
    """Index the words inside these pieces of evidence; safe to run twice. (Parses now queue
    evidence_search_index_pending; this stays for messages queued before that.)"""
    from apps.search.content import evidence_search_index as index  # noqa: PLC0415 - circular: content queues this task

    return index(evidence_ids=evidence_ids)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError, DatabaseError),
    retry_backoff=3,  # 3 … 48 s, as evidence_search_index; beat's reconcile backs it
    retry_jitter=True,
    max_retries=5,
    time_limit=300,
    soft_time_limit=290,
)
def evidence_search_index_pending() -> int:
    """Index every new evidence id waiting in the pending set (many parses' worth at once); safe to run twice."""
    from apps.search.content import evidence_search_index_pending as index_pending  # noqa: PLC0415 - circular: content queues this task

    return index_pending()


# The cap keeps one run well inside its time limit; beat runs it again a minute later.
RECONCILE_LIMIT = 20_000
# Evidence younger than this is its own index task's (queued behind a burst of parses, or retrying for up to
# ~2 minutes): beat's reconcile would index it ahead of that task, twice in all.
RECONCILE_SETTLE = timedelta(minutes=5)


@shared_task(acks_late=True, time_limit=300, soft_time_limit=290)
def evidence_search_reconcile() -> int:
    """Beat, every minute: index evidence whose index task was lost or gave up (at most RECONCILE_LIMIT a run)."""
    from apps.search.content import evidence_search_reconcile as reconcile  # noqa: PLC0415 - circular: content queues evidence_search_index

    return reconcile(limit=RECONCILE_LIMIT, received_before=timezone.now() - RECONCILE_SETTLE)
