"""Issue 17, hole 1: evidence only counts where its source may speak.

A source bound to a system writes only about that system's subjects (or subjects not yet
known, which become its system's); policy counts evidence for a system's subjects only
when its source is bound to that system or an admin allowed it there.
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.evidence.models import Artifact, Evidence, EvidenceSubject, LineageEdge
from apps.ingest.models import Receipt, SourceAllowance
from apps.ingest.services import receipt_parse, source_allow_system, source_create, source_disallow_system
from apps.ledger.models import PendingEntry
from apps.ledger.services import ledger_integrate_all
from apps.policy.models import ControlResult
from apps.policy.services import policy_evaluate
from tests.ingest.conftest import COMMIT, body_stored, fixture_bytes, post_github, upload
from tests.policy.conftest import make_system

pytestmark = pytest.mark.django_db

IMAGE = "oci://ghcr.io/octo-org/octo-app@sha256:7d9e4f2a3c1b5e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"
MARKETING_COMMIT = "git+https://github.com/acme/marketing-site@1111111111111111111111111111111111111111"


# A scan that found nothing: what a marketing CI job would send to make a payments commit look clean.
def clean_sarif() -> bytes:
    """A SARIF 2.1.0 log with no results (a run id no earlier test run left in the blob store)."""
    return json.dumps(
        {
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {"driver": {"name": "CodeQL", "rules": []}},
                    "automationDetails": {"id": f"codeql/{os.urandom(8).hex()}"},
                    "results": [],
                }
            ],
        }
    ).encode()


CLEAN_SARIF = clean_sarif()


def _payments_system():
    from apps.inventory.models import Environment, System

    system = System.objects.create(
        slug="payments-api", name="Payments API", kind="service", risk_tier="high", data_classes=["financial"],
        frameworks=["soc2"],
    )  # fmt: skip
    Environment.objects.create(system=system, name="prod", region="eu-central-1")
    return system


@pytest.fixture
def world(db):
    """payments-api owns COMMIT (a failing test report) and IMAGE built from it; marketing-site has its own CI."""
    payments = _payments_system()
    marketing = make_system("marketing-site")
    pay_ci = source_create(actor="system:test", kind="generic-ci", name="ci payments-api", system=payments)
    mkt_ci = source_create(actor="system:test", kind="generic-ci", name="ci marketing-site", system=marketing)
    mkt_gh = source_create(actor="system:test", kind="github", name="github marketing-site", system=marketing)
    for fixture, subject in (("junit_pytest.xml", COMMIT), ("dsse_slsa_v1.intoto.json", IMAGE)):
        receipt = receipt_parse(receipt_id=_accepted(upload_as(pay_ci, fixture, subject)))
        assert receipt.state == Receipt.State.PARSED, receipt.error
    return {"payments": payments, "marketing": marketing, "pay_ci": pay_ci, "mkt_ci": mkt_ci, "mkt_gh": mkt_gh}


_client = None


def upload_as(creds, fixture_or_body, subject, **fields):
    from django.test import Client

    body = fixture_or_body if isinstance(fixture_or_body, bytes) else fixture_bytes(fixture_or_body)
    name = "scan.sarif" if isinstance(fixture_or_body, bytes) else fixture_or_body
    return upload(Client(), creds.token, body, name=name, subject=subject, **fields)


def _accepted(response) -> int:
    assert response.status_code == 202, response.json()
    return int(response.json()["receipt"])


def gate(client, token, subject):
    return client.get(f"/api/v1/gates/{quote(subject, safe='')}", headers={"Authorization": f"Bearer {token}"})


def _status(rule: str, uri: str) -> str | None:
    row = ControlResult.objects.filter(rule__key=rule, artifact__uri=uri).values_list("status", flat=True).first()
    return row


def test_a_source_of_another_system_cannot_change_this_gate(client, world):
    policy_evaluate()
    before = gate(client, world["pay_ci"].token, COMMIT).json()
    assert before["allowed"] is False and _status("security-scan-fresh", COMMIT) == "missing"
    receipts, ledger = Receipt.objects.count(), PendingEntry.objects.count()

    body = clean_sarif()
    response = upload_as(world["mkt_ci"], body, COMMIT)

    assert response.status_code == 403
    assert response.json()["error"] == (
        f"source 'ci marketing-site' is bound to system marketing-site; subject {COMMIT} belongs to payments-api"
    )
    # Refused before anything is stored: no receipt, no ledger entry, no blob.
    assert Receipt.objects.count() == receipts and PendingEntry.objects.count() == ledger
    assert not body_stored(body)
    policy_evaluate()
    assert gate(client, world["pay_ci"].token, COMMIT).json()["failing"] == before["failing"]
    assert _status("security-scan-fresh", COMMIT) == "missing"


def test_a_bound_source_cannot_name_another_system_at_upload(world):
    body = clean_sarif()
    response = upload_as(world["mkt_ci"], body, MARKETING_COMMIT, system="payments-api")
    assert response.status_code == 403
    assert "bound to system marketing-site" in response.json()["error"]
    assert "payments-api" in response.json()["error"]
    assert not Artifact.objects.filter(uri=MARKETING_COMMIT).exists() and not body_stored(body)


def test_a_bound_source_writes_about_its_own_and_new_subjects_which_become_its_systems(world):
    receipt = receipt_parse(receipt_id=_accepted(upload_as(world["mkt_ci"], CLEAN_SARIF, MARKETING_COMMIT)))
    assert receipt.state == Receipt.State.PARSED and receipt.error == ""
    assert Artifact.objects.get(uri=MARKETING_COMMIT).system == world["marketing"]
    assert _accepted(upload_as(world["mkt_ci"], CLEAN_SARIF, MARKETING_COMMIT))


def test_a_webhook_naming_another_systems_commit_is_not_attached_to_it_and_says_why(client, world):
    # GitHub's workflow_run example is about COMMIT, which belongs to payments-api.
    response = post_github(client, world["mkt_gh"], "workflow_run", fixture_bytes("github/workflow_run.completed.json"))
    receipt = receipt_parse(receipt_id=_accepted(response))
    assert receipt.state == Receipt.State.PARSED
    why = f"source 'github marketing-site' is bound to system marketing-site; subject {COMMIT} belongs to payments-api"
    assert why in receipt.error
    commit = Artifact.objects.get(uri=COMMIT)
    evidence = Evidence.objects.get(receipt=receipt)
    assert not EvidenceSubject.objects.filter(evidence__receipt=receipt, artifact=commit).exists()
    assert evidence.subject_id != commit.pk
    assert any(why in item["reason"] for item in evidence.summary["not_attached"])
    receipt_api = client.get(
        f"/api/v1/receipts/{receipt.pk}", headers={"Authorization": f"Bearer {world['mkt_gh'].token}"}
    )
    assert why in receipt_api.json()["error"]


def test_lineage_a_bound_source_states_cannot_make_another_systems_subject_inherit(world):
    # The DSSE statement says IMAGE (payments-api's) was built from COMMIT: not marketing's to say.
    before = set(LineageEdge.objects.values_list("source__uri", "target__uri"))
    receipt = receipt_parse(
        receipt_id=_accepted(upload_as(world["mkt_ci"], "dsse_slsa_v1.intoto.json", MARKETING_COMMIT))
    )
    assert receipt.state == Receipt.State.PARSED
    assert not LineageEdge.objects.filter(evidence__receipt=receipt, target__uri=IMAGE).exists()
    assert set(LineageEdge.objects.values_list("source__uri", "target__uri")) >= before


def test_evidence_inherited_from_an_artifact_of_another_system_does_not_count(world):
    # An unknown image becomes marketing's with a clean scan; then payments' commit inherits from it (an edge
    # written directly: the marketing source itself could not state it).
    other_image = IMAGE.replace("octo-app", "octo-web")
    _accepted(upload_as(world["mkt_ci"], CLEAN_SARIF, other_image))
    for receipt in Receipt.objects.filter(state=Receipt.State.QUEUED):
        receipt_parse(receipt_id=receipt.pk)
    assert Artifact.objects.get(uri=other_image).system == world["marketing"]
    from django.utils import timezone

    from apps.evidence.services import lineage_edges_bulk_record

    commit, image = Artifact.objects.get(uri=COMMIT), Artifact.objects.get(uri=other_image)
    lineage_edges_bulk_record([(image.pk, commit.pk, "built-from", Evidence.objects.first().pk, timezone.now())])
    policy_evaluate()
    assert _status("security-scan-fresh", COMMIT) == "missing"


def test_an_unbound_source_counts_only_where_an_admin_allowed_it(client, world, admin_user):
    shared = source_create(actor="system:test", kind="generic-ci", name="ci shared")
    receipt = receipt_parse(receipt_id=_accepted(upload_as(shared, CLEAN_SARIF, COMMIT)))
    evidence = Evidence.objects.get(receipt=receipt)
    assert evidence.subject.uri == COMMIT  # recorded and visible...
    policy_evaluate()
    assert _status("security-scan-fresh", COMMIT) == "missing"  # ...but not counted
    client.force_login(admin_user)
    detail = client.get(f"/api/v1/evidence/{evidence.pk}").json()
    assert detail["counted"] is False
    assert detail["not_counted_reason"] == (
        "not counted for payments-api: source 'ci shared' is bound to no system and no admin allowed it for "
        "payments-api"
    )
    page = client.get(f"/evidence/{evidence.pk}/").content.decode()
    assert "Not counted" in page and "no admin allowed it for payments-api" in page

    source_allow_system(actor=admin_user, source_id=shared.source.pk, system=world["payments"])
    policy_evaluate()
    assert _status("security-scan-fresh", COMMIT) == "pass"
    assert client.get(f"/api/v1/evidence/{evidence.pk}").json()["counted"] is True

    source_disallow_system(actor=admin_user, source_id=shared.source.pk, system=world["payments"])
    policy_evaluate()
    assert _status("security-scan-fresh", COMMIT) == "missing"
    ledger_integrate_all()
    from apps.ledger.models import LedgerEntry

    entries = LedgerEntry.objects.filter(action__startswith="source.system_").order_by("index")
    actions = list(entries.values_list("action", flat=True))
    assert actions == ["source.system_allowed", "source.system_disallowed"]


def test_only_admins_allow_unbound_sources_and_never_bound_ones(world, engineer, admin_user):
    from django.core.exceptions import PermissionDenied, ValidationError

    shared = source_create(actor="system:test", kind="generic-ci", name="ci shared")
    with pytest.raises(PermissionDenied):
        source_allow_system(actor=engineer, source_id=shared.source.pk, system=world["payments"])
    with pytest.raises(ValidationError, match="bound to system marketing-site"):
        source_allow_system(actor=admin_user, source_id=world["mkt_ci"].source.pk, system=world["payments"])
    assert not SourceAllowance.objects.exists()


def test_a_subject_of_no_system_says_so_and_how_to_attach_it(client, world):
    shared = source_create(actor="system:test", kind="generic-ci", name="ci shared")
    orphan = "git+https://github.com/acme/orphan@2222222222222222222222222222222222222222"
    receipt_parse(receipt_id=_accepted(upload_as(shared, CLEAN_SARIF, orphan)))
    policy_evaluate()
    body = gate(client, shared.token, orphan).json()
    assert body["allowed"] is False
    reason = body["failing"][0]["reason"]
    assert "belongs to no system" in reason and "system=<slug>" in reason and "not been evaluated" not in reason
    # Attaching it: evidence naming the system (or from a bound source) makes it that system's.
    receipt_parse(receipt_id=_accepted(upload_as(world["pay_ci"], "junit_pytest.xml", orphan)))
    assert Artifact.objects.get(uri=orphan).system == world["payments"]
    policy_evaluate()
    assert "belongs to no system" not in json.dumps(gate(client, shared.token, orphan).json())


# ---------------------------------------------------------------- property

SUBJECTS = [COMMIT, IMAGE, MARKETING_COMMIT, None]  # None: a fresh subject
FILES = [CLEAN_SARIF, "junit_pytest.xml", "dsse_slsa_v1.intoto.json", "cyclonedx_py_env.cdx.json"]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sends=st.lists(
        st.tuples(
            st.sampled_from(FILES),
            st.sampled_from(SUBJECTS),
            st.sampled_from(["", "payments-api"]),
            st.integers(min_value=0, max_value=2**40),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_no_evidence_from_a_source_bound_to_another_system_ever_changes_a_gate(client, world, sends):
    policy_evaluate()
    token = world["pay_ci"].token
    baseline = {s: gate(client, token, s).json()["failing"] for s in (COMMIT, IMAGE)}
    for body, subject, system, n in sends:
        subject = subject or f"git+https://github.com/acme/marketing-site@{n:040x}"
        fields = {"system": system} if system else {}
        response = upload_as(world["mkt_ci"], body, subject, **fields)
        assert response.status_code in (202, 403), response.json()
        if response.status_code == 202:
            receipt_parse(receipt_id=int(response.json()["receipt"]))
    policy_evaluate()
    assert {s: gate(client, token, s).json()["failing"] for s in (COMMIT, IMAGE)} == baseline


def test_the_source_page_lets_an_admin_allow_and_withdraw_a_system(client, world, admin_user, engineer):
    shared = source_create(actor="system:test", kind="generic-ci", name="ci shared").source
    url = f"/sources/{shared.pk}/allowances/"
    client.force_login(engineer)
    assert client.post(url, {"system": "payments-api", "allow": "true"}).status_code == 403
    client.force_login(admin_user)
    client.post(url, {"system": "payments-api", "allow": "true", "reason": "shared CodeQL runner"})
    allowance = SourceAllowance.objects.get(source=shared)
    assert (allowance.system, allowance.allowed_by, allowance.reason) == (
        world["payments"],
        admin_user,
        "shared CodeQL runner",
    )
    page = client.get(f"/sources/{shared.pk}/").content.decode()
    assert "Speaks for" in page and "payments-api" in page and "shared CodeQL runner" in page
    client.post(url, {"system": "payments-api", "allow": "false"})
    assert not SourceAllowance.objects.exists()
