"""Celery wrappers of the exceptions services: no arguments or ids in, one service call."""

from celery import shared_task
from django.db import DatabaseError

from apps.exceptions.services import exception_check_material_changes as check
from apps.exceptions.services import exception_expire_due as expire_due
from apps.exceptions.services import exception_metrics_snapshot as snapshot
from apps.exceptions.services import exception_reminders_send as send


@shared_task(acks_late=True, time_limit=55, soft_time_limit=50, autoretry_for=(DatabaseError,), max_retries=2)
def exception_expire_due() -> list[int]:
    """Beat, every minute: expire due exceptions and re-evaluate what they covered (in this task)."""

    return expire_due()


@shared_task(acks_late=True, time_limit=55, soft_time_limit=50)
def exception_check_material_changes() -> list[int]:
    """Beat, every minute: send active exceptions whose approved state changed back to review."""

    return check()


@shared_task(acks_late=True, time_limit=300, soft_time_limit=290)
def exception_reminders_send() -> int:
    """Beat: expiry reminders (each lead time once) and reminders of requests waiting too long."""

    return send()


@shared_task(acks_late=True, time_limit=300, soft_time_limit=290)
def exception_metrics_snapshot() -> int:
    """Beat: today's exception metrics per system for the dashboard."""

    return snapshot()
