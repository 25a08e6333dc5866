"""Uploads: every supported format ends as parsed evidence about the right artifact; bad input is refused."""

import pytest

from apps.evidence.models import Artifact, Evidence, EvidenceRecord, LineageEdge
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_parse
from apps.ledger.models import PendingEntry
from tests.ingest.conftest import COMMIT, fixture_bytes, post_github, upload

pytestmark = pytest.mark.django_db

IMAGE = "oci://ghcr.io/octo-org/octo-app@sha256:7d9e4f2a3c1b5e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"

FORMATS = [
    ("junit_pytest.xml", "junit", "test-report", "fail", 6),
    ("ruff_check.sarif", "sarif", "sast-scan", "fail", 8),
    ("cyclonedx_py_env.cdx.json", "cyclonedx", "sbom", "info", 7),
    ("cyclonedx_py_env.cdx.xml", "cyclonedx", "sbom", "info", 7),
    ("sbom4python_requests.spdx.json", "spdx", "sbom", "info", 5),
    ("intoto_statement_slsa_v1.json", "intoto", "provenance", "info", 0),
    ("dsse_slsa_v1.intoto.json", "intoto", "provenance", "info", 0),
    ("dsse_slsa_v02_unsigned.intoto.json", "intoto", "provenance", "info", 0),
    ("hf_model_card_data.json", "model-card", "model-card", "info", 0),
    ("fairlearn_report.json", "metrics", "fairness", "fail", 0),
]


def _accept_and_parse(client, token, fixture, **kwargs) -> Receipt:
    response = upload(client, token, fixture_bytes(fixture), name=fixture, **kwargs)
    assert response.status_code == 202, response.json()
    return receipt_parse(receipt_id=int(response.json()["receipt"]))


@pytest.mark.parametrize("fixture,fmt,kind,verdict,records", FORMATS)
def test_each_format_is_detected_and_parsed_into_evidence(client, ci, fixture, fmt, kind, verdict, records):
    receipt = _accept_and_parse(client, ci.token, fixture)
    assert receipt.state == Receipt.State.PARSED, receipt.error
    evidence = Evidence.objects.get(receipt=receipt)
    assert (evidence.format, evidence.kind, evidence.verdict) == (fmt, kind, verdict)
    assert evidence.subject.uri == COMMIT and evidence.system == ci.source.system
    assert EvidenceRecord.objects.filter(evidence=evidence).count() == records
    assert evidence.sha256 == receipt.sha256 and evidence.verdict_reason


def test_declared_kind_is_used_instead_of_detection(client, ci):
    receipt = _accept_and_parse(client, ci.token, "junit_pytest.xml", kind="generic")
    assert Evidence.objects.get(receipt=receipt).format == "generic"


def test_the_same_commit_from_a_run_a_test_report_and_provenance_is_one_artifact(client, github, ci):
    run = post_github(client, github, "workflow_run", fixture_bytes("github/workflow_run.completed.json"))
    receipt_parse(receipt_id=int(run.json()["receipt"]))
    _accept_and_parse(client, ci.token, "junit_pytest.xml")
    # A person may write the commit differently; it normalizes to the same identity.
    _accept_and_parse(
        client,
        ci.token,
        "dsse_slsa_v1.intoto.json",
        subject="https://GitHub.com/octo-org/octo-repo.git@3484A3FB816E0859FD6E1CEA078D76385FF50625",
    )
    commit = Artifact.objects.get(uri=COMMIT)
    assert Artifact.objects.filter(kind="commit", uri__contains="octo-repo@3484a3fb").count() == 1
    assert sorted(commit.evidence.values_list("kind", flat=True)) == ["pipeline-run", "provenance", "test-report"]
    # Provenance materials become lineage: the image was built from the commit.
    assert LineageEdge.objects.filter(source=commit, target__uri=IMAGE, relation="built-from").exists()


