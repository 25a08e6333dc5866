"""Issue 18, hole 4: refused decision attempts on exceptions are security events in the ledger."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from apps.exceptions.models import Approval
from apps.exceptions.services import exception_approve
from tests.approvals.helpers import ledger_entries

REFUSED = "security.decision_refused"


def client_for(user):
    c = APIClient()
    c.force_login(user)
    return c


@pytest.mark.django_db
def test_self_approval_is_refused_and_recorded_with_who_what_and_why(make_request, owners, fresh):
    req = make_request("high")

    with pytest.raises(PermissionDenied, match="requester"):
        exception_approve(request_id=req.pk, approver=owners["engineer"], reauthenticated_at=fresh)

    assert not Approval.objects.filter(request=req).exists()
    [event] = ledger_entries(action=REFUSED, object_id=req.pk)
    assert event["actor"]["id"] == str(owners["engineer"].pk)
    assert event["data"]["attempt"] == "exception.approve"
    assert event["data"]["rule"] == "separation_of_duties"
    assert "requester" in event["data"]["why"]


@pytest.mark.django_db
def test_a_wrong_password_at_step_up_is_recorded(make_request, owners):
    req = make_request("high")

    response = client_for(owners["risk_owner"]).post(
        f"/api/v1/exceptions/{req.pk}/approve", {"password": "not-my-password", "digest": req.digest()}, format="json"
    )

    assert response.status_code == 403
    [event] = ledger_entries(action="security.reauth_failed")
    assert event["actor"]["id"] == str(owners["risk_owner"].pk)
    assert event["object"]["id"] == str(req.pk)
    assert "password" in event["data"]["why"]


@pytest.mark.django_db
def test_a_wrong_password_on_the_reauthentication_page_is_recorded(client, owners):
    client.force_login(owners["risk_owner"])

    response = client.post("/exceptions/reauthenticate/", {"password": "not-my-password"})

    assert response.status_code in (200, 400)
    [event] = ledger_entries(action="security.reauth_failed")
    assert event["actor"]["id"] == str(owners["risk_owner"].pk)


@pytest.mark.django_db
def test_a_stale_digest_is_refused_and_recorded(make_request, owners, fresh):
    req = make_request("high")
    seen = "0" * 64  # the digest of a version that is no longer current

    with pytest.raises(ValidationError, match="changed while you were reading"):
        exception_approve(request_id=req.pk, approver=owners["risk_owner"], reauthenticated_at=fresh, digest=seen)

    [event] = ledger_entries(action=REFUSED, object_id=req.pk)
    assert event["data"]["rule"] == "stale_digest" and event["data"]["digest"] == seen


@pytest.mark.django_db(transaction=True)
def test_the_refusal_entry_commits_while_the_decision_rolls_back(make_request, owners, fresh):
    req = make_request("high")

    with pytest.raises(PermissionDenied):
        exception_approve(request_id=req.pk, approver=owners["engineer"], reauthenticated_at=fresh)

    # No transaction is open around this test: what is visible now was committed.
    assert not Approval.objects.filter(request=req).exists()
    assert len(ledger_entries(action=REFUSED, object_id=req.pk)) == 1
