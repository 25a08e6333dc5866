"""Review on material change: the frozen state, what counts as material, and the return to review."""

import pytest
from django.utils import timezone

from apps.accounts.models import Notification
from apps.exceptions.findings import findings_of, material_changes
from apps.exceptions.models import ExceptionRequest
from apps.exceptions.services import exception_check_material_changes
from apps.policy.models import ControlResult
from tests.exceptions.conftest import approve_chain, control_status

Status = ExceptionRequest.Status


def _state(*findings, tier="high"):
    return {
        "results": [
            {"rule": "r", "status": "fail", "findings": {"high": h, "critical": 0, "errors": 0, "failed": 0}}
            for h in findings
        ],
        "system_risk_tier": tier,
    }


def test_more_high_findings_than_approved_is_material():
    assert material_changes(_state(3), _state(4)) == ["rule r: 4 high-severity findings now, at most 3 when approved"]


def test_the_same_or_fewer_findings_is_not_material():
    assert material_changes(_state(3), _state(3)) == []
    assert material_changes(_state(3, 1), _state(2)) == []


def test_a_higher_system_tier_is_material():
    assert material_changes(_state(1), _state(1, tier="critical")) == [
        "the system's risk tier rose from high to critical"
    ]


def test_findings_are_read_from_the_summaries_the_parsers_write():
    assert findings_of({"high_severity": 2, "by_level": {"error": 5}}) == {
        "critical": 0,
        "high": 2,
        "errors": 5,
        "failed": 0,
    }
    assert findings_of({"failed": 3, "failed_by_severity": {"CRITICAL": 1, "HIGH": 2}})["critical"] == 1
    assert findings_of(None) == {"critical": 0, "high": 0, "errors": 0, "failed": 0}


def test_normalised_sarif_severities_count_once_with_criticals_apart():
    summary = {"high_severity": 3, "by_severity": {"critical": 1, "high": 2, "medium": 4}, "by_level": {"error": 3}}
    assert findings_of(summary) == {"critical": 1, "high": 2, "errors": 3, "failed": 0}


@pytest.mark.django_db
def test_a_new_scan_with_more_findings_sends_an_active_exception_back_to_review(
    make_request, owners, control, system, parsed_sarif
):
    req = approve_chain(make_request("high"), owners)
    assert control_status(control, system) == {"excepted"}
    assert exception_check_material_changes() == []  # nothing changed yet
    # The evaluation now sees a scan with error-level findings behind the covered result.
    ControlResult.objects.filter(control=control, system=system).update(
        evidence_ids=[parsed_sarif.pk], evaluated_at=timezone.now()
    )
    assert exception_check_material_changes() == [req.pk]
    req.refresh_from_db()
    assert req.status == Status.PENDING and "error-level" in req.review_reason
    assert not req.approvals.filter(voided_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=owners["risk_owner"], title__contains="back in review").exists()
    assert "excepted" not in control_status(control, system)


@pytest.mark.django_db
def test_a_higher_system_tier_sends_it_back_to_review(make_request, owners, system):
    req = approve_chain(make_request("low"), owners)
    system.risk_tier = "critical"
    system.save()
    assert exception_check_material_changes() == [req.pk]


@pytest.fixture
def parsed_sarif(system):
    from apps.ingest.services import receipt_accept, receipt_parse, source_create
    from tests.ingest.conftest import COMMIT, fixture_bytes

    ci = source_create(actor="system:test", kind="generic-ci", name="ci", system=system)
    receipt, _ = receipt_accept(
        source=ci.source,
        channel="upload",
        body=fixture_bytes("ruff_check.sarif"),
        subject=COMMIT,
        filename="ruff_check.sarif",
        enqueue=False,
    )
    receipt_parse(receipt_id=receipt.pk)
    evidence = receipt.evidence.get()
    assert findings_of(evidence.summary)["errors"] > 0
    return evidence
