"""Reminders: each lead time once, e-mail and in-app, and approvers of requests waiting too long."""

from datetime import timedelta

import pytest
from django.core import mail

from apps.accounts.models import Notification
from apps.exceptions.models import ExceptionReminder
from apps.exceptions.services import exception_reminders_send
from tests.exceptions.conftest import approve_chain

pytestmark = pytest.mark.django_db


@pytest.fixture
def send_mail_now(monkeypatch, django_capture_on_commit_callbacks):
    """E-mails of notifications go out from a Celery task after commit: run that task's service here."""
    from apps.accounts import tasks
    from apps.accounts.notifications import notification_email

    monkeypatch.setattr(tasks.notification_email, "delay", lambda ids: notification_email(notification_ids=ids))

    def run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return run


def test_expiry_reminders_are_sent_once_per_lead_time(make_request, owners, settings, send_mail_now):
    settings.PORTAL_EXCEPTION_REMINDER_DAYS = [14, 7, 1]
    req = approve_chain(make_request("high", days=20), owners)
    mail.outbox.clear()
    assert send_mail_now(exception_reminders_send, now=req.expires_at - timedelta(days=15)) == 0
    assert send_mail_now(exception_reminders_send, now=req.expires_at - timedelta(days=13)) == 1
    assert send_mail_now(exception_reminders_send, now=req.expires_at - timedelta(days=13)) == 0
    assert send_mail_now(exception_reminders_send, now=req.expires_at - timedelta(days=10)) == 0
    assert send_mail_now(exception_reminders_send, now=req.expires_at - timedelta(days=6)) == 1
    assert send_mail_now(exception_reminders_send, now=req.expires_at - timedelta(hours=20)) == 1
    assert send_mail_now(exception_reminders_send, now=req.expires_at - timedelta(hours=2)) == 0
    keys = set(ExceptionReminder.objects.filter(request=req).values_list("key", flat=True))
    assert keys == {"expiry:14d", "expiry:7d", "expiry:1d"}
    # requester (engineer), both risk owners and the compliance officers are told; those with an address get e-mail.
    subjects = [m.subject for m in mail.outbox]
    assert len([s for s in subjects if "expires" in s]) == 3 * 3  # eng, ro and co have addresses
    assert {m.to[0] for m in mail.outbox} == {"eng@example.org", "ro@example.org", "co@example.org"}
    assert Notification.objects.filter(recipient=owners["risk_owner_2"], title__contains="expires").count() == 3


def test_a_short_exception_gets_only_the_nearest_reminder(make_request, owners, settings, send_mail_now):
    settings.PORTAL_EXCEPTION_REMINDER_DAYS = [14, 7, 1]
    req = approve_chain(make_request("low", days=5), owners)
    assert send_mail_now(exception_reminders_send, now=req.expires_at - timedelta(days=4)) == 1
    assert Notification.objects.filter(recipient=owners["engineer"], title__contains="expires").count() == 1
    assert send_mail_now(exception_reminders_send, now=req.expires_at - timedelta(days=3)) == 0


def test_approvers_are_reminded_of_a_request_waiting_too_long_once_per_period(
    make_request, owners, settings, send_mail_now
):
    settings.PORTAL_EXCEPTION_WAITING_REMINDER_HOURS = 48
    req = make_request("high")
    start = req.pending_since
    assert send_mail_now(exception_reminders_send, now=start + timedelta(hours=47)) == 0
    mail.outbox.clear()
    assert send_mail_now(exception_reminders_send, now=start + timedelta(hours=49)) == 1
    assert send_mail_now(exception_reminders_send, now=start + timedelta(hours=50)) == 0
    assert {m.to[0] for m in mail.outbox} == {"ro@example.org", "co@example.org"}
    assert owners["engineer"].email not in {m.to[0] for m in mail.outbox}  # the requester is not an approver
    assert send_mail_now(exception_reminders_send, now=start + timedelta(hours=97)) == 1


def test_an_expiry_reminder_rounds_days_up_and_reaches_compliance_officers(make_request, owners, settings):
    """Issue 18: "8 day(s)" for 8.99 days read as 8; compliance officers were never told."""
    settings.PORTAL_EXCEPTION_REMINDER_DAYS = [14]
    req = approve_chain(make_request("high", days=20), owners)

    exception_reminders_send(now=req.expires_at - timedelta(days=8, hours=23, minutes=45))

    titles = set(Notification.objects.filter(title__contains="expires").values_list("title", flat=True))
    assert titles == {f"{req.reference}: expires in 9 days ({req.expires_at:%Y-%m-%d})"}
    told = set(Notification.objects.filter(title__contains="expires").values_list("recipient__username", flat=True))
    assert {"co", "co2"} <= told and {"eng", "ro", "ro2"} <= told
