from celery import shared_task


@shared_task(acks_late=True, time_limit=300, soft_time_limit=290)
def sessions_clear() -> None:
    """Delete expired sessions (beat, hourly): an ended session leaves no usable row."""
    from apps.accounts.services import sessions_clear as clear

    clear()
