"""Evidence a person provides (issue 24, items 2 and 4): documents a control requires, attestations, and
coverage that counts them truthfully."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from apps.attestations.models import Attestation, DocumentRequirement, ManualDocument
from apps.attestations.selectors import manual_control_statuses
from apps.attestations.services import (
    AttestationInput,
    DocumentUpload,
    attestation_record,
    document_approve,
    document_upload,
)
from apps.evidence.models import Evidence
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_parse
from apps.inventory.models import System
from apps.policy.models import Control, CoverageSnapshot
from apps.policy.services import control_assessment_modes, coverage_snapshot
from tests.approvals.helpers import ledger_entries
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db

POLICY_PDF = b"%PDF-1.4\n% Code of conduct v3, approved by the board\n"


@pytest.fixture
def system():
    return System.objects.create(slug="payments", name="Payments", frameworks=["soc2"])


@pytest.fixture
def cc11():
    return Control.objects.select_related("framework").get(framework__code="soc2", control_id="soc2-cc1-1")


@pytest.fixture
def requirement(cc11, risk_owner):
    """SOC 2 CC1.1 requires a yearly policy (shipped requirements file); the risk owner owns it."""
    req = DocumentRequirement.objects.get(control=cc11, kind="policy")
    req.owner = risk_owner
    req.save(update_fields=["owner"])
    return req


def _upload(requirement, system, actor, *, days_ago: int, body: bytes = POLICY_PDF) -> ManualDocument:
    date = timezone.now() - timedelta(days=days_ago)
    upload = DocumentUpload(
        body=body, filename="conduct.pdf", content_type="application/pdf", title="Code of conduct", document_date=date
    )
    return document_upload(actor=actor, requirement_id=requirement.pk, system=system, upload=upload)


def _approved(requirement, system, engineer, compliance_officer, *, days_ago: int, body: bytes = POLICY_PDF):
    document = _upload(requirement, system, engineer, days_ago=days_ago, body=body)
    return document_approve(actor=compliance_officer, document_id=document.pk)


def test_the_shipped_requirements_file_is_loaded_as_data():
    kinds = set(DocumentRequirement.objects.values_list("kind", flat=True))
    assert {"policy", "training-record", "access-review", "vendor-assessment", "tabletop-exercise", "dpia"} <= kinds
    assert DocumentRequirement.objects.get(control__control_id="soc2-cc6-2", kind="access-review").cadence_days == 90


def test_a_manual_document_satisfies_its_control_until_its_review_date_passes_then_fails(
    requirement, system, engineer, compliance_officer, cc11
):
    document = _approved(requirement, system, engineer, compliance_officer, days_ago=100)
    due = document.document_date + timedelta(days=365)
    assert manual_control_statuses([system.pk], at=due - timedelta(seconds=1))[system.pk][cc11.pk] == ["pass"]
    assert manual_control_statuses([system.pk], at=due)[system.pk][cc11.pk] == ["fail"]
    assert manual_control_statuses([system.pk], at=due + timedelta(days=30))[system.pk][cc11.pk] == ["fail"]
    # before it was approved it did not count: the control was missing its document
    before = document.decided_at - timedelta(seconds=1)
    assert manual_control_statuses([system.pk], at=before)[system.pk][cc11.pk] == ["missing"]


def test_coverage_counts_a_current_document_as_passing_and_an_overdue_one_as_failing(
    requirement, system, engineer, compliance_officer
):
    other = System.objects.create(slug="ledger-svc", name="Ledger service", frameworks=["soc2"])
    _approved(requirement, system, engineer, compliance_officer, days_ago=300)
    _approved(requirement, other, engineer, compliance_officer, days_ago=400, body=POLICY_PDF + b"old")
    coverage_snapshot(system_ids=[system.pk, other.pk])
    current = CoverageSnapshot.objects.get(system=system, framework__code="soc2")
    overdue = CoverageSnapshot.objects.get(system=other, framework__code="soc2")
    assert current.control_status["soc2-cc1-1"] == "pass"
    assert overdue.control_status["soc2-cc1-1"] == "fail"
    assert current.passing >= 1 and overdue.failing >= 1


def test_a_submitted_document_does_not_count_and_a_required_one_without_documents_is_missing(
    requirement, system, engineer
):
    _upload(requirement, system, engineer, days_ago=10)
    coverage_snapshot(system_ids=[system.pk])
    snap = CoverageSnapshot.objects.get(system=system, framework__code="soc2")
    assert snap.control_status["soc2-cc1-1"] == "missing"
    assert snap.control_status["soc2-cc1-4"] == "missing"  # training records: required, none provided


def test_coverage_splits_automated_from_manual_controls(system, cc11):
    modes = control_assessment_modes()
    assert modes[cc11.pk] == Control.Assessment.MANUAL
    coverage_snapshot(system_ids=[system.pk])
    snap = CoverageSnapshot.objects.get(system=system, framework__code="soc2")
    manual = DocumentRequirement.objects.filter(control__framework__code="soc2").values("control").distinct().count()
    assert snap.manual == manual
    assert snap.unmapped == sum(1 for c in Control.objects.filter(framework__code="soc2")
                                if modes[c.pk] == Control.Assessment.NONE)  # fmt: skip


def test_an_uploaded_document_lands_as_evidence_with_its_receipt_and_ledger_entry(requirement, system, engineer):
    document = _upload(requirement, system, engineer, days_ago=5)
    receipt = Receipt.objects.get(pk=document.receipt_id)
    assert receipt.sha256 == hashlib.sha256(POLICY_PDF).hexdigest() == document.sha256
    assert receipt.system_id == system.pk and receipt.channel == Receipt.Channel.UPLOAD
    assert ledger_entries(action="receipt.accepted", object_id=receipt.pk)
    [entry] = ledger_entries(action="manual_document.uploaded", object_id=document.pk)
    assert entry["data"]["sha256"] == document.sha256
    receipt_parse(receipt_id=receipt.pk)
    assert Evidence.objects.filter(receipt=receipt, system=system).exists()


def test_a_document_dated_in_the_future_counts_from_its_upload(requirement, system, engineer):
    upload = DocumentUpload(body=POLICY_PDF, filename="c.pdf", content_type="application/pdf", title="Conduct",
                            document_date=timezone.now() + timedelta(days=200))  # fmt: skip
    document = document_upload(actor=engineer, requirement_id=requirement.pk, system=system, upload=upload)
    assert document.document_date <= timezone.now()


def test_the_uploader_cannot_approve_their_own_document(requirement, system, compliance_officer):
    document = _upload(requirement, system, compliance_officer, days_ago=1)
    with pytest.raises(PermissionDenied):
        document_approve(actor=compliance_officer, document_id=document.pk)
    assert ManualDocument.objects.get(pk=document.pk).status == ManualDocument.Status.SUBMITTED


def _attest_input(cc11, system, documents):
    now = timezone.now()
    return AttestationInput(control_id=cc11.pk, system=system, period_start=now - timedelta(days=90),
                            period_end=now - timedelta(days=1), statement="The code of conduct was acknowledged.",
                            document_ids=tuple(d.pk for d in documents))  # fmt: skip


def test_an_attestation_without_step_up_is_refused(requirement, system, engineer, compliance_officer, risk_owner,
                                                   cc11):  # fmt: skip
    document = _approved(requirement, system, engineer, compliance_officer, days_ago=30)
    with pytest.raises(PermissionDenied, match="Re-authenticate"):
        attestation_record(actor=risk_owner, data=_attest_input(cc11, system, [document]), reauthenticated_at=None)
    stale = timezone.now() - timedelta(hours=3)
    with pytest.raises(PermissionDenied, match="Re-authenticate"):
        attestation_record(actor=risk_owner, data=_attest_input(cc11, system, [document]), reauthenticated_at=stale)
    assert not Attestation.objects.exists()


def test_a_non_owner_cannot_attest(requirement, system, engineer, compliance_officer, cc11):
    document = _approved(requirement, system, engineer, compliance_officer, days_ago=30)
    with pytest.raises(PermissionDenied, match="owner"):
        attestation_record(actor=compliance_officer, data=_attest_input(cc11, system, [document]),
                           reauthenticated_at=timezone.now())  # fmt: skip
    assert not Attestation.objects.exists()


def test_an_attestation_is_bound_to_the_digests_of_the_documents_it_relies_on(
    requirement, system, engineer, compliance_officer, risk_owner, cc11
):
    document = _approved(requirement, system, engineer, compliance_officer, days_ago=30)
    attestation = attestation_record(actor=risk_owner, data=_attest_input(cc11, system, [document]),
                                     reauthenticated_at=timezone.now())  # fmt: skip
    assert attestation.digests == [hashlib.sha256(POLICY_PDF).hexdigest()]
    [entry] = ledger_entries(action="attestation.recorded", object_id=attestation.pk)
    assert entry["data"]["digests"] == attestation.digests and entry["actor"]


# ---------------------------------------------------------------- the API and the page


def _client(user):
    c = APIClient()
    c.force_login(user)
    return c


def test_the_api_uploads_a_document_and_refuses_a_kind_the_control_does_not_require(requirement, system, engineer):
    c = _client(engineer)
    f = SimpleUploadedFile("conduct.pdf", POLICY_PDF, content_type="application/pdf")
    r = c.post("/api/v1/documents", {"control": "soc2:soc2-cc1-1", "kind": "policy", "system": "payments",
                                     "title": "Code of conduct", "file": f}, format="multipart")  # fmt: skip
    assert r.status_code == 201, r.content
    assert r.json()["sha256"] == hashlib.sha256(POLICY_PDF).hexdigest() and r.json()["status"] == "submitted"
    receipts = Receipt.objects.count()
    f = SimpleUploadedFile("x.pdf", b"other", content_type="application/pdf")
    r = c.post("/api/v1/documents", {"control": "soc2:soc2-cc1-1", "kind": "dpia", "system": "payments",
                                     "title": "x", "file": f}, format="multipart")  # fmt: skip
    assert r.status_code == 400 and "dpia" in r.json()["error"]
    assert Receipt.objects.count() == receipts and ManualDocument.objects.count() == 1


def test_the_api_refuses_an_attestation_without_step_up_and_accepts_one_with_the_password(
    requirement, system, engineer, compliance_officer, risk_owner, cc11
):
    document = _approved(requirement, system, engineer, compliance_officer, days_ago=30)
    now = timezone.now()
    body = {
        "control": "soc2:soc2-cc1-1",
        "system": "payments",
        "period_start": (now - timedelta(days=90)).isoformat(),
        "period_end": (now - timedelta(days=1)).isoformat(),
        "statement": "Operated.",
        "documents": [document.pk],
    }
    c = _client(risk_owner)
    r = c.post("/api/v1/attestations", body, format="json")
    assert r.status_code == 403 and "Re-authenticate" in r.json()["error"]
    r = _client(engineer).post("/api/v1/attestations", {**body, "password": TEST_PASSWORD}, format="json")
    assert r.status_code == 403 and "owner" in r.json()["error"]
    r = c.post("/api/v1/attestations", {**body, "password": TEST_PASSWORD}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["digests"] == [document.sha256]
    assert Attestation.objects.count() == 1


def test_the_control_page_shows_the_upload_form_and_each_systems_manual_status(
    requirement, system, engineer, compliance_officer, client
):
    _approved(requirement, system, engineer, compliance_officer, days_ago=30)
    client.force_login(engineer)
    html = client.get("/controls/soc2:soc2-cc1-1/").content.decode()
    assert "Documents and attestations" in html and "Upload a document" in html
    assert "Code of conduct" in html and "Manual (documents or attestations)" in html


def test_the_upload_form_on_the_control_page_stores_the_document(requirement, system, engineer, cc11, client):
    client.force_login(engineer)
    f = SimpleUploadedFile("conduct.pdf", POLICY_PDF, content_type="application/pdf")
    r = client.post(f"/controls/{cc11.pk}/documents/upload",
                    {"requirement": requirement.pk, "system": system.pk, "title": "Conduct", "file": f})  # fmt: skip
    assert r.status_code == 302
    assert ManualDocument.objects.get().sha256 == hashlib.sha256(POLICY_PDF).hexdigest()


def test_the_overview_and_its_chart_split_automated_from_manual_and_show_not_assessed(
    requirement, system, engineer, compliance_officer, client
):
    from apps.policy import charts
    from apps.policy.selectors import overview_for_user

    _approved(requirement, system, engineer, compliance_officer, days_ago=30)
    coverage_snapshot(system_ids=[system.pk])
    snap = CoverageSnapshot.objects.get(system=system, framework__code="soc2")
    (soc2,) = [f for f in overview_for_user(user=compliance_officer).frameworks if f.code == "soc2"]
    assert soc2.manual == snap.manual > 0 and soc2.automated == snap.automated > 0
    assert soc2.automated_only + soc2.both + soc2.manual_only + soc2.unmapped == 61
    traces = {t["name"]: t["x"][0] for t in charts.assessment_by_framework([soc2])["data"]}
    assert traces == {"Automated (rules)": soc2.automated_only, "Automated and manual": soc2.both,
                      "Manual (documents)": soc2.manual_only, "Neither": soc2.unmapped}  # fmt: skip
    client.force_login(compliance_officer)
    html = client.get("/").content.decode()
    assert "documents only" in html and "assessment-chart" in html
    assert f"{snap.not_assessed} of 61 controls not assessed" in html


def test_an_auditor_cannot_upload_a_document_and_nothing_is_stored(requirement, system, auditor):
    receipts = Receipt.objects.count()
    with pytest.raises(PermissionDenied):
        _upload(requirement, system, auditor, days_ago=1)
    assert Receipt.objects.count() == receipts and not ManualDocument.objects.exists()


def test_an_attestation_relying_on_a_submitted_document_is_refused(requirement, system, engineer, risk_owner, cc11):
    from django.core.exceptions import ValidationError

    document = _upload(requirement, system, engineer, days_ago=1)
    with pytest.raises(ValidationError, match="approved"):
        attestation_record(actor=risk_owner, data=_attest_input(cc11, system, [document]),
                           reauthenticated_at=timezone.now())  # fmt: skip
    assert not Attestation.objects.exists()


def test_a_past_days_rollup_counts_documents_as_they_stood_that_day(requirement, system, engineer, compliance_officer):
    _approved(requirement, system, engineer, compliance_officer, days_ago=30)  # dated a month ago, approved today
    yesterday = timezone.localdate() - timedelta(days=1)
    coverage_snapshot(day=yesterday, system_ids=[system.pk])
    coverage_snapshot(system_ids=[system.pk])
    then = CoverageSnapshot.objects.get(system=system, framework__code="soc2", day=yesterday)
    today = CoverageSnapshot.objects.get(system=system, framework__code="soc2", day=timezone.localdate())
    assert then.control_status["soc2-cc1-1"] == "missing"  # not yet approved at the end of yesterday
    assert today.control_status["soc2-cc1-1"] == "pass"


def test_the_attestation_form_re_authenticates_with_the_password_and_refuses_a_wrong_one(
    requirement, system, engineer, compliance_officer, risk_owner, cc11, client
):
    document = _approved(requirement, system, engineer, compliance_officer, days_ago=30)
    now = timezone.now()
    form = {"system": system.pk, "period_start": (now - timedelta(days=90)).strftime("%Y-%m-%d %H:%M"),
            "period_end": (now - timedelta(days=1)).strftime("%Y-%m-%d %H:%M"), "statement": "Operated.",
            "documents": [document.pk]}  # fmt: skip
    client.force_login(risk_owner)
    client.post(f"/controls/{cc11.pk}/attestations/new", {**form, "password": "not-it"})
    assert not Attestation.objects.exists()
    assert ledger_entries(action="security.reauth_failed")
    client.post(f"/controls/{cc11.pk}/attestations/new", form)  # no password, no recent step-up
    assert not Attestation.objects.exists()
    r = client.post(f"/controls/{cc11.pk}/attestations/new", {**form, "password": TEST_PASSWORD})
    assert r.status_code == 302
    assert Attestation.objects.get().digests == [document.sha256]
