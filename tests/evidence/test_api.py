"""The read-only query API and the OpenAPI schema."""

import pytest

from apps.evidence.models import Artifact, Evidence
from tests.ingest.conftest import COMMIT

pytestmark = pytest.mark.django_db


def test_evidence_list_needs_a_session(client, parsed_evidence):
    assert client.get("/api/v1/evidence").status_code == 403


def test_evidence_list_is_paginated_newest_first_and_filterable(client, auditor, parsed_evidence):
    client.force_login(auditor)
    body = client.get("/api/v1/evidence").json()
    assert body["count"] == 4
    times = [row["effective_at"] for row in body["results"]]
    assert times == sorted(times, reverse=True)
    failing = client.get("/api/v1/evidence?verdict=fail").json()
    assert {row["kind"] for row in failing["results"]} == {"test-report", "sast-scan"}
    assert client.get("/api/v1/evidence", {"subject": COMMIT, "kind": "sbom"}).json()["count"] == 1
    bad = client.get("/api/v1/evidence?verdict=maybe")
    assert bad.status_code == 400 and "verdict" in bad.json()["error"]


def test_evidence_detail_and_artifact_detail(client, auditor, parsed_evidence):
    client.force_login(auditor)
    evidence = Evidence.objects.get(kind="sast-scan")
    body = client.get(f"/api/v1/evidence/{evidence.pk}").json()
    assert body["id"] == str(evidence.pk) and body["subject"]["uri"] == COMMIT
    assert body["records_total"] == 8 and len(body["records"]) == 8 and body["summary"]["results_total"] == 8
    artifact = Artifact.objects.get(uri=COMMIT)
    art = client.get(f"/api/v1/artifacts/{artifact.pk}").json()
    assert len(art["evidence"]) == 4 and art["kind"] == "commit"
    assert client.get("/api/v1/evidence/999999").json() == {"error": "No Evidence matches the given query."}


def test_schema_documents_every_ingestion_and_query_endpoint(client, auditor):
    client.force_login(auditor)
    schema = client.get("/api/schema/", headers={"Accept": "application/json"}).content.decode()
    for path in (
        "/api/v1/ingest/github",
        "/api/v1/ingest/gitlab",
        "/api/v1/evidence",
        "/api/v1/evidence/{id}",
        "/api/v1/receipts/{id}",
        "/api/v1/artifacts/{id}",
    ):
        assert path + ":" in schema or f'"{path}"' in schema
    assert "evidence_upload" in schema and "sourceToken" in schema
