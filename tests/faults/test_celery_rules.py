"""Nothing waits in Celery for long: scheduled work lives in the database and beat picks it up.

A message waiting out a countdown sits unacknowledged in a worker's memory (or in Redis's unacked
set when that worker dies, until the visibility timeout). So a countdown or ETA longer than a
minute is allowed only where the work is also a database row that a beat job re-queues (or where
the beat job itself is what is retried): then a lost or late message delays the work, never drops
it. These tests read the code and the registered tasks, and fail when a new path breaks the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

from compliance_portal.celery import app

ROOT = Path(__file__).resolve().parents[2]
MAX_COUNTDOWN_SECONDS = 60

# Tasks whose retries may wait longer than a minute, and the beat job that re-does their work if a
# retry message is lost: its name in CELERY_BEAT_SCHEDULE, or why the work cannot be lost.
LONG_WAITS_BACKED_BY_BEAT = {
    "apps.ingest.tasks.receipt_parse": "receipt-sweep",  # the Receipt row stays queued/parsing
    "apps.ingest.tasks.receipt_parse_many": "receipt-sweep",
    "apps.packs.tasks.pack_build": "pack-sweep",  # the Pack row stays queued/building with a lease
    "apps.policy.tasks.policy_evaluate": "policy-evaluate-nightly",  # results are recomputed from evidence
    "apps.policy.tasks.policy_evaluate_pending": "policy-evaluate-pending",  # PendingEvaluation rows stay
    "apps.retention.tasks.retention_dispose_due": "retention-dispose-due",  # the beat job itself
    "apps.exceptions.tasks.exception_expire_due": "exception-expire-due",  # the beat job itself, every minute
}
BEST_EFFORT = {
    # The notification is a database row the portal shows; the e-mail is a copy of it.
    "apps.accounts.tasks.notification_email": "in-app notification row",
}
# Countdowns computed at run time, and the beat job that backs each (file, enclosing function).
DYNAMIC_COUNTDOWNS = {
    ("apps/packs/services.py", "_enqueue_build"): "pack-sweep",
    ("apps/packs/tasks.py", "pack_build"): "pack-sweep",  # PackBusy.retry_in: until the lease lapses
    # A registry notification's debounced sync (PORTAL_OCI_SYNC_DEBOUNCE, 30 s by default): the
    # notifications are receipts already; a lost sync is redone by the source's next due sync.
    ("apps/connectors/services.py", "source_sync_queue"): "source-sync-due",
    ("apps/connectors/services.py", "registry_sync_debounced"): "source-sync-due",
    # The evaluation after new evidence waits PORTAL_AFTER_PARSE_DELAY_MS (1 s by default); its
    # requests are PendingEvaluation rows that beat's sweep drains if the message is lost.
    ("apps/policy/services/pending.py", "_wake"): "policy-evaluate-pending",
    # New evidence's words wait in a Redis set (PORTAL_AFTER_PARSE_DELAY_MS); evidence left unindexed
    # (the set or the message lost) is found by its missing EvidenceIndexed row.
    ("apps/search/content.py", "_wake"): "search-reconcile",
}


def _tasks() -> dict:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def _longest_retry_wait(task) -> float:
    """The longest countdown Celery's autoretry can give this task (seconds), 0 without autoretry."""
    if not getattr(task, "autoretry_for", None):
        return 0
    backoff = getattr(task, "retry_backoff", False)
    if not backoff:
        return (getattr(task, "retry_kwargs", None) or {}).get("countdown", task.default_retry_delay)
    factor = int(max(1.0, float(backoff)))
    return min(getattr(task, "retry_backoff_max", 600), factor * 2 ** max(0, (task.max_retries or 1) - 1))


def _countdown_calls():
    """(path, enclosing function, keyword, value node) of every call passing countdown= or eta=."""
    files = [*sorted((ROOT / "apps").rglob("*.py")), *sorted((ROOT / "compliance_portal").glob("*.py"))]
    for path in files:
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for func in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            for node in ast.walk(func):
                if isinstance(node, ast.Call):
                    for keyword in node.keywords:
                        if keyword.arg in ("countdown", "eta"):
                            yield path.relative_to(ROOT).as_posix(), func.name, keyword.arg, keyword.value


def test_every_task_acknowledges_late_and_comes_back_when_its_worker_dies():
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    for name, task in _tasks().items():
        assert task.acks_late, f"{name}: a task acknowledged before it runs is lost with its worker"


def test_no_code_path_schedules_a_task_far_ahead_unless_the_database_backs_it():
    found = set()
    for path, function, keyword, value in _countdown_calls():
        found.add((path, function))
        assert keyword != "eta", f"{path}:{function}: an ETA is scheduled work: keep it in the database"
        if isinstance(value, ast.Constant) and value.value is None:
            continue
        if isinstance(value, ast.Constant):
            assert value.value <= MAX_COUNTDOWN_SECONDS, (
                f"{path}:{function}: countdown={value.value} s; longer waits belong in the database")
            continue
        beat = DYNAMIC_COUNTDOWNS.get((path, function))
        assert beat, f"{path}:{function}: a computed countdown; name the beat job that backs it in this test"
        assert beat in settings.CELERY_BEAT_SCHEDULE
    assert ("apps/policy/services/evaluation.py", "_schedule_snapshot") in found, "the scan sees the code it should"


def test_long_retry_waits_only_where_a_beat_job_redoes_the_work():
    waits = {name: _longest_retry_wait(task) for name, task in _tasks().items()}
    assert waits["apps.ingest.tasks.receipt_parse"] > 0, "the computation sees autoretry"
    for name, wait in waits.items():
        if wait <= MAX_COUNTDOWN_SECONDS or name in BEST_EFFORT:
            continue
        beat = LONG_WAITS_BACKED_BY_BEAT.get(name)
        assert beat, f"{name} may wait {wait:g} s before a retry: back it by a database row and a beat job"
        assert beat in settings.CELERY_BEAT_SCHEDULE, f"{name}: no beat job {beat!r}"


def test_no_message_is_redelivered_while_its_task_still_runs_or_waits():
    """Redis hands an unacknowledged message out again after the visibility timeout: it must be longer
    than any task may run, and than any countdown may keep a message waiting."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    tasks = _tasks()
    longest_run = max([settings.CELERY_TASK_TIME_LIMIT] + [t.time_limit or 0 for t in tasks.values()])
    longest_wait = max(_longest_retry_wait(t) for t in tasks.values())
    assert visibility > longest_run and visibility > longest_wait + longest_run
