from celery import shared_task
from django.db import DatabaseError


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError, DatabaseError),
    retry_backoff=15,
    retry_jitter=True,
    max_retries=5,
)
def receipt_parse(self, receipt_id: int) -> None:
    """Parse one receipt into evidence (a no-op if another worker already claimed it)."""
    from apps.ingest.services import receipt_parse as parse  # noqa: PLC0415 - circular: apps.ingest.services imports this module

    # Redelivered (the pool process running it was killed: reject_on_worker_lost) or retried (it
    # raised): the attempt that claimed the receipt is over, so this one may take it over.
    delivery = self.request.delivery_info or {}
    parse(receipt_id=receipt_id, takeover=bool(self.request.retries or delivery.get("redelivered")))


# ---- batched dispatch from web processes (apps/ingest/dispatch.py)


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(OSError,), retry_backoff=5, max_retries=5)
def receipt_parse_many(receipt_ids: list[int]) -> None:
    """A web process's batch of accepted receipts: one receipt_parse task each, so retries and
    parallelism are those of single messages (sending one twice is harmless: the parse claims)."""
    for receipt_id in receipt_ids:
        receipt_parse.delay(receipt_id)


@shared_task(acks_late=True, time_limit=60, soft_time_limit=55)
def receipt_sweep() -> int:
    """Beat, every minute: queue again receipts a lost message or a dead worker left behind."""
    from apps.ingest.services import receipt_sweep as sweep  # noqa: PLC0415 - circular: apps.ingest.services imports this module

    return sweep()

