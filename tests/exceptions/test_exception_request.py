"""Requests: who may ask, what is validated (duration capped by tier), duplicates, renewal, revoke."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from apps.common.states import InvalidTransition
from apps.exceptions.models import ExceptionRequest
from apps.exceptions.services import (
    exception_approve,
    exception_renew,
    exception_revoke,
    exception_submit,
)
from apps.ledger.models import PendingEntry
from tests.exceptions.conftest import control_status

pytestmark = pytest.mark.django_db
Status = ExceptionRequest.Status


@pytest.mark.parametrize("tier,days", [("low", 180), ("medium", 90), ("high", 30), ("critical", 14)])
def test_duration_is_capped_by_tier(make_request, tier, days):
    make_request(tier, days=days - 1)
    ExceptionRequest.objects.all().update(status=Status.REJECTED)
    with pytest.raises(ValidationError, match=f"at most {days} days"):
        make_request(tier, days=days + 1)


def test_expiry_in_the_past_is_refused(make_request):
    with pytest.raises(ValidationError, match="future"):
        make_request("low", days=-1)


def test_short_justification_is_refused(make_request):
    with pytest.raises(ValidationError) as exc:
        make_request("low", justification="because", compensating_controls="none")
    assert set(exc.value.message_dict) == {"justification", "compensating_controls"}


@pytest.mark.parametrize("who", ["other_risk_owner", "auditor", "admin"])
def test_only_engineers_owners_and_compliance_officers_of_the_system_request(make_request, owners, who):
    with pytest.raises((PermissionDenied, ValidationError)):
        make_request("low", actor=owners[who])
    assert not ExceptionRequest.objects.exists()


def test_an_engineer_not_owning_the_system_cannot_request(make_request, make_user):
    with pytest.raises(PermissionDenied):
        make_request("low", actor=make_user("engineer"))


def test_a_second_open_request_for_the_same_scope_is_refused(make_request):
    make_request("low")
    with pytest.raises(ValidationError, match="already covers"):
        make_request("low")


def test_a_passing_control_cannot_be_excepted(make_request, control, system):
    from apps.policy.models import ControlResult

    ControlResult.objects.filter(control=control, system=system).update(status="pass")
    with pytest.raises(ValidationError, match="passes"):
        make_request("low")


def test_draft_then_submit_is_ledgered(make_request, owners):
    req = make_request("low", submit=False)
    assert req.status == Status.DRAFT
    exception_submit(request_id=req.pk, actor=owners["engineer"])
    req.refresh_from_db()
    assert req.status == Status.PENDING and req.submitted_at
    assert PendingEntry.objects.filter(action="exception.submitted", object_id=str(req.pk)).exists()


def test_someone_else_cannot_submit_a_draft(make_request, owners):
    req = make_request("low", submit=False)
    with pytest.raises(PermissionDenied):
        exception_submit(request_id=req.pk, actor=owners["risk_owner"])


def test_revoke_is_for_compliance_officers_with_a_reason(make_request, owners, control, system):
    req = make_request("low")
    exception_approve(request_id=req.pk, approver=owners["risk_owner"], reauthenticated_at=timezone.now())
    assert control_status(control, system) == {"excepted"}
    with pytest.raises(PermissionDenied):
        exception_revoke(request_id=req.pk, actor=owners["risk_owner"], reason="changed my mind")
    with pytest.raises(ValidationError):
        exception_revoke(request_id=req.pk, actor=owners["compliance"], reason="")
    exception_revoke(request_id=req.pk, actor=owners["compliance"], reason="Regulator asked for the DPIA now.")
    req.refresh_from_db()
    assert req.status == Status.REVOKED and req.revoked_by == owners["compliance"]
    assert control_status(control, system) == {"missing"}
    with pytest.raises(InvalidTransition):
        exception_revoke(request_id=req.pk, actor=owners["compliance"], reason="again")


def test_renewal_is_a_new_linked_request_through_the_whole_chain(make_request, owners, control, system):
    req = make_request("high")
    for who in ("risk_owner", "compliance"):
        exception_approve(request_id=req.pk, approver=owners[who], reauthenticated_at=timezone.now())
    renewal = exception_renew(
        request_id=req.pk, actor=owners["engineer"], expires_at=timezone.now() + timedelta(days=20)
    )
    assert renewal.renewal_of == req and renewal.status == Status.PENDING and renewal.pk != req.pk
    assert renewal.approvals.count() == 0
    with pytest.raises(ValidationError):
        exception_renew(request_id=req.pk, actor=owners["engineer"], expires_at=timezone.now() + timedelta(days=20))
    assert PendingEntry.objects.filter(action="exception.renewal_requested", object_id=str(req.pk)).exists()
