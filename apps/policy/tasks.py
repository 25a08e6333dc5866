"""Celery wrappers of the policy services: ids in, one service call, nothing returned that matters."""

from celery import shared_task
from django.core.cache import cache
from django.db import DatabaseError


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=15,
    retry_jitter=True,
    max_retries=5,
)
def policy_evaluate(subject_ids=None, system_ids=None, rule_ids=None) -> int:
    """Evaluate rules for these subjects / systems / rules (all when none given); returns results changed."""
    from apps.policy.services import policy_evaluate as evaluate  # noqa: PLC0415 - circular: apps.policy.services imports this module

    return evaluate(subject_ids=subject_ids, system_ids=system_ids, rule_ids=rule_ids).changed


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=5,
    retry_jitter=True,
    max_retries=5,
    time_limit=300,
    soft_time_limit=290,
)
def policy_evaluate_pending() -> int:
    """After new evidence (woken once per burst) and beat, every minute: evaluate what pending
    requests ask for, many at once; returns results changed."""
    from apps.policy.services import policy_evaluate_pending as evaluate_pending  # noqa: PLC0415 - circular: apps.policy.services imports this module

    return evaluate_pending()


@shared_task(acks_late=True)
def policy_evaluate_nightly() -> int:
    """Beat, nightly: every rule over every subject (ages and freshness move even without new evidence)."""
    from apps.policy.services import coverage_snapshot_catch_up  # noqa: PLC0415 - circular: apps.policy.services imports this module
    from apps.policy.services import policy_evaluate as evaluate  # noqa: PLC0415 - circular: apps.policy.services imports this module

    changed = evaluate().changed
    coverage_snapshot_catch_up()
    return changed


@shared_task(acks_late=True, time_limit=300, soft_time_limit=290)
def coverage_snapshot() -> int:
    """Beat (and after results change): today's coverage and metric rollups, yesterday's if stale."""

    from apps.policy.services import coverage_snapshot_catch_up  # noqa: PLC0415 - circular: apps.policy.services imports this module

    cache.delete("policy:snapshot-pending")
    return coverage_snapshot_catch_up()


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=900, soft_time_limit=880)
def rule_dry_run_execute(dry_run_id: int) -> None:
    """Run a dry run the rule editor queued; the page polls its RuleDryRun row for progress."""
    from apps.policy.services import rule_dry_run_execute as execute  # noqa: PLC0415 - circular: apps.policy.services imports this module

    execute(dry_run_id=dry_run_id)
