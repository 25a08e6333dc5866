"""The release sign-off REST API: classify, decide with re-authentication, read — the pages' rules."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.ledger.models import LedgerEntry, PendingEntry
from apps.releases.models import ReleaseSignoff, SignoffDecision
from apps.releases.services import release_gate_items
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def classify(world, change_class="model"):
    response = client_for(world.engineer).post(
        "/api/v1/releases/signoffs/classify",
        {"subject": world.artifact.uri, "change_class": change_class},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def decide(user, signoff: dict, verb="approve", **body):
    body.setdefault("digest", signoff["digest"])
    return client_for(user).post(f"/api/v1/releases/signoffs/{signoff['id']}/{verb}", body, format="json")


def ledger_actions() -> list[str]:
    return list(LedgerEntry.objects.values_list("action", flat=True)) + list(
        PendingEntry.objects.values_list("action", flat=True)
    )


def test_a_model_release_is_signed_off_by_two_risk_owners_through_the_api(world):
    signoff = classify(world)
    assert signoff["status"] == "pending" and signoff["system"] == "fraud-detection"
    assert [(s["slot"], s["count"], s["remaining"]) for s in signoff["chain"]] == [("system_risk_owner", 2, 2)]
    assert release_gate_items(artifact=world.artifact)[0]["status"] == "missing"

    first = decide(world.owner1, signoff, password=TEST_PASSWORD, comment="metrics and fairness report read")
    assert first.status_code == 200, first.content
    assert first.json()["chain"][0]["remaining"] == 1 and first.json()["status"] == "pending"

    second = decide(world.owner2, signoff, password=TEST_PASSWORD)
    assert second.status_code == 200, second.content
    body = second.json()
    assert body["status"] == "approved" and body["approved_digest"] == signoff["digest"]
    assert [d["approver"] for d in body["decisions"]] == ["riley", "dana"]
    assert release_gate_items(artifact=world.artifact) == []
    assert {"release.classified", "release.decision_recorded", "release.approved"} <= set(ledger_actions())


def test_a_decision_without_re_authentication_is_refused_and_records_nothing(world):
    signoff = classify(world)
    no_password = decide(world.owner1, signoff)
    wrong_password = decide(world.owner1, signoff, password="not-the-password")
    assert no_password.status_code == 403 and "Re-authenticate" in no_password.json()["error"]
    assert wrong_password.status_code == 403 and "Re-authentication failed" in wrong_password.json()["error"]
    assert not SignoffDecision.objects.exists()


def test_separation_of_duties_holds_through_the_api(world):
    signoff = classify(world)
    author = decide(world.author, signoff, password=TEST_PASSWORD)
    assert author.status_code == 403 and "author" in author.json()["error"]
    assert decide(world.owner1, signoff, password=TEST_PASSWORD).status_code == 200
    again = decide(world.owner1, signoff, password=TEST_PASSWORD)
    assert again.status_code == 403 and "already decided" in again.json()["error"]
    assert decide(world.engineer, signoff, password=TEST_PASSWORD).status_code == 403
    assert SignoffDecision.objects.count() == 1


def test_a_decision_on_a_digest_that_changed_is_refused(world):
    signoff = classify(world)
    stale = decide(world.owner1, signoff, password=TEST_PASSWORD, digest="0" * 64)
    assert stale.status_code == 400 and "changed" in str(stale.json())
    assert not SignoffDecision.objects.exists()


def test_rejection_needs_a_reason_and_blocks_the_gate(world):
    signoff = classify(world)
    assert decide(world.owner1, signoff, "reject", password=TEST_PASSWORD).status_code == 400
    rejected = decide(world.owner1, signoff, "reject", password=TEST_PASSWORD, comment="bias report missing")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert "rejected" in release_gate_items(artifact=world.artifact)[0]["reason"]
    late = decide(world.owner2, signoff, password=TEST_PASSWORD)
    assert late.status_code == 400 and "not waiting" in str(late.json())


def test_reads_are_scoped_and_bad_input_is_a_400(world, auditor):
    signoff = classify(world)
    # Everyone signed in reads sign-offs, except auditors, who see only their engagements' systems.
    no_engagement = client_for(auditor)
    assert no_engagement.get(f"/api/v1/releases/signoffs/{signoff['id']}").status_code == 404
    assert no_engagement.get("/api/v1/releases/signoffs").json()["count"] == 0
    assert client_for(world.outsider).get(f"/api/v1/releases/signoffs/{signoff['id']}").status_code == 200
    owner = client_for(world.owner1)
    assert owner.get("/api/v1/releases/signoffs?status=pending").json()["count"] == 1
    assert owner.get("/api/v1/releases/signoffs?status=approved").json()["count"] == 0
    assert owner.get("/api/v1/releases/signoffs?status=bogus").status_code == 400

    engineer = client_for(world.engineer)
    unknown_class = engineer.post(
        "/api/v1/releases/signoffs/classify", {"subject": world.artifact.uri, "change_class": "vibes"}, format="json"
    )
    assert unknown_class.status_code == 400 and "change_class" in unknown_class.json()["error"]
    unknown_subject = engineer.post(
        "/api/v1/releases/signoffs/classify", {"subject": "pkg:oci/nothing@sha256:" + "0" * 64,
                                               "change_class": "model"}, format="json",
    )
    assert unknown_subject.status_code == 404
    not_an_owner = client_for(world.outsider).post(
        "/api/v1/releases/signoffs/classify", {"subject": world.artifact.uri, "change_class": "cosmetic"},
        format="json",
    )
    assert not_an_owner.status_code == 403
    assert ReleaseSignoff.objects.get().change_class == "model"
    assert client_for(auditor).post(
        "/api/v1/releases/signoffs/classify", {"subject": world.artifact.uri, "change_class": "cosmetic"},
        format="json",
    ).status_code == 403
