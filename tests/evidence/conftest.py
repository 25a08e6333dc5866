import pytest

from apps.ingest.services import receipt_accept, receipt_parse, source_create
from apps.inventory.models import System
from tests.ingest.conftest import COMMIT, fixture_bytes


@pytest.fixture
def parsed_evidence(db):
    """A JUnit (fail), a SARIF (fail) and a CycloneDX (info) about one commit, plus a workflow run (pass)."""
    system = System.objects.create(name="Payments API", slug="payments-api", risk_tier="high")
    ci = source_create(actor="system:test", kind="generic-ci", name="ci", system=system)
    gh = source_create(actor="system:test", kind="github", name="gh", system=system)
    receipts = []
    for fixture in ("junit_pytest.xml", "ruff_check.sarif", "cyclonedx_py_env.cdx.json"):
        receipt, _ = receipt_accept(
            source=ci.source,
            channel="upload",
            body=fixture_bytes(fixture),
            subject=COMMIT,
            filename=fixture,
            enqueue=False,
        )
        receipts.append(receipt_parse(receipt_id=receipt.pk))
    receipt, _ = receipt_accept(
        source=gh.source,
        channel="github",
        event="workflow_run",
        enqueue=False,
        body=fixture_bytes("github/workflow_run.completed.json"),
    )
    receipts.append(receipt_parse(receipt_id=receipt.pk))
    return receipts


@pytest.fixture
def auditor(make_user, parsed_evidence):
    """An auditor in an open engagement over the evidence's system (issue 9: auditors see only that)."""
    from tests.engagements.conftest import engaged_auditor

    return engaged_auditor(make_user, System.objects.all())
