"""Issue 17, holes 4 and 5: dates a sender chooses never extend freshness or shorten retention;
an Idempotency-Key reused with another body is a conflict, not a silent duplicate."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.evidence.models import Evidence
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_accept, receipt_parse
from apps.ledger.models import PendingEntry
from apps.policy.models import ControlResult
from apps.policy.services import policy_evaluate
from apps.retention.selectors import evidence_retention
from apps.retention.services import retention_dispose_due
from tests.ingest.conftest import COMMIT, body_stored, fixture_bytes, upload

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


# ---------------------------------------------------------------- hole 5: Idempotency-Key


def test_an_idempotency_key_reused_with_another_body_is_a_409_naming_both_digests(client, ci):
    run = os.urandom(8).hex()  # bodies no earlier run left in the blob store
    first_body, second_body = f"<testsuite name='a{run}'/>".encode(), f"<testsuite name='b{run}'/>".encode()
    first = upload(client, ci.token, first_body, key="build-42")
    assert first.status_code == 202
    receipts, ledger = Receipt.objects.count(), PendingEntry.objects.count()

    again = upload(client, ci.token, second_body, key="build-42")

    assert again.status_code == 409
    body = again.json()
    assert body["sha256"] == hashlib.sha256(second_body).hexdigest()
    assert body["original_sha256"] == hashlib.sha256(first_body).hexdigest() == first.json()["sha256"]
    assert body["receipt"] == first.json()["receipt"]
    assert "Idempotency-Key 'build-42'" in body["error"] and "another body" in body["error"]
    # Nothing stored: no receipt, no ledger entry, no blob of the second file.
    assert Receipt.objects.count() == receipts and PendingEntry.objects.count() == ledger
    assert not body_stored(second_body)
    # The same body again is still a harmless replay.
    assert upload(client, ci.token, first_body, key="build-42").status_code == 200


# ---------------------------------------------------------------- hole 4: dates


def test_an_effective_time_in_the_future_is_refused_with_400_and_nothing_is_stored(client, ci):
    body = f"<testsuite name='future {os.urandom(8).hex()}'/>".encode()
    response = upload(client, ci.token, body, effective_at="2030-01-01T00:00:00Z")
    assert response.status_code == 400
    error = response.json()["error"]
    assert "effective_at 2030-01-01T00:00:00Z" in error and "more than 5 minutes after" in error
    assert not Receipt.objects.exists() and not body_stored(body)
    # A few minutes of clock skew is fine.
    soon = (timezone.now() + timedelta(minutes=4)).isoformat()
    assert upload(client, ci.token, body, effective_at=soon).status_code == 202


def test_freshness_counts_from_the_earlier_of_effective_and_received_time(ci):
    """A scan dated 4 minutes ahead (allowed skew) must not stay fresh 4 minutes longer."""
    receipt, _ = receipt_accept(
        source=ci.source, channel="upload", body=fixture_bytes("ruff_check.sarif"), subject=COMMIT,
        filename="scan.sarif", effective_at=timezone.now() + timedelta(minutes=4), enqueue=False,
    )  # fmt: skip
    receipt_parse(receipt_id=receipt.pk)
    received = Receipt.objects.get(pk=receipt.pk).received_at
    # 30 days and 2 minutes after receipt: 30 days minus 2 minutes after the date the sender chose.
    policy_evaluate(now=received + 30 * DAY + timedelta(minutes=2))
    results = ControlResult.objects.filter(rule__key="security-scan-fresh", artifact__uri=COMMIT)
    assert set(results.values_list("status", flat=True)) == {"fail"}


def test_a_past_effective_time_never_makes_fresh_evidence_due_for_disposal(ci, system):
    receipt, _ = receipt_accept(
        source=ci.source, channel="upload", body=fixture_bytes("junit_pytest.xml"), subject=COMMIT,
        filename="junit.xml", system=system, effective_at=datetime(2015, 1, 1, tzinfo=UTC), enqueue=False,
    )  # fmt: skip
    receipt_parse(receipt_id=receipt.pk)
    evidence = Evidence.objects.get(receipt=receipt)
    retention = evidence_retention(evidence)
    # The default schedule (1095 days) runs from the day the portal received it.
    assert retention.kept_until == evidence.received_at + 1095 * DAY
    assert retention.receipt_kept_until == evidence.received_at + 1095 * DAY
    assert retention_dispose_due(now=timezone.now()) == 0
    assert retention_dispose_due(now=evidence.received_at + 1096 * DAY) == 1
