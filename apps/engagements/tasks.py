from celery import shared_task


@shared_task(acks_late=True, time_limit=120, soft_time_limit=110)
def engagement_end_due() -> int:
    """Record `engagement.ended` for engagements whose access window closed (beat, every minute)."""
    from apps.engagements.services import engagement_end_due as end_due

    return end_due()
