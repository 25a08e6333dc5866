"""Expiry with a controlled clock: on time, not before, once; results return to failing at once."""

from datetime import timedelta

import pytest

from apps.exceptions.models import ExceptionRequest
from apps.exceptions.selectors import exception_covering
from apps.exceptions.services import exception_expire_due
from apps.ledger.models import PendingEntry
from tests.exceptions.conftest import approve_chain, control_status

pytestmark = pytest.mark.django_db
Status = ExceptionRequest.Status


def test_exception_expires_at_its_expiry_and_not_a_second_before(make_request, owners, control, system):
    req = approve_chain(make_request("high", days=10), owners)
    assert control_status(control, system) == {"excepted"}
    assert exception_expire_due(now=req.expires_at - timedelta(seconds=1)) == []
    assert exception_covering(control_id=control.pk, system_id=system.pk, artifact_id=None, at=req.expires_at) is None
    assert exception_expire_due(now=req.expires_at) == [req.pk]
    req.refresh_from_db()
    assert req.status == Status.EXPIRED and req.ended_at == req.expires_at
    assert control_status(control, system) == {"missing"}
    assert PendingEntry.objects.filter(action="exception.expired", object_id=str(req.pk)).count() == 1
    assert PendingEntry.objects.filter(action="control_result.changed", actor_label__contains=req.reference).exists()
    assert exception_expire_due(now=req.expires_at + timedelta(days=1)) == []  # safe to run twice


def test_a_pending_request_past_its_expiry_expires_undecided(make_request):
    req = make_request("low", days=3)
    assert exception_expire_due(now=req.expires_at + timedelta(minutes=1)) == [req.pk]
    req.refresh_from_db()
    assert req.status == Status.EXPIRED


def test_covering_prefers_the_latest_expiry_and_respects_narrowing(make_request, owners, control, system):
    req = approve_chain(make_request("low", days=10), owners)
    at = req.expires_at - timedelta(days=1)
    assert exception_covering(control_id=control.pk, system_id=system.pk, artifact_id=None, at=at) == req.pk
    assert exception_covering(control_id=control.pk, system_id=system.pk, artifact_id=123, at=at) == req.pk
    ExceptionRequest.objects.filter(pk=req.pk).update(artifact_id=None, system_id=system.pk)
    other_control = control.pk + 1
    assert exception_covering(control_id=other_control, system_id=system.pk, artifact_id=None, at=at) is None
