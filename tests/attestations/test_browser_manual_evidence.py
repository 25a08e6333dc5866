"""Browser journey (issue 24): an engineer uploads a required document on a control's page, a compliance
officer approves it there, and the overview splits rules from documents. Set PORTAL_SHOTS_DIR to keep
screenshots of the pages (the reviewer looks at them; the assertions do not depend on them)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.attestations.models import DocumentRequirement, ManualDocument
from apps.attestations.services import DocumentUpload, document_approve, document_upload
from apps.policy.models import CoverageSnapshot
from apps.policy.services import coverage_snapshot, policy_evaluate
from tests.conftest import TEST_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("PORTAL_SHOTS_DIR", "")


def _shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def _sign_in(page, base: str, user) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def _seed_documents(system, engineer, officer) -> None:
    """A believable slice: most required SOC 2 documents current, one access review overdue."""
    now = timezone.now()
    ages = {"policy": 120, "training-record": 200, "procedure": 300, "tabletop-exercise": 150,
            "vendor-assessment": 90, "access-review": 130}  # 130 days: past the 90-day cadence  # fmt: skip
    required = DocumentRequirement.objects.filter(control__framework__code="soc2")
    for req in required.exclude(control__control_id="soc2-cc1-1"):
        upload = DocumentUpload(body=f"{req.kind} for {system.slug} ({req.pk})".encode(), filename=f"{req.kind}.pdf",
                                content_type="application/pdf", title=f"{req.get_kind_display()} 2026",
                                document_date=now - timedelta(days=ages[req.kind]))  # fmt: skip
        doc = document_upload(actor=engineer, requirement_id=req.pk, system=system, upload=upload)
        document_approve(actor=officer, document_id=doc.pk)


def test_a_document_uploaded_and_approved_on_the_control_page_counts_in_coverage(
    live_server,
    browser,
    marketing,
    make_user,
    tmp_path,
):
    system = marketing["system"]
    engineer, officer = make_user(Role.ENGINEER), make_user(Role.COMPLIANCE_OFFICER)
    _seed_documents(system, engineer, officer)
    base = live_server.url

    eng = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _sign_in(eng, base, engineer)
    eng.goto(f"{base}/controls/soc2:soc2-cc1-1/")
    eng.get_by_text("Upload a document").click()
    eng.get_by_label("Required document").select_option(label=str(DocumentRequirement.objects.get(
        control__control_id="soc2-cc1-1", kind="policy")))  # fmt: skip
    eng.get_by_label("System it covers").select_option(label=system.name)
    eng.get_by_label("Title").fill("Code of conduct v3")
    pdf = tmp_path / "conduct.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% code of conduct v3\n")
    eng.get_by_label("File").set_input_files(str(pdf))
    eng.get_by_role("button", name="Upload", exact=True).click()
    eng.wait_for_selector("text=Document uploaded")
    assert ManualDocument.objects.filter(title="Code of conduct v3", status="submitted").exists()

    co = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _sign_in(co, base, officer)
    co.goto(f"{base}/controls/soc2:soc2-cc1-1/")
    co.get_by_role("button", name="Approve").click()
    co.wait_for_url(f"{base}/controls/soc2:soc2-cc1-1/")
    assert ManualDocument.objects.get(title="Code of conduct v3").status == "approved"
    _shot(co, "control-page-cc1-1")

    policy_evaluate()
    coverage_snapshot(system_ids=[system.pk])
    snap = CoverageSnapshot.objects.get(system=system, framework__code="soc2")
    assert snap.control_status["soc2-cc1-1"] == "pass" and snap.control_status["soc2-cc6-2"] == "fail"
    co.goto(f"{base}/")
    co.wait_for_selector("[data-chart=assessment-chart][data-rendered=true]")
    assert co.get_by_text("documents only").first.is_visible()
    _shot(co, "overview")
    co.goto(f"{base}/controls/?framework=soc2")
    _shot(co, "framework-soc2")
    co.goto(f"{base}/controls/soc2:soc2-cc6-2/")
    _shot(co, "control-page-cc6-2-overdue")
