"""GET /api/v1/gates/{subject}: a pipeline step asks whether a release may proceed."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from apps.ingest.services import source_create
from apps.policy.services import policy_evaluate
from tests.policy.conftest import make_system

pytestmark = pytest.mark.django_db

RELEASE = "release:https://github.com/acme/marketing-site@2.4.0"


def gate(client, subject, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(f"/api/v1/gates/{quote(subject, safe='')}", headers=headers)


def test_a_release_without_its_sbom_is_blocked_with_the_reason(client, marketing):
    policy_evaluate()
    response = gate(client, RELEASE, marketing["ci"].token)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"subject", "allowed", "failing", "warnings", "evaluated_at"}
    assert body["subject"] == RELEASE and body["allowed"] is False
    assert {f["rule"] for f in body["failing"]} == {"sbom-for-deployed-image"}
    first = body["failing"][0]
    assert set(first) == {"control", "rule", "severity", "mode", "status", "reason", "message"}
    assert first["mode"] == "gate" and first["status"] == "missing" and "sbom" in first["reason"]
    assert {w["rule"] for w in body["warnings"]} == {"release-approved"}
    assert body["evaluated_at"].endswith("Z")


def test_the_gate_takes_an_artifact_id_or_a_query_parameter(client, marketing, compliance_officer):
    policy_evaluate()
    from apps.evidence.models import Artifact

    artifact = Artifact.objects.get(uri=RELEASE)
    client.force_login(compliance_officer)
    assert client.get(f"/api/v1/gates/{artifact.pk}").json()["subject"] == RELEASE
    assert client.get("/api/v1/gates", {"subject": RELEASE}).json()["allowed"] is False


def test_a_subject_never_evaluated_is_not_allowed(client, marketing):
    body = gate(client, RELEASE, marketing["ci"].token).json()
    assert body["allowed"] is False and body["evaluated_at"] is None
    assert "not been evaluated" in body["failing"][0]["reason"]


def test_the_gate_needs_a_credential_and_knows_its_subjects(client, marketing):
    assert gate(client, RELEASE).status_code in (401, 403)
    assert gate(client, RELEASE, "cps_not-a-real-token").status_code == 401
    response = gate(client, "release:https://github.com/acme/nothing@1.0", marketing["ci"].token)
    assert response.status_code == 404 and "error" in response.json()


def test_a_source_of_another_system_cannot_ask_about_this_release(client, marketing):
    other = source_create(
        actor="system:test", kind="generic-ci", name="ci clinical", system=make_system("clinical-records")
    )
    policy_evaluate()
    assert gate(client, RELEASE, other.token).status_code == 404
    unbound = source_create(actor="system:test", kind="generic-ci", name="ci shared")
    assert gate(client, RELEASE, unbound.token).status_code == 200
