"""Approvals: chains per tier, separation of duties, re-authentication, digests, voiding on edit."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from apps.common.states import InvalidTransition
from apps.exceptions.models import Approval, ExceptionRequest
from apps.exceptions.services import (
    ExceptionInput,
    exception_approve,
    exception_reject,
    exception_update,
)
from apps.ledger.models import PendingEntry
from tests.exceptions.conftest import CONTROL, control_status

pytestmark = pytest.mark.django_db
Status = ExceptionRequest.Status


def approve(req, user, at=None, **kw):
    return exception_approve(request_id=req.pk, approver=user, reauthenticated_at=at or timezone.now(), **kw)


@pytest.mark.parametrize(
    "tier,chain",
    [
        ("low", ["risk_owner"]),
        ("medium", ["risk_owner"]),
        ("high", ["risk_owner", "compliance"]),
        ("critical", ["risk_owner", "compliance", "executive"]),
    ],
)
def test_each_tier_is_approved_exactly_when_its_chain_is_complete(make_request, owners, control, system, tier, chain):
    req = make_request(tier)
    for i, who in enumerate(chain):
        assert req.status == Status.PENDING
        req = approve(req, owners[who])
        assert (req.status == Status.APPROVED) == (i == len(chain) - 1)
    assert control_status(control, system) == {"excepted"}


def test_requester_cannot_approve_own_exception(make_request, owners):
    req = make_request("low", actor=owners["risk_owner"])
    with pytest.raises(PermissionDenied, match="requester"):
        approve(req, owners["risk_owner"])
    assert not Approval.objects.exists()


def test_requester_cannot_reject_own_exception(make_request, owners):
    req = make_request("high", actor=owners["compliance"])
    with pytest.raises(PermissionDenied, match="requester"):
        exception_reject(
            request_id=req.pk, approver=owners["compliance"], comment="no", reauthenticated_at=timezone.now()
        )


def test_approving_twice_is_refused_for_the_same_person(make_request, owners):
    req = make_request("high")
    approve(req, owners["risk_owner"])
    with pytest.raises(PermissionDenied, match="one person fills one slot"):
        approve(req, owners["risk_owner"])
    assert Approval.objects.filter(request=req).count() == 1


def test_one_person_never_fills_two_slots_even_holding_both_roles(make_request, owners, make_user, system):
    both = make_user("risk_owner", "compliance_officer", username="both")
    system.risk_owners.add(both)
    req = make_request("high")
    approve(req, both)
    with pytest.raises(PermissionDenied):
        approve(req, both)
    req.refresh_from_db()
    assert req.status == Status.PENDING


def test_a_second_risk_owner_cannot_fill_the_slot_already_filled(make_request, owners):
    req = make_request("high")
    approve(req, owners["risk_owner"])
    with pytest.raises(PermissionDenied, match="already filled"):
        approve(req, owners["risk_owner_2"])


def test_risk_owner_of_another_system_cannot_approve(make_request, owners):
    req = make_request("low")
    with pytest.raises(PermissionDenied, match="hold none"):
        approve(req, owners["other_risk_owner"])


@pytest.mark.parametrize("who", ["engineer", "admin", "auditor"])
def test_roles_outside_the_chain_cannot_approve(make_request, owners, who):
    req = make_request("high", actor=owners["compliance"])
    with pytest.raises(PermissionDenied):
        approve(req, owners[who])


def test_compliance_officer_cannot_approve_a_low_tier_exception(make_request, owners):
    req = make_request("low")
    with pytest.raises(PermissionDenied, match="hold none"):
        approve(req, owners["compliance"])


def test_executive_slot_needs_the_designation(make_request, owners, make_user):
    req = make_request("critical")
    approve(req, owners["risk_owner"])
    approve(req, owners["compliance"])
    with pytest.raises(PermissionDenied):
        approve(req, owners["compliance_2"])  # a second compliance officer is no executive
    approve(req, owners["executive"])
    req.refresh_from_db()
    assert req.status == Status.APPROVED


def test_sign_off_needs_a_recent_reauthentication(make_request, owners, settings):
    settings.PORTAL_EXCEPTION_REAUTH_MINUTES = 5
    req = make_request("low")
    with pytest.raises(PermissionDenied, match="Re-authenticate"):
        exception_approve(request_id=req.pk, approver=owners["risk_owner"], reauthenticated_at=None)
    with pytest.raises(PermissionDenied, match="Re-authenticate"):
        approve(req, owners["risk_owner"], at=timezone.now() - timedelta(minutes=6))
    approve(req, owners["risk_owner"], at=timezone.now() - timedelta(minutes=4))


def test_approval_is_bound_to_the_digest_of_the_version_approved(make_request, owners):
    req = make_request("high")
    approve(req, owners["risk_owner"])
    approval = Approval.objects.get(request=req)
    assert approval.request_digest == req.digest() and approval.request_version == 1
    entry = PendingEntry.objects.filter(action="exception.approval_recorded").get()
    assert req.digest() in bytes(entry.canonical).decode()


def test_a_stale_digest_is_refused(make_request, owners):
    req = make_request("low")
    with pytest.raises(ValidationError, match="changed while you were reading"):
        approve(req, owners["risk_owner"], digest="0" * 64)


def test_editing_after_an_approval_voids_it_and_asks_again(make_request, owners, system):
    req = make_request("high")
    approve(req, owners["risk_owner"])
    data = ExceptionInput(
        control=CONTROL,
        system=system.slug,
        justification=req.justification + " Updated.",
        compensating_controls=req.compensating_controls,
        likelihood=req.likelihood,
        impact=req.impact,
        expires_at=req.expires_at,
    )
    old_digest = req.digest()
    req = exception_update(request_id=req.pk, actor=owners["engineer"], data=data)
    assert req.version == 2 and req.digest() != old_digest
    assert Approval.objects.get(request=req).voided_at is not None
    # The compliance officer's approval alone no longer completes the chain.
    req = approve(req, owners["compliance"])
    assert req.status == Status.PENDING
    req = approve(req, owners["risk_owner"])  # the same risk owner may decide again on version 2
    assert req.status == Status.APPROVED


def test_raising_the_rating_changes_the_tier_and_its_chain(make_request, owners, system):
    req = make_request("low")
    data = ExceptionInput(
        control=CONTROL,
        system=system.slug,
        justification=req.justification,
        compensating_controls=req.compensating_controls,
        likelihood=3,
        impact=4,
        expires_at=req.expires_at,
    )
    req = exception_update(request_id=req.pk, actor=owners["engineer"], data=data)
    assert req.tier == "high"
    req = approve(req, owners["risk_owner"])
    assert req.status == Status.PENDING


def test_rejection_needs_a_comment_and_ends_the_request(make_request, owners):
    req = make_request("high")
    with pytest.raises(ValidationError, match="say why"):
        exception_reject(
            request_id=req.pk, approver=owners["compliance"], comment=" ", reauthenticated_at=timezone.now()
        )
    exception_reject(
        request_id=req.pk,
        approver=owners["compliance"],
        comment="Needs a DPIA date.",
        reauthenticated_at=timezone.now(),
    )
    req.refresh_from_db()
    assert req.status == Status.REJECTED
    with pytest.raises(InvalidTransition):
        approve(req, owners["risk_owner"])


def test_a_draft_cannot_be_approved(make_request, owners):
    req = make_request("low", submit=False)
    with pytest.raises(InvalidTransition):
        approve(req, owners["risk_owner"])


def test_database_refuses_two_live_approvals_in_one_slot(make_request, owners):
    from django.db import IntegrityError, transaction

    req = make_request("high")
    approve(req, owners["risk_owner"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(
            request=req,
            approver=owners["risk_owner_2"],
            slot="system_risk_owner",
            decision="approve",
            request_version=1,
            request_digest=req.digest(),
            reauthenticated_at=timezone.now(),
            at=timezone.now(),
        )
