from celery import shared_task

from apps.ledger.services import ledger_checkpoint as checkpoint
from apps.ledger.services import ledger_checkpoint_publish as publish
from apps.ledger.services import ledger_integrate_all


@shared_task(acks_late=True, time_limit=60, soft_time_limit=55)
def ledger_integrate() -> int:
    """Safety net for the sequencer loop: sequence whatever is pending."""

    return ledger_integrate_all()


@shared_task(acks_late=True, time_limit=60, soft_time_limit=55)
def ledger_checkpoint() -> None:
    """Sign a checkpoint of the current tree (beat, every minute; a no-op when nothing changed)."""

    ledger_integrate_all()
    checkpoint()


# Retries wait at most a minute (a lost retry message holds nothing back for long), for about eight
# minutes in all. A checkpoint a witness never received is superseded by the next one it does: that
# one covers every earlier entry, and a consistency proof links it to any older checkpoint.
@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=30, retry_backoff_max=60, retry_jitter=True,
             max_retries=8, time_limit=120, soft_time_limit=110)
def ledger_checkpoint_publish(checkpoint_id: int) -> list[str]:
    """Copy a signed checkpoint outside the host (witness directory, HTTP witness, S3 object lock)."""

    return publish(checkpoint_id=checkpoint_id)
