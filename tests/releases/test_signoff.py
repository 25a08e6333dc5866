"""Release sign-off: classification, chains (N of M), every separation-of-duties denial, the gate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from apps.ledger.models import LedgerEntry
from apps.ledger.services import ledger_integrate_all
from apps.releases.models import ReleaseSignoff, SignoffDecision
from apps.releases.selectors import release_inbox_for_user, release_signoff_latency, timeline_steps
from apps.releases.services import release_approve, release_classify, release_gate_items, release_reject
from tests.releases.conftest import SHA_A, SHA_B, push_release, release_body

pytestmark = pytest.mark.django_db


def classify(world, change_class="model", actor=None):
    return release_classify(artifact=world.artifact, change_class=change_class, actor=actor or world.engineer)


def actions(signoff) -> list[str]:
    ledger_integrate_all()
    return list(
        LedgerEntry.objects.filter(object_type="releases.releasesignoff", object_id=str(signoff.pk))
        .order_by("index")
        .values_list("action", flat=True)
    )


def test_model_release_of_a_high_risk_system_needs_two_risk_owners(world, fresh):
    signoff = classify(world)
    assert signoff.status == ReleaseSignoff.Status.PENDING
    assert signoff.artifact_digest == f"sha1:{SHA_A}"
    assert "codertocat" in [a.lower() for a in signoff.authors]
    assert release_gate_items(artifact=world.artifact)[0]["status"] == "missing"
    release_approve(signoff_id=signoff.pk, approver=world.owner1, reauthenticated_at=fresh)
    signoff.refresh_from_db()
    assert signoff.status == ReleaseSignoff.Status.PENDING  # one of two
    assert "1 more" in release_gate_items(artifact=world.artifact)[0]["reason"]
    release_approve(signoff_id=signoff.pk, approver=world.owner2, reauthenticated_at=fresh)
    signoff.refresh_from_db()
    assert signoff.status == ReleaseSignoff.Status.APPROVED and signoff.approved_digest == signoff.digest()
    assert release_gate_items(artifact=world.artifact) == []
    assert release_gate_items(artifact=world.artifact, digest=f"sha1:{SHA_A}") == []
    assert actions(signoff) == [
        "release.classified",
        "release.decision_recorded",
        "release.decision_recorded",
        "release.approved",
    ]


def test_the_author_never_signs_off_their_release(world, fresh):
    signoff = classify(world)
    with pytest.raises(PermissionDenied, match="author"):
        release_approve(signoff_id=signoff.pk, approver=world.author, reauthenticated_at=fresh)
    with pytest.raises(PermissionDenied, match="author"):
        release_reject(signoff_id=signoff.pk, approver=world.author, comment="no", reauthenticated_at=fresh)
    assert release_inbox_for_user(user=world.author) == []


def test_the_author_is_recognised_by_email_too(world, fresh, make_user):
    from apps.accounts.roles import Role

    alias = make_user(Role.RISK_OWNER, username="octo-alias", email="codertocat@example.invalid")
    world.system.risk_owners.add(alias)
    signoff = classify(world)
    signoff.authors = [*signoff.authors, "CODERTOCAT@example.invalid"]
    signoff.save(update_fields=["authors"])
    with pytest.raises(PermissionDenied, match="author"):
        release_approve(signoff_id=signoff.pk, approver=alias, reauthenticated_at=fresh)


def test_whoever_requested_the_sign_off_cannot_give_it(world, fresh):
    signoff = classify(world, "security-sensitive", actor=world.officer)
    with pytest.raises(PermissionDenied, match="requested"):
        release_approve(signoff_id=signoff.pk, approver=world.officer, reauthenticated_at=fresh)


def test_one_person_signs_once(world, fresh):
    signoff = classify(world)
    release_approve(signoff_id=signoff.pk, approver=world.owner1, reauthenticated_at=fresh)
    with pytest.raises(PermissionDenied, match="already decided"):
        release_approve(signoff_id=signoff.pk, approver=world.owner1, reauthenticated_at=fresh)
    assert SignoffDecision.objects.filter(signoff=signoff).count() == 1


def test_risk_owners_of_another_system_and_other_roles_cannot_sign(world, fresh):
    signoff = classify(world)
    for person in (world.outsider, world.officer):
        with pytest.raises(PermissionDenied, match="needs sign-off by"):
            release_approve(signoff_id=signoff.pk, approver=person, reauthenticated_at=fresh)
    with pytest.raises(PermissionDenied, match="requested"):  # the engineer who classified it
        release_approve(signoff_id=signoff.pk, approver=world.engineer, reauthenticated_at=fresh)


def test_auditors_cannot_sign(world, fresh, auditor):
    signoff = classify(world)
    with pytest.raises(PermissionDenied):
        release_approve(signoff_id=signoff.pk, approver=auditor, reauthenticated_at=fresh)


def test_a_filled_slot_cannot_be_filled_again(world, fresh):
    signoff = classify(world, "security-sensitive")  # 1 risk owner + 1 compliance officer
    release_approve(signoff_id=signoff.pk, approver=world.owner1, reauthenticated_at=fresh)
    with pytest.raises(PermissionDenied, match="already filled"):
        release_approve(signoff_id=signoff.pk, approver=world.owner2, reauthenticated_at=fresh)
    release_approve(signoff_id=signoff.pk, approver=world.officer, reauthenticated_at=fresh)
    signoff.refresh_from_db()
    assert signoff.status == ReleaseSignoff.Status.APPROVED


def test_sign_off_needs_a_fresh_re_authentication(world):
    signoff = classify(world)
    for at in (None, timezone.now() - timedelta(hours=1)):
        with pytest.raises(PermissionDenied, match="Re-authenticate"):
            release_approve(signoff_id=signoff.pk, approver=world.owner1, reauthenticated_at=at)
    assert not SignoffDecision.objects.exists()


def test_a_decision_is_bound_to_the_digest_the_approver_saw(world, fresh):
    signoff = classify(world)
    seen = signoff.digest()
    classify(world, "clinical-risk")  # reclassified meanwhile: a new version, a new digest
    with pytest.raises(ValidationError, match="changed while you were reading"):
        release_approve(signoff_id=signoff.pk, approver=world.owner1, reauthenticated_at=fresh, digest=seen)


def test_reclassifying_voids_earlier_decisions(world, fresh):
    signoff = classify(world)
    release_approve(signoff_id=signoff.pk, approver=world.owner1, reauthenticated_at=fresh)
    release_approve(signoff_id=signoff.pk, approver=world.owner2, reauthenticated_at=fresh)
    signoff = classify(world, "clinical-risk")
    assert signoff.status == ReleaseSignoff.Status.PENDING and signoff.version == 2
    assert not SignoffDecision.objects.filter(signoff=signoff, voided_at__isnull=True).exists()
    assert release_gate_items(artifact=world.artifact)[0]["status"] == "missing"
    assert actions(signoff)[-1] == "release.reclassified"


def test_rejection_needs_a_reason_and_blocks_the_gate(world, fresh):
    signoff = classify(world)
    with pytest.raises(ValidationError):
        release_reject(signoff_id=signoff.pk, approver=world.owner1, comment=" ", reauthenticated_at=fresh)
    release_reject(
        signoff_id=signoff.pk, approver=world.owner1, comment="Fairness report is missing", reauthenticated_at=fresh
    )
    signoff.refresh_from_db()
    assert signoff.status == ReleaseSignoff.Status.REJECTED
    assert "rejected" in release_gate_items(artifact=world.artifact)[0]["reason"]
    assert actions(signoff)[-1] == "release.rejected"


def test_cosmetic_release_needs_no_sign_off(world):
    signoff = classify(world, "cosmetic")
    assert signoff.status == ReleaseSignoff.Status.NOT_REQUIRED
    assert release_gate_items(artifact=world.artifact) == []


def test_only_owners_officers_and_admins_classify(world):
    with pytest.raises(PermissionDenied):
        classify(world, actor=world.owner1)
    with pytest.raises(ValidationError):
        classify(world, "yolo")


def test_gate_refuses_a_digest_swap_after_sign_off(world, fresh):
    signoff = classify(world)
    for approver in (world.owner1, world.owner2):
        release_approve(signoff_id=signoff.pk, approver=approver, reauthenticated_at=fresh)
    # CI is about to ship other bits than the ones signed off:
    items = release_gate_items(artifact=world.artifact, digest=f"sha1:{SHA_B}")
    assert [i["status"] for i in items] == ["fail"] and SHA_B in items[0]["reason"]
    # The tag is re-pointed at another commit: the artifact's own digest no longer matches either.
    push_release(world.source, release_body(sha=SHA_B), "rel-2")
    items = release_gate_items(artifact=world.artifact)
    assert [i["status"] for i in items] == ["fail"] and "not the one signed off" in items[0]["reason"]


def test_gate_api_reports_missing_sign_off_and_digest_swap(client, world, fresh):
    signoff = classify(world)
    client.force_login(world.officer)
    url = f"/api/v1/gates/{world.artifact.pk}"
    body = client.get(url).json()
    assert body["allowed"] is False
    assert any(i["control"] == "release-signoff" and i["status"] == "missing" for i in body["failing"])
    for approver in (world.owner1, world.owner2):
        release_approve(signoff_id=signoff.pk, approver=approver, reauthenticated_at=fresh)
    body = client.get(url, {"digest": f"sha1:{SHA_A}"}).json()
    assert not any(i["control"] == "release-signoff" for i in body["failing"])
    body = client.get(url, {"digest": f"sha1:{SHA_B}"}).json()
    assert body["allowed"] is False
    assert any(i["control"] == "release-signoff" and i["status"] == "fail" for i in body["failing"])


def test_ci_metadata_classifies_the_release(world):
    push_release(world.source, release_body(name="Fraud model 8 [change-class: model]"), "rel-ci")
    signoff = ReleaseSignoff.objects.get(artifact=world.artifact)
    assert (signoff.change_class, signoff.class_source) == ("model", "ci")
    assert signoff.status == ReleaseSignoff.Status.PENDING and signoff.requested_by is None


def test_inbox_lists_releases_for_risk_owners_who_can_sign(world, fresh):
    signoff = classify(world)
    assert [s.pk for s in release_inbox_for_user(user=world.owner1)] == [signoff.pk]
    release_approve(signoff_id=signoff.pk, approver=world.owner1, reauthenticated_at=fresh)
    assert release_inbox_for_user(user=world.owner1) == []
    assert [s.pk for s in release_inbox_for_user(user=world.owner2)] == [signoff.pk]
    assert release_inbox_for_user(user=world.outsider) == []


def test_time_per_step_and_latency(world):
    t0 = timezone.now()
    signoff = release_classify(artifact=world.artifact, change_class="model", actor=world.engineer, now=t0)
    release_approve(
        signoff_id=signoff.pk,
        approver=world.owner1,
        reauthenticated_at=t0 + timedelta(hours=2),
        now=t0 + timedelta(hours=2),
    )
    release_approve(
        signoff_id=signoff.pk,
        approver=world.owner2,
        reauthenticated_at=t0 + timedelta(hours=5),
        now=t0 + timedelta(hours=5),
    )
    signoff.refresh_from_db()
    steps = timeline_steps(signoff)
    assert [r["step_seconds"] for r in steps] == [7200, 10800]
    latency = release_signoff_latency(now=t0 + timedelta(hours=6))
    assert latency["decided"] == 1 and latency["median_hours"] == 5.0
