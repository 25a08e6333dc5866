"""Issue 18, hole 1: an author cannot skip release sign-off by reclassifying the release.

CI metadata may only raise the class; a person's class wins over CI; lowering needs a
compliance officer who is not an author, with a reason; a decided sign-off never becomes
"not required".
"""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from apps.accounts.roles import Role
from apps.ledger.models import LedgerEntry, PendingEntry
from apps.releases.models import ReleaseSignoff, SignoffDecision
from apps.releases.services import release_approve, release_classify, release_gate_items, release_reject
from tests.releases.conftest import push_release, release_body

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def classify_api(user, world, change_class, **extra):
    return client_for(user).post(
        "/api/v1/releases/signoffs/classify",
        {"subject": world.artifact.uri, "change_class": change_class, **extra},
        format="json",
    )


def entries(signoff) -> list[dict]:
    """Ledger entries about the sign-off (sequenced or still pending), as their JSON bodies."""
    rows = [*LedgerEntry.objects.filter(object_id=str(signoff.pk)).values_list("canonical", flat=True)]
    rows += [*PendingEntry.objects.filter(object_id=str(signoff.pk)).values_list("canonical", flat=True)]
    return [json.loads(bytes(c)) for c in rows]


@pytest.fixture
def engineer_author(world):
    """The engineer (an engineering owner of the system) is the release's author."""
    push_release(world.source, release_body(author="evan"), "rel-evan")
    signoff = ReleaseSignoff.objects.filter(artifact=world.artifact).first()
    assert signoff is None  # the release is not classified yet
    return world.engineer


def test_the_author_cannot_lower_the_class_to_cosmetic_through_the_api(world, engineer_author):
    assert classify_api(world.officer, world, "clinical-risk").status_code == 201

    response = classify_api(engineer_author, world, "cosmetic")

    assert response.status_code == 403, response.content
    assert "compliance officer" in response.json()["error"]
    signoff = ReleaseSignoff.objects.get(artifact=world.artifact)
    assert (signoff.change_class, signoff.status) == ("clinical-risk", ReleaseSignoff.Status.PENDING)
    assert release_gate_items(artifact=world.artifact)[0]["status"] == "missing"


def test_ci_metadata_cannot_lower_a_class_the_compliance_officer_set(world):
    assert classify_api(world.officer, world, "clinical-risk").status_code == 201

    push_release(world.source, release_body(name="Fraud model 7 [change-class: cosmetic]"), "rel-ci-cosmetic")

    signoff = ReleaseSignoff.objects.get(artifact=world.artifact)
    assert (signoff.change_class, signoff.class_source) == ("clinical-risk", ReleaseSignoff.ClassSource.OWNER)
    assert signoff.status == ReleaseSignoff.Status.PENDING and signoff.version == 1
    assert release_gate_items(artifact=world.artifact)[0]["status"] == "missing"


def test_ci_metadata_cannot_turn_a_rejected_release_into_not_required(world, fresh):
    signoff = release_classify(artifact=world.artifact, change_class="model", actor=world.engineer)
    release_reject(signoff_id=signoff.pk, approver=world.owner1, comment="fairness report missing",
                   reauthenticated_at=fresh)  # fmt: skip

    push_release(world.source, release_body(name="Fraud model 7 [change-class: cosmetic]"), "rel-ci-cosmetic")

    signoff.refresh_from_db()
    assert (signoff.change_class, signoff.status) == ("model", ReleaseSignoff.Status.REJECTED)
    assert SignoffDecision.objects.filter(signoff=signoff, voided_at__isnull=True).count() == 1
    assert "rejected" in release_gate_items(artifact=world.artifact)[0]["reason"]


def test_ci_metadata_cannot_lower_its_own_earlier_class(world):
    push_release(world.source, release_body(name="Fraud model 7 [change-class: model]"), "rel-ci-model")
    push_release(world.source, release_body(name="Fraud model 7 [change-class: cosmetic]"), "rel-ci-cosmetic")

    signoff = ReleaseSignoff.objects.get(artifact=world.artifact)
    assert (signoff.change_class, signoff.status) == ("model", ReleaseSignoff.Status.PENDING)


