"""Issue 18, hole 2 for release sign-off: the first approver never strands the chain."""

from __future__ import annotations

import pytest

from apps.accounts.roles import Role
from apps.releases.chain import chain_stuck_reason
from apps.releases.models import ReleaseSignoff, SignoffDecision
from apps.releases.services import release_approve, release_classify

pytestmark = pytest.mark.django_db


def test_the_only_officer_who_is_also_a_risk_owner_takes_the_officer_place(world, make_user, fresh):
    olivia = make_user(Role.RISK_OWNER, Role.COMPLIANCE_OFFICER, username="olivia")
    world.system.risk_owners.set([world.owner1, world.owner2, olivia])
    world.officer.is_active = False  # olivia is the only compliance officer left
    world.officer.save(update_fields=["is_active"])
    signoff = release_classify(artifact=world.artifact, change_class="clinical-risk", actor=world.engineer)

    for approver in (olivia, world.owner1, world.owner2):
        signoff = release_approve(
            signoff_id=signoff.pk, approver=approver, reauthenticated_at=fresh, digest=signoff.digest()
        )

    assert signoff.status == ReleaseSignoff.Status.APPROVED
    assert dict(SignoffDecision.objects.values_list("approver__username", "slot"))["olivia"] == "compliance_officer"


def test_a_sign_off_nobody_eligible_remains_for_says_why(world):
    world.officer.is_active = False
    world.officer.save(update_fields=["is_active"])
    signoff = release_classify(artifact=world.artifact, change_class="clinical-risk", actor=world.engineer)

    assert "compliance officer still needed, eligible: nobody" in chain_stuck_reason(signoff)
