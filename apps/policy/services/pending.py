"""Evaluation after new evidence: durable requests, drained many at a time.

A parse asks for an evaluation of what its evidence is about by writing PendingEvaluation rows in
its own transaction (`evaluation_request()`), and after commit wakes the task
`policy_evaluate_pending` unless a wake-up is already queued (a short-lived cache flag), after
PORTAL_AFTER_PARSE_DELAY_MS (1 s), so the receipts parsed meanwhile share it. The task
clears the flag, then takes the pending rows in batches (`DELETE … RETURNING`, `SKIP LOCKED`, so
two workers never take the same row) and evaluates each batch in the transaction that deleted it:
a failed evaluation rolls back and leaves its rows for the retry. Beat runs the same task every
minute, so a wake-up lost with Redis delays an evaluation, never drops it.

One evaluation (the current rules read once, one sandbox, one lock-and-read of the results, one
COPY of ledger entries) covers every receipt parsed in that second; under a backlog, every receipt
parsed before the task's turn came. At a trickle it runs once per receipt, a second later.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction

from apps.policy.models import PendingEvaluation
from apps.policy.services import evaluation
from apps.policy.tasks import policy_evaluate_pending as policy_evaluate_pending_task

logger = logging.getLogger(__name__)

PENDING_FLAG = "policy:evaluation-queued"
# How long a wake-up counts as queued. Only a lost message keeps the flag this long; the worker
# clears it as it starts, and beat's sweep takes what a lost wake-up left behind.
PENDING_FLAG_SECONDS = 30
# Requests per batch (each batch one transaction); one run takes at most PENDING_ROUNDS batches
# before it hands over to a fresh message, so a task never runs for ever under a constant storm.
PENDING_BATCH = 200
PENDING_ROUNDS = 20

# Take up to a batch of requests of one kind (artifacts or systems), skipping rows another worker holds.
_CLAIM_SQL = {
    "artifact_id": (
        "DELETE FROM policy_pendingevaluation WHERE id IN (SELECT id FROM policy_pendingevaluation"
        " WHERE artifact_id IS NOT NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING artifact_id"
    ),
    "system_id": (
        "DELETE FROM policy_pendingevaluation WHERE id IN (SELECT id FROM policy_pendingevaluation"
        " WHERE system_id IS NOT NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING system_id"
    ),
}


def evaluation_request(*, artifact_ids: Iterable[int] = (), system_ids: Iterable[int] = ()) -> None:
    """Ask for an evaluation of these artifacts (and what is downstream of them) and systems, in the
    caller's transaction; the worker is woken once it commits."""
    rows = [PendingEvaluation(artifact_id=a) for a in sorted(set(artifact_ids))]
    rows += [PendingEvaluation(system_id=s) for s in sorted(set(system_ids))]
    if not rows:
        return
    PendingEvaluation.objects.bulk_create(rows)
    # robust: a broker outage must not undo the committed evidence; beat's sweep takes the rows.
    transaction.on_commit(_wake, robust=True)


def _wake() -> None:
    """Queue the task, unless a wake-up is queued already: it will find this request too."""
    if cache.add(PENDING_FLAG, 1, timeout=PENDING_FLAG_SECONDS):
        policy_evaluate_pending_task.apply_async(countdown=settings.PORTAL_AFTER_PARSE_DELAY_MS / 1000)


def _claimed(column: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL[column], [PENDING_BATCH])
        return sorted({row[0] for row in cursor.fetchall()})


def _evaluate_batch(column: str, scope: str) -> tuple[int, int]:
    """Take one batch of requests of one kind and evaluate it in the transaction that deletes it;
    returns (requests taken, results changed). A database error rolls back and raises (the task
    retries). Any other error is a bug in evaluating some subject: the batch is taken again and
    evaluated one subject at a time, so one subject that cannot be evaluated does not hold up the
    others; its request is dropped with the error logged (the nightly run evaluates it again). The
    task's time limit is not such an error: it rolls back and leaves the batch to the next run."""
    try:
        with transaction.atomic():
            ids = _claimed(column)
            return len(ids), (evaluation.policy_evaluate(**{scope: ids}).changed if ids else 0)
    except (DatabaseError, SoftTimeLimitExceeded):
        raise
    except Exception:
        logger.exception("evaluating a batch of pending requests failed; evaluating them one at a time")
    changed = 0
    with transaction.atomic():
        ids = _claimed(column)
        for one in ids:
            try:
                with transaction.atomic():
                    changed += evaluation.policy_evaluate(**{scope: [one]}).changed
            except (DatabaseError, SoftTimeLimitExceeded):
                raise
            except Exception:
                logger.exception("evaluation after new evidence of %s %s failed; request dropped", column, one)
    return len(ids), changed


def policy_evaluate_pending() -> int:
    """Evaluate every pending request, a batch per transaction; returns the results changed.

    Artifacts and systems are taken in separate batches: one `policy_evaluate()` call per
    transaction takes its advisory locks in one global order (artifacts, then systems, each
    ascending), so two workers draining at once cannot deadlock."""
    try:
        cache.delete(PENDING_FLAG)  # a request committed from now on queues a fresh wake-up
    except Exception:  # noqa: BLE001 - Redis down: drain anyway; the next request or the sweep wakes us again
        logger.warning("could not clear the pending-evaluation flag", exc_info=True)
    changed = 0
    for _ in range(PENDING_ROUNDS):
        taken = 0
        for column, scope in (("artifact_id", "subject_ids"), ("system_id", "system_ids")):
            count, batch_changed = _evaluate_batch(column, scope)
            taken, changed = max(taken, count), changed + batch_changed
        if taken < PENDING_BATCH:
            return changed
    # Still more after PENDING_ROUNDS full batches: a fresh message goes to the back of the queue,
    # so the parses queued meanwhile run first and this task never holds a worker for ever.
    _wake()
    return changed
