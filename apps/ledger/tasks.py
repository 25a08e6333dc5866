from celery import shared_task


@shared_task(acks_late=True, time_limit=60, soft_time_limit=55)
def ledger_integrate() -> int:
    """Safety net for the sequencer loop: sequence whatever is pending."""
    from apps.ledger.services import ledger_integrate_all

    return ledger_integrate_all()


@shared_task(acks_late=True, time_limit=60, soft_time_limit=55)
def ledger_checkpoint() -> None:
    """Sign a checkpoint of the current tree (beat, every minute; a no-op when nothing changed)."""
    from apps.ledger.services import ledger_checkpoint as checkpoint
    from apps.ledger.services import ledger_integrate_all

    ledger_integrate_all()
    checkpoint()
