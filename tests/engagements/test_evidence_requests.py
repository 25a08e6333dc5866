"""The PBC list: auditors ask, the system side answers (linking or uploading), auditors accept or reopen."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from apps.common.states import InvalidTransition
from apps.engagements.models import EvidenceRequest
from apps.engagements.services import (
    evidence_request_accept,
    evidence_request_answer,
    evidence_request_create,
    evidence_request_reopen,
)
from apps.ingest.models import Receipt

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_open(world, engineer):
    return evidence_request_create(
        actor=world.auditor_in,
        engagement_id=world.engagement.pk,
        system_id=world.system_in.pk,
        control_ref="soc2 CC8.1",
        title="Change approvals",
        due_date=timezone.localdate() + timedelta(days=5),
        assignee=engineer,
    )


def test_transitions_are_data_on_the_model():
    s = EvidenceRequest.Status
    assert EvidenceRequest.TRANSITIONS[s.OPEN] == {s.ANSWERED}
    assert EvidenceRequest.TRANSITIONS[s.ANSWERED] == {s.ACCEPTED, s.REOPENED}


def test_the_assignee_is_notified_and_answers_by_linking_evidence(
    world, request_open, engineer, django_capture_on_commit_callbacks
):
    assert engineer.notifications.filter(title__contains="CC8.1").exists()
    req = evidence_request_answer(
        actor=engineer, request_id=request_open.pk, evidence_ids=[world.evidence_in.pk], note="approvals export"
    )
    assert req.status == EvidenceRequest.Status.ANSWERED
    assert world.auditor_in.notifications.filter(title__startswith="Evidence request answered").exists()


def test_evidence_outside_the_window_cannot_answer(world, request_open, engineer):
    with pytest.raises(ValidationError):
        evidence_request_answer(actor=engineer, request_id=request_open.pk, evidence_ids=[world.evidence_old.pk])


def test_answering_with_an_upload_goes_through_the_ingest_service(
    world, request_open, engineer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        evidence_request_answer(
            actor=engineer,
            request_id=request_open.pk,
            upload={
                "body": b"approval log",
                "filename": "approvals.txt",
                "content_type": "text/plain",
                "effective_at": timezone.now() - timedelta(days=3),
            },
        )
    receipt = Receipt.objects.get(filename="approvals.txt")
    assert receipt.system_id == world.system_in.pk and receipt.state == Receipt.State.QUEUED
    assert callbacks  # the parse task is queued after commit


def test_auditors_cannot_answer_and_engineers_cannot_accept(world, request_open, engineer):
    with pytest.raises(PermissionDenied):
        evidence_request_answer(actor=world.auditor_in, request_id=request_open.pk, evidence_ids=[world.evidence_in.pk])
    evidence_request_answer(actor=engineer, request_id=request_open.pk, evidence_ids=[world.evidence_in.pk])
    with pytest.raises(PermissionDenied):
        evidence_request_accept(actor=engineer, request_id=request_open.pk)


def test_reopen_then_answer_then_accept(world, request_open, engineer):
    with pytest.raises(InvalidTransition):
        evidence_request_accept(actor=world.auditor_in, request_id=request_open.pk)
    evidence_request_answer(actor=engineer, request_id=request_open.pk, evidence_ids=[world.evidence_in.pk])
    evidence_request_reopen(actor=world.auditor_in, request_id=request_open.pk, reason="Q4 is missing")
    assert engineer.notifications.filter(title__startswith="Evidence request reopened").exists()
    evidence_request_answer(actor=engineer, request_id=request_open.pk, evidence_ids=[world.evidence_in.pk])
    req = evidence_request_accept(actor=world.auditor_in, request_id=request_open.pk)
    assert req.status == EvidenceRequest.Status.ACCEPTED


def test_overdue_requests_stand_out(client, world, request_open, engineer):
    EvidenceRequest.objects.filter(pk=request_open.pk).update(due_date=timezone.localdate() - timedelta(days=1))
    client.force_login(engineer)
    body = client.get("/engagements/requests/").content.decode()
    assert 'class="overdue"' in body and "Overdue" in body


def test_requests_need_an_open_engagement(world, engineer):
    with pytest.raises(PermissionDenied):
        evidence_request_create(
            actor=world.auditor_ended,
            engagement_id=world.engagement_ended.pk,
            system_id=world.system_in.pk,
            control_ref="x",
            title="y",
            due_date=timezone.localdate(),
            assignee=engineer,
        )
