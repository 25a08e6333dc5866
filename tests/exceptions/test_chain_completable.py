"""Issue 18, hole 2: who clicks first never leaves a critical exception stuck for good."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from apps.accounts.roles import Role
from apps.exceptions.chain import chain_stuck_reason
from apps.exceptions.models import Approval, ExceptionRequest
from apps.exceptions.services import exception_approve, exception_executive_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def ciso(make_user, owners, system):
    """A risk owner of the system who is also the only designated executive."""
    ciso = make_user(Role.RISK_OWNER, username="ciso")
    exception_executive_set(user=owners["executive"], designated=False, actor="system:test")
    exception_executive_set(user=ciso, designated=True, actor="system:test")
    system.risk_owners.set([ciso, owners["risk_owner"]])
    return ciso


def test_the_only_executive_approving_first_as_risk_owner_does_not_strand_the_chain(make_request, owners, ciso, fresh):
    req = make_request("critical")

    exception_approve(request_id=req.pk, approver=ciso, reauthenticated_at=fresh)
    exception_approve(request_id=req.pk, approver=owners["compliance"], reauthenticated_at=fresh)
    req = exception_approve(request_id=req.pk, approver=owners["risk_owner"], reauthenticated_at=fresh)

    assert req.status == ExceptionRequest.Status.APPROVED
    slots = dict(Approval.objects.filter(request=req).values_list("approver__username", "slot"))
    assert slots == {"ciso": "executive", "co": "compliance_officer", "ro": "system_risk_owner"}


def test_choosing_a_place_that_makes_the_chain_impossible_is_refused_naming_who_could_complete_it(
    make_request, owners, ciso, fresh
):
    req = make_request("critical")

    with pytest.raises(PermissionDenied, match="impossible to complete") as refused:
        exception_approve(request_id=req.pk, approver=ciso, reauthenticated_at=fresh, slot="system_risk_owner")

    assert "nobody else can fill designated executive" in str(refused.value)
    assert "Decide as designated executive instead" in str(refused.value)
    assert not Approval.objects.filter(request=req).exists()


def test_a_request_nobody_eligible_remains_for_says_why(make_request, owners, ciso, fresh):
    req = make_request("critical")
    assert chain_stuck_reason(req) == ""
    exception_executive_set(user=ciso, designated=False, actor="system:test")

    reason = chain_stuck_reason(req)

    assert "designated executive" in reason and "eligible: nobody" in reason


def test_the_compliance_officers_inbox_shows_a_stuck_request_with_the_reason(client, make_request, owners, ciso):
    req = make_request("critical")
    exception_executive_set(user=ciso, designated=False, actor="system:test")  # nobody is an executive now

    client.force_login(owners["compliance"])
    page = client.get("/exceptions/inbox/").content.decode()

    assert "Stuck: nobody eligible remains to complete" in page
    assert req.reference in page and "designated executive still needed, eligible: nobody" in page
    client.force_login(owners["risk_owner"])
    assert "Stuck:" not in client.get("/exceptions/inbox/").content.decode()  # for compliance officers only
