"""The happy path end to end through the services: request, approve twice, excepted, expire."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.exceptions.models import ExceptionRequest
from apps.exceptions.services import exception_approve, exception_expire
from apps.ledger.models import PendingEntry
from tests.exceptions.conftest import control_status

pytestmark = pytest.mark.django_db


def test_high_tier_exception_is_approved_by_risk_owner_and_compliance_officer_then_expires(
    make_request, owners, control, system, fresh
):
    req = make_request("high")
    assert req.status == ExceptionRequest.Status.PENDING
    exception_approve(request_id=req.pk, approver=owners["risk_owner"], reauthenticated_at=fresh)
    req.refresh_from_db()
    assert req.status == ExceptionRequest.Status.PENDING
    assert control_status(control, system) == {"missing"}
    exception_approve(request_id=req.pk, approver=owners["compliance"], reauthenticated_at=fresh)
    req.refresh_from_db()
    assert req.status == ExceptionRequest.Status.APPROVED
    assert control_status(control, system) == {"excepted"}
    assert req.frozen_state["results"][0]["status"] == "missing"

    assert exception_expire(request_id=req.pk, now=req.expires_at + timedelta(seconds=1))
    req.refresh_from_db()
    assert req.status == ExceptionRequest.Status.EXPIRED
    assert control_status(control, system) == {"missing"}
    actions = list(
        PendingEntry.objects.filter(object_type="exceptions.exceptionrequest", object_id=str(req.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "exception.created",
        "exception.submitted",
        "exception.approval_recorded",
        "exception.approval_recorded",
        "exception.approved",
        "exception.expired",
    ]
    assert timezone.now() < req.expires_at + timedelta(days=1)