def test_ci_metadata_may_raise_the_class(world):
    push_release(world.source, release_body(name="Fraud model 7 [change-class: operational]"), "rel-ci-op")
    push_release(world.source, release_body(name="Fraud model 7 [change-class: clinical-risk]"), "rel-ci-clin")

    signoff = ReleaseSignoff.objects.get(artifact=world.artifact)
    assert (signoff.change_class, signoff.class_source) == ("clinical-risk", ReleaseSignoff.ClassSource.CI)
    assert signoff.version == 2


def test_ci_metadata_raises_a_class_an_owner_set_lower(world):
    release_classify(artifact=world.artifact, change_class="cosmetic", actor=world.engineer)

    push_release(world.source, release_body(name="Fraud model 7 [change-class: model]"), "rel-ci-model")

    signoff = ReleaseSignoff.objects.get(artifact=world.artifact)
    assert (signoff.change_class, signoff.status) == ("model", ReleaseSignoff.Status.PENDING)


def test_ci_repeating_a_class_the_officer_lowered_does_not_raise_it_again(world):
    push_release(world.source, release_body(name="Fraud model 7 [change-class: clinical-risk]"), "rel-ci-clin")
    release_classify(artifact=world.artifact, change_class="model", actor=world.officer,
                     reason="no clinical use: the model scores card fraud")  # fmt: skip

    push_release(world.source, release_body(name="Fraud model 7 again [change-class: clinical-risk]"), "rel-ci-2")

    signoff = ReleaseSignoff.objects.get(artifact=world.artifact)
    assert signoff.change_class == "model"


def test_lowering_needs_a_compliance_officer_who_is_not_an_author_with_a_reason(world, make_user):
    signoff = release_classify(artifact=world.artifact, change_class="clinical-risk", actor=world.engineer)

    with pytest.raises(PermissionDenied, match="compliance officer"):
        release_classify(artifact=world.artifact, change_class="model", actor=world.engineer, reason="small change")
    with pytest.raises(ValidationError, match="reason"):
        release_classify(artifact=world.artifact, change_class="model", actor=world.officer)
    officer_author = make_user(Role.COMPLIANCE_OFFICER, username="octo")
    push_release(world.source, release_body(author="octo"), "rel-octo")  # the officer edited the release too
    with pytest.raises(PermissionDenied, match="author"):
        release_classify(artifact=world.artifact, change_class="model", actor=officer_author, reason="mine")
    signoff.refresh_from_db()
    assert (signoff.change_class, signoff.version) == ("clinical-risk", 1)

    signoff = release_classify(artifact=world.artifact, change_class="model", actor=world.officer,
                               reason="no clinical use: the model scores card fraud")  # fmt: skip

    assert signoff.change_class == "model" and signoff.version == 2
    lowered = [e for e in entries(signoff) if e["action"] == "release.class_lowered"]
    assert len(lowered) == 1
    assert lowered[0]["data"]["reason"] == "no clinical use: the model scores card fraud"
    assert lowered[0]["data"]["before"]["class"] == "clinical-risk"


def test_lowering_through_the_api_takes_a_reason(world):
    assert classify_api(world.engineer, world, "clinical-risk").status_code == 201
    without = classify_api(world.officer, world, "model")
    assert without.status_code == 400 and "reason" in without.json()["error"]
    with_reason = classify_api(world.officer, world, "model", reason="no clinical use")
    assert with_reason.status_code == 201, with_reason.content
    assert with_reason.json()["change_class"] == "model"


def test_a_decided_sign_off_never_becomes_not_required(world, fresh):
    signoff = release_classify(artifact=world.artifact, change_class="model", actor=world.engineer)
    for approver in (world.owner1, world.owner2):
        release_approve(signoff_id=signoff.pk, approver=approver, reauthenticated_at=fresh)

    with pytest.raises(ValidationError, match="not required"):
        release_classify(artifact=world.artifact, change_class="cosmetic", actor=world.officer, reason="typo only")
    signoff.refresh_from_db()
    assert signoff.status == ReleaseSignoff.Status.APPROVED

    # A new class that needs sign-off starts a new one; the old decisions stay visible, voided.
    signoff = release_classify(artifact=world.artifact, change_class="operational", actor=world.officer,
                               reason="configuration only")  # fmt: skip
    assert signoff.status == ReleaseSignoff.Status.PENDING and signoff.version == 2
    body = client_for(world.owner1).get(f"/api/v1/releases/signoffs/{signoff.pk}").json()
    assert [(d["approver"], bool(d["voided_at"])) for d in body["decisions"]] == [("riley", True), ("dana", True)]
