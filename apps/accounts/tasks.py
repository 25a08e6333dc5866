from celery import shared_task
from django.conf import settings

from apps.accounts.notifications import notification_email as send
from apps.accounts.services import sessions_clear as clear


@shared_task(acks_late=True, time_limit=300, soft_time_limit=290)
def sessions_clear() -> None:
    """Delete expired sessions (beat, hourly): an ended session leaves no usable row."""

    clear()


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=30, retry_jitter=True, max_retries=5,
             time_limit=120, soft_time_limit=110)
def notification_email(notification_ids: list[int]) -> None:
    """E-mail notifications (SMTP errors are OSErrors: retried with backoff)."""


    send(notification_ids=notification_ids, base_url=settings.PORTAL_BASE_URL)
