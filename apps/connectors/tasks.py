"""Celery wrappers of the connector services.

The names stay those the tasks had when they lived in apps/ingest/tasks.py: beat schedules
(settings and a running beat's schedule file) and messages already queued name them so.
"""

import contextlib

from celery import shared_task


@shared_task(name="apps.ingest.tasks.source_sync_due", acks_late=True, time_limit=60, soft_time_limit=55)
def source_sync_due() -> list[int]:
    """Beat, every minute: queue a sync of every pull source that is due (interval passed, no backoff)."""
    from apps.connectors.services import source_sync_due as due  # noqa: PLC0415 - circular: apps.connectors.services imports this module

    return due()


@shared_task(name="apps.ingest.tasks.source_sync", acks_late=True, reject_on_worker_lost=True)
def source_sync(source_id: int, trigger: str = "schedule", repositories: list[str] | None = None) -> None:
    """Pull one source (a no-op while another sync of it runs; failures end in its SyncRun, not here).

    `repositories`: only those of an OCI source (a debounced registry notification names one)."""
    from apps.connectors.services import SyncRefused  # noqa: PLC0415 - circular: apps.connectors.services imports this module
    from apps.connectors.services import source_sync as sync  # noqa: PLC0415 - circular: apps.connectors.services imports this module

    with contextlib.suppress(SyncRefused):  # disabled or unconfigured since it was queued
        sync(source_id=source_id, trigger=trigger, repositories=repositories)
