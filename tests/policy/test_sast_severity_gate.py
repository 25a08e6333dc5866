"""Issue 17, hole 3, end to end: bandit's HIGH findings on the release's commit fail sast-no-high-findings."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import timezone

from apps.ingest.models import Receipt
from apps.ingest.services import receipt_accept, receipt_parse
from apps.policy.models import ControlResult, ResultStatus
from apps.policy.services import policy_evaluate
from devtools.demo.policy import MARKETING_COMMIT

pytestmark = pytest.mark.django_db

BANDIT = Path(__file__).resolve().parents[1] / "ingest" / "parsers" / "data" / "bandit_shell_md5.sarif"
RELEASE = "release:https://github.com/acme/marketing-site@2.4.0"


def _sast_result():
    return ControlResult.objects.filter(artifact__uri=RELEASE, rule__key="sast-no-high-findings").first()


def test_a_release_whose_commit_has_bandit_high_findings_fails_sast_no_high_findings(marketing):
    policy_evaluate()
    assert _sast_result().status == ResultStatus.PASS  # the demo's clean scan

    receipt, _ = receipt_accept(
        source=marketing["ci"].source,
        channel=Receipt.Channel.UPLOAD,
        body=BANDIT.read_bytes(),
        content_type="application/octet-stream",
        delivery_key="bandit-scan",
        headers={},
        filename="bandit.sarif",
        subject=MARKETING_COMMIT,
        effective_at=timezone.now(),
        enqueue=False,
    )
    assert receipt_parse(receipt_id=receipt.pk).state == Receipt.State.PARSED
    policy_evaluate()

    result = _sast_result()
    assert result.status == ResultStatus.FAIL
    assert "high_severity = 3" in result.reason
