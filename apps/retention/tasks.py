from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(OSError,), retry_backoff=60, max_retries=3)
def retention_dispose_due() -> int:
    """Beat: dispose of raw bodies past retention, except under legal hold."""
    from apps.retention.services import retention_dispose_due  # noqa: PLC0415 - the task bears the service's name

    return retention_dispose_due()
