"""Notifications: an in-app list per person, and the same message by e-mail after commit.

Any app tells people something through `notification_send()`; the e-mail goes out from a
Celery task so a slow or failing mail server never holds up (or rolls back) the change.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.models import Notification, User


def notification_send(*, recipients: Iterable[User], title: str, body: str = "", url: str = "") -> list[Notification]:
    """Add a notification to each recipient's list and e-mail those with an address (after commit)."""
    now = timezone.now()
    unique = {user.pk: user for user in recipients if user is not None and user.is_active}
    rows = Notification.objects.bulk_create(
        [
            Notification(recipient=user, title=title[:300], body=body, url=url[:500], created_at=now)
            for user in unique.values()
        ]
    )
    ids = [row.pk for row in rows if row.recipient.email]
    if ids:
        from apps.accounts.tasks import notification_email as notification_email_task  # noqa: PLC0415 - circular: apps.accounts.tasks imports this module

        transaction.on_commit(lambda: notification_email_task.delay(ids), robust=True)
    return rows


def notification_email(*, notification_ids: list[int], base_url: str = "") -> int:
    """Send the e-mails of these notifications; returns how many were sent."""

    sent = 0
    for note in Notification.objects.filter(pk__in=notification_ids).select_related("recipient"):
        link = f"\n\n{base_url}{note.url}" if note.url else ""
        sent += send_mail(
            subject=f"[Compliance Portal] {note.title}",
            message=f"{note.body}{link}".strip() or note.title,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[note.recipient.email],
        )
    return sent


def notification_list_for_user(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-id")


def notification_unread_count(*, user: User) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def notification_mark_read(*, user: User, notification_id: int | None = None) -> int:
    """Mark one (or, with None, every) unread notification of the user read."""
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_id is not None:
        qs = qs.filter(pk=notification_id)
    return qs.update(read_at=timezone.now())
