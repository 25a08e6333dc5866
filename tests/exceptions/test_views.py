"""HTML pages: SoD denials through the views, re-authentication, register filters and CSV, query bounds."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.approvals.reauth import SESSION_KEY
from apps.exceptions.models import Approval, ExceptionRequest
from tests.conftest import TEST_PASSWORD
from tests.exceptions.conftest import CONTROL, approve_chain

pytestmark = pytest.mark.django_db
Status = ExceptionRequest.Status


def reauthed(client, user):
    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = timezone.now().timestamp()
    session.save()
    return client


def decide(client, req, decision="approve", comment=""):
    return client.post(
        f"/exceptions/{req.pk}/decide/", {"decision": decision, "comment": comment, "digest": req.digest()}
    )


def test_requester_cannot_approve_through_the_page(client, make_request, owners):
    req = make_request("low", actor=owners["risk_owner"])
    r = decide(reauthed(client, owners["risk_owner"]), req)
    assert r.status_code == 403 and b"requester cannot approve" in r.content
    assert not Approval.objects.exists()


def test_same_person_twice_is_refused_through_the_page(client, make_request, owners):
    req = make_request("high")
    c = reauthed(client, owners["risk_owner"])
    assert decide(c, req).status_code == 302
    r = decide(c, req)
    assert r.status_code == 403 and b"one person fills one slot" in r.content


def test_other_systems_risk_owner_is_refused_through_the_page(client, make_request, owners):
    req = make_request("low")
    r = decide(reauthed(client, owners["other_risk_owner"]), req)
    assert r.status_code == 403 and b"hold none" in r.content


@pytest.mark.parametrize("who", ["engineer", "admin"])
def test_roles_outside_the_chain_are_refused_through_the_page(client, make_request, owners, who):
    req = make_request("high", actor=owners["compliance"])
    assert decide(reauthed(client, owners[who]), req).status_code == 403


def test_without_reauthentication_the_page_asks_for_it_and_the_decision_is_refused(client, make_request, owners):
    req = make_request("low")
    client.force_login(owners["risk_owner"])
    page = client.get(f"/exceptions/{req.pk}/").content.decode()
    assert "Re-authenticate to decide" in page
    r = decide(client, req)
    assert r.status_code == 403 and b"Re-authenticate" in r.content


def test_reauthentication_page_checks_the_password_then_allows_sign_off(client, make_request, owners, control, system):
    req = make_request("low")
    client.force_login(owners["risk_owner"])
    r = client.post("/exceptions/reauthenticate/", {"password": "nope-not-it", "next": f"/exceptions/{req.pk}/"})
    assert r.status_code == 400 and b"not right" in r.content
    r = client.post("/exceptions/reauthenticate/", {"password": TEST_PASSWORD, "next": f"/exceptions/{req.pk}/"})
    assert r.status_code == 302 and r["Location"] == f"/exceptions/{req.pk}/"
    assert "Approve" in client.get(f"/exceptions/{req.pk}/").content.decode()
    assert decide(client, req, comment="Fine until the DPIA lands.").status_code == 302
    req.refresh_from_db()
    assert req.status == Status.APPROVED


def test_reauthentication_refuses_an_outside_next_url(client, owners):
    client.force_login(owners["risk_owner"])
    r = client.post("/exceptions/reauthenticate/", {"password": TEST_PASSWORD, "next": "https://evil.example/"})
    assert r["Location"] == "/exceptions/inbox/"


def test_request_form_previews_tier_cap_and_chain_with_htmx(client, owners, system, control):
    client.force_login(owners["engineer"])
    assert client.get(f"/exceptions/new/?system={system.slug}&control={CONTROL}").status_code == 200
    r = client.post(
        "/exceptions/new/",
        {
            "_preview": "1",
            "system": system.slug,
            "control": CONTROL,
            "likelihood": "5",
            "impact": "5",
            "expires_on": (timezone.now() + timedelta(days=30)).date().isoformat(),
            "justification": "x" * 30,
            "compensating_controls": "y" * 30,
        },
        HTTP_HX_REQUEST="true",
    )
    body = r.content.decode()
    assert r.status_code == 200 and 'data-tier="critical"' in body and "14 days" in body
    assert "Designated executive" in body and "at most 14 days" in body and "<html" not in body


def test_request_form_creates_and_submits(client, owners, system, control):
    client.force_login(owners["engineer"])
    r = client.post(
        "/exceptions/new/",
        {
            "action": "submit",
            "system": system.slug,
            "control": CONTROL,
            "likelihood": "1",
            "impact": "1",
            "expires_on": (timezone.now() + timedelta(days=30)).date().isoformat(),
            "justification": "The DPIA is being rewritten this quarter.",
            "compensating_controls": "Access limited to two.",
        },
    )
    req = ExceptionRequest.objects.get()
    assert r.status_code == 302 and req.status == Status.PENDING and req.tier == "low"


def test_auditor_and_admin_cannot_open_the_request_form(client, owners):
    for who in ("auditor", "admin"):
        client.force_login(owners[who])
        assert client.get("/exceptions/new/").status_code == 403


def test_register_filters_and_exports_csv(client, make_request, owners, django_assert_max_num_queries):
    req = approve_chain(make_request("high", days=5), owners)
    client.force_login(owners["compliance"])
    with django_assert_max_num_queries(25):
        page = client.get("/exceptions/?expiring_within=7").content.decode()
    assert req.reference in page
    results = client.get("/exceptions/?tier=low", HTTP_HX_REQUEST="true").content.decode()  # the #results partial
    assert "No exception matches" in results and req.reference not in results
    csv = b"".join(client.get("/exceptions/?format=csv").streaming_content).decode("utf-8-sig")
    assert csv.splitlines()[0].startswith("reference,status,tier") and req.digest() in csv


def test_detail_shows_timeline_frozen_state_and_inbox_lists_waiting_requests(client, make_request, owners):
    req = make_request("high")
    client.force_login(owners["risk_owner"])
    inbox = client.get("/exceptions/inbox/").content.decode()
    assert req.reference in inbox and "Risk owner of the system" in inbox
    approve_chain(req, owners)
    page = client.get(f"/exceptions/{req.pk}/").content.decode()
    assert "exception.approved" in page and "State at approval" in page and "by this exception" in page
    client.force_login(owners["engineer"])
    assert client.get("/exceptions/inbox/").status_code == 403
