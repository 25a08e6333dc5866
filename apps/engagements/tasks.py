from celery import shared_task

from apps.engagements.services import engagement_end_due as end_due
from apps.engagements.services import evidence_request_remind_overdue as remind_overdue


@shared_task(acks_late=True, time_limit=120, soft_time_limit=110)
def engagement_end_due() -> int:
    """Record `engagement.ended` for engagements whose access window closed (beat, every minute)."""

    return end_due()


@shared_task(acks_late=True, time_limit=300, soft_time_limit=280)
def evidence_request_remind_overdue() -> int:
    """Remind people of overdue evidence requests, once per request per day (beat, hourly)."""

    return remind_overdue()
