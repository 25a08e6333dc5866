"""The REST API: the same services, so the same rules; every SoD denial answers 403 with a reason."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.exceptions.models import Approval, ExceptionRequest
from tests.conftest import TEST_PASSWORD
from tests.exceptions.conftest import CONTROL, control_status

pytestmark = pytest.mark.django_db
Status = ExceptionRequest.Status


def client_for(user):
    c = APIClient()
    c.force_login(user)
    return c


def _approve(user, req, **body):
    req.refresh_from_db()
    body.setdefault("digest", req.digest())  # the API requires the digest the approver reviewed
    return client_for(user).post(
        f"/api/v1/exceptions/{req.pk}/approve", {"password": TEST_PASSWORD, **body}, format="json"
    )


def test_engineer_requests_and_the_chain_approves_through_the_api(owners, system, control):
    body = {
        "control": CONTROL,
        "system": system.slug,
        "likelihood": 3,
        "impact": 4,
        "submit": True,
        "justification": "The DPIA is being rewritten by the new DPO this quarter.",
        "compensating_controls": "Data minimised; access limited to two analysts.",
        "expires_at": (timezone.now() + timedelta(days=10)).isoformat(),
    }
    r = client_for(owners["engineer"]).post("/api/v1/exceptions/request", body, format="json")
    assert r.status_code == 201, r.json()
    data = r.json()
    assert data["tier"] == "high" and data["status"] == "pending"
    assert [s["slot"] for s in data["chain"]] == ["system_risk_owner", "compliance_officer"]
    req = ExceptionRequest.objects.get(pk=data["id"])
    assert _approve(owners["risk_owner"], req, digest=data["digest"]).status_code == 200
    r = _approve(owners["compliance"], req, comment="ok")
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert control_status(control, system) == {"excepted"}
    listed = client_for(owners["auditor"]).get("/api/v1/exceptions")
    assert listed.status_code == 200 and listed.json()["count"] == 0  # the auditor has no engagement


def test_duration_over_the_tier_cap_is_a_400_naming_the_field(owners, system, control):
    body = {
        "control": CONTROL,
        "system": system.slug,
        "likelihood": 5,
        "impact": 5,
        "justification": "x" * 30,
        "compensating_controls": "y" * 30,
        "expires_at": (timezone.now() + timedelta(days=20)).isoformat(),
    }
    r = client_for(owners["engineer"]).post("/api/v1/exceptions/request", body, format="json")
    assert r.status_code == 400 and "at most 14 days" in r.json()["error"]


def test_requester_cannot_approve_through_the_api(make_request, owners):
    req = make_request("low", actor=owners["risk_owner"])
    r = _approve(owners["risk_owner"], req)
    assert r.status_code == 403 and "requester" in r.json()["error"]


def test_same_person_twice_is_refused_through_the_api(make_request, owners):
    req = make_request("high")
    assert _approve(owners["risk_owner"], req).status_code == 200
    r = _approve(owners["risk_owner"], req)
    assert r.status_code == 403 and "one slot" in r.json()["error"]


def test_risk_owner_of_another_system_is_refused_through_the_api(make_request, owners):
    req = make_request("low")
    r = _approve(owners["other_risk_owner"], req)
    assert r.status_code == 403 and "hold none" in r.json()["error"]


@pytest.mark.parametrize("who", ["engineer", "admin"])
def test_roles_outside_the_chain_are_refused_through_the_api(make_request, owners, who):
    req = make_request("high", actor=owners["compliance"])
    assert _approve(owners[who], req).status_code == 403
    assert not Approval.objects.exists()


def test_approval_without_reauthentication_is_refused(make_request, owners):
    req = make_request("low")
    r = client_for(owners["risk_owner"]).post(
        f"/api/v1/exceptions/{req.pk}/approve", {"digest": req.digest()}, format="json"
    )
    assert r.status_code == 403 and "Re-authenticate" in r.json()["error"]
    r = _approve(owners["risk_owner"], req, password="wrong-password-here")
    assert r.status_code == 403 and "password" in r.json()["error"]


def test_auditors_cannot_see_or_decide(make_request, owners):
    req = make_request("low")
    assert client_for(owners["auditor"]).get(f"/api/v1/exceptions/{req.pk}").status_code == 404
    assert _approve(owners["auditor"], req).status_code == 404


def test_approving_a_rejected_request_is_a_conflict(make_request, owners):
    req = make_request("high")
    r = client_for(owners["compliance"]).post(
        f"/api/v1/exceptions/{req.pk}/reject",
        {"comment": "No.", "password": TEST_PASSWORD, "digest": req.digest()},
        format="json",
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert _approve(owners["risk_owner"], req).status_code == 409


def test_update_revoke_renew_inbox_and_policy(make_request, owners):
    req = make_request("low")
    c = client_for(owners["engineer"])
    r = c.post(
        f"/api/v1/exceptions/{req.pk}/update", {"justification": "A longer and better justification."}, format="json"
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    inbox = client_for(owners["risk_owner"]).get("/api/v1/exceptions/inbox").json()
    assert [i["id"] for i in inbox] == [req.pk]
    assert client_for(owners["engineer"]).get("/api/v1/exceptions/inbox").status_code == 403
    _approve(owners["risk_owner"], req)
    renew = c.post(
        f"/api/v1/exceptions/{req.pk}/renew",
        {"expires_at": (timezone.now() + timedelta(days=60)).isoformat()},
        format="json",
    )
    assert renew.status_code == 201 and renew.json()["renewal_of"] == req.pk
    assert c.post(f"/api/v1/exceptions/{req.pk}/revoke", {"reason": "x"}, format="json").status_code == 403
    r = client_for(owners["compliance"]).post(f"/api/v1/exceptions/{req.pk}/revoke", {"reason": "x"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    policy = c.get("/api/v1/exceptions/policy").json()
    assert policy["tiers"]["critical"]["max_days"] == 14


def test_the_schema_documents_every_exception_operation(admin_client):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for op in (
        "exceptions_list",
        "exceptions_request",
        "exceptions_approve",
        "exceptions_reject",
        "exceptions_revoke",
        "exceptions_renew",
        "exceptions_update",
        "exceptions_submit",
        "exceptions_inbox",
        "exceptions_detail",
    ):
        assert op in schema, op