def test_sbom_dependency_graph_becomes_lineage_edges(client, ci):
    _accept_and_parse(client, ci.token, "cyclonedx_py_env.cdx.json")
    evidence = Evidence.objects.get()
    assert LineageEdge.objects.filter(evidence=evidence, relation="depends-on").count() == 6
    # issue 20: the 7 components and the main component are parts of the upload's subject (the commit).
    contains = LineageEdge.objects.filter(evidence=evidence, relation="contains", target=evidence.subject)
    assert contains.count() == 8
    # Parsing the same SBOM again adds evidence, not duplicate edges.
    _accept_and_parse(client, ci.token, "cyclonedx_py_env.cdx.json")
    assert LineageEdge.objects.count() == 6 + 8 and Evidence.objects.count() == 2


def test_effective_time_given_at_upload_wins_and_both_times_are_kept(client, ci):
    receipt = _accept_and_parse(client, ci.token, "junit_pytest.xml", effective_at="2024-01-31T10:00:00Z")
    evidence = Evidence.objects.get(receipt=receipt)
    assert evidence.effective_at.isoformat() == "2024-01-31T10:00:00+00:00" and evidence.effective_basis == "upload"
    assert evidence.received_at == receipt.received_at


def test_an_unbound_upload_may_name_a_system_but_a_bound_source_only_its_own(client, ci):
    from apps.ingest.services import source_create
    from apps.inventory.models import System

    other = System.objects.create(name="Other", slug="other", risk_tier="low")
    shared = source_create(actor="system:test", kind="generic-ci", name="ci shared")
    receipt = _accept_and_parse(client, shared.token, "junit_pytest.xml", system="other")
    assert Evidence.objects.get(receipt=receipt).system == other
    # issue 17: a source bound to a system speaks for that system only (403, nothing stored).
    refused = upload(client, ci.token, fixture_bytes("junit_pytest.xml"), system="other")
    assert refused.status_code == 403 and "is bound to system payments-api" in refused.json()["error"]
    assert Receipt.objects.count() == 1


def test_idempotency_key_makes_a_retry_harmless(client, ci):
    first = upload(client, ci.token, b"<testsuite/>", key="build-42")
    again = upload(client, ci.token, b"<testsuite/>", key="build-42")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["receipt"] == first.json()["receipt"] and again.json()["duplicate"]
    # Without a key every upload is new.
    upload(client, ci.token, b"<testsuite/>")
    upload(client, ci.token, b"<testsuite/>")
    assert Receipt.objects.count() == 3


@pytest.mark.parametrize(
    "token,kwargs,status,message",
    [
        (None, {}, 401, "credentials"),
        ("cps_not-a-real-token", {}, 401, "not valid"),
        ("abc", {}, 401, "cps_"),
        ("TOKEN", {"subject": None}, 400, "subject"),
        ("TOKEN", {"subject": "pkg:"}, 400, "subject"),
        ("TOKEN", {"kind": "pdf"}, 400, "kind"),
        ("TOKEN", {"system": "nope"}, 400, "no system"),
        ("TOKEN", {"effective_at": "yesterday"}, 400, "effective_at"),
    ],
)
def test_bad_uploads_are_refused_and_write_nothing(client, ci, token, kwargs, status, message):
    ledger = PendingEntry.objects.count()
    response = upload(client, ci.token if token == "TOKEN" else token, b"<testsuite/>", **kwargs)
    assert response.status_code == status, response.json()
    assert message in response.json()["error"]
    assert not Receipt.objects.exists() and PendingEntry.objects.count() == ledger


def test_upload_without_a_file_or_as_json_is_400(client, ci):
    auth = {"Authorization": f"Bearer {ci.token}"}
    missing = client.post("/api/v1/evidence", data={"subject": COMMIT}, headers=auth)
    assert missing.status_code == 400 and "file" in missing.json()["error"]
    as_json = client.post("/api/v1/evidence", data={"subject": COMMIT}, content_type="application/json", headers=auth)
    assert as_json.status_code == 400 and "multipart/form-data" in as_json.json()["error"]
    assert not Receipt.objects.exists()


def test_oversized_upload_gets_413(client, ci, settings):
    settings.PORTAL_INGEST_MAX_BYTES = 2048
    response = upload(client, ci.token, b"x" * 4096)
    assert response.status_code == 413 and not Receipt.objects.exists()
