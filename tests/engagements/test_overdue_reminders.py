"""Overdue evidence requests: the assignee and the auditor are reminded once per request per day (beat)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from apps.accounts.models import Notification
from apps.engagements.models import Engagement, EvidenceRequest, EvidenceRequestReminder
from apps.engagements.services import evidence_request_create, evidence_request_remind_overdue
from apps.ledger.models import PendingEntry

pytestmark = pytest.mark.django_db


def _request(world, engineer, *, due_in_days: int, title="Change approvals"):
    req = evidence_request_create(
        actor=world.auditor_in,
        engagement_id=world.engagement.pk,
        system_id=world.system_in.pk,
        control_id="soc2-cc8-1",
        title=title,
        due_date=timezone.localdate() + timedelta(days=5),
        assignee=engineer,
    )
    # The due date passes: moved by hand, as time would (the service refuses nothing about past dates).
    EvidenceRequest.objects.filter(pk=req.pk).update(due_date=timezone.localdate() + timedelta(days=due_in_days))
    return req


def _reminders(user) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user, title__startswith="Overdue evidence request"))


def test_an_overdue_request_reminds_the_assignee_and_the_auditor_once_a_day(world, engineer):
    overdue = _request(world, engineer, due_in_days=-2)
    _request(world, engineer, due_in_days=1, title="Not due yet")
    # Today at 09:00, so that 50 minutes later is still today whenever the suite runs (from 23:10 on it
    # was tomorrow, and the request was rightly reminded again).
    now = timezone.localtime().replace(hour=9, minute=0, second=0, microsecond=0)

    assert evidence_request_remind_overdue(now=now) == 1
    assert evidence_request_remind_overdue(now=now) == 0  # the same day again: nothing more
    assert evidence_request_remind_overdue(now=now + timedelta(minutes=50)) == 0

    for person in (engineer, world.auditor_in):
        [note] = _reminders(person)
        assert "soc2 CC8.1" in note.title and "2 days ago" in note.body
        assert note.url == overdue.get_absolute_url()
    reminder = EvidenceRequestReminder.objects.get()
    assert reminder.request_id == overdue.pk and reminder.day == timezone.localdate(now)
    assert reminder.recipients == sorted([engineer.username, world.auditor_in.username])
    assert PendingEntry.objects.filter(action="evidence_request.reminded", object_id=str(overdue.pk)).count() == 1

    # the next day it is reminded again (still overdue), and recorded again
    assert evidence_request_remind_overdue(now=now + timedelta(days=1)) == 1
    assert len(_reminders(engineer)) == 2
    assert EvidenceRequestReminder.objects.filter(request=overdue).count() == 2


def test_answered_requests_and_ended_engagements_are_not_reminded(world, engineer):
    answered = _request(world, engineer, due_in_days=-3)
    EvidenceRequest.objects.filter(pk=answered.pk).update(status=EvidenceRequest.Status.ANSWERED)
    assert evidence_request_remind_overdue() == 0

    EvidenceRequest.objects.filter(pk=answered.pk).update(status=EvidenceRequest.Status.REOPENED)
    Engagement.objects.filter(pk=world.engagement.pk).update(access_end=timezone.now())
    assert evidence_request_remind_overdue() == 0  # nobody can act on it any more
    assert not _reminders(engineer) and not EvidenceRequestReminder.objects.exists()


def test_the_reminder_task_is_on_the_beat_schedule_with_an_expiry_under_its_interval():
    entry = settings.CELERY_BEAT_SCHEDULE["evidence-request-remind-overdue"]
    assert entry["task"] == "apps.engagements.tasks.evidence_request_remind_overdue"
    assert entry["options"]["expires"] < entry["schedule"]
    from compliance_portal.celery import app

    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
