"""manage.py ingest_reconcile: exit 0 when every accepted receipt is accounted for, and a named
mismatch (non-zero exit) for each way something can be lost or done twice."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from apps.ingest.models import Receipt
from apps.ingest.selectors import reconciliation_summary
from apps.ingest.services import receipt_accept, receipt_parse, receipt_reparse
from apps.ledger.services import ledger_record
from tests.ingest.conftest import COMMIT, ci, system  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

JUNIT = b'<testsuite name="s" tests="%d" failures="0"><testcase classname="a" name="b"/></testsuite>'


def _accepted(source, n: int, *, parse: bool = True) -> list[Receipt]:
    receipts = []
    for i in range(n):
        receipt, _ = receipt_accept(source=source, channel="upload", body=JUNIT % (i + 1), subject=COMMIT,
                                    enqueue=False)
        receipts.append(receipt_parse(receipt_id=receipt.pk) if parse else receipt)
    return receipts


def _reconcile(*args: str) -> str:
    out = StringIO()
    call_command("ingest_reconcile", *args, stdout=out)
    return out.getvalue()


def _mismatch(*args: str) -> str:
    with pytest.raises(CommandError) as failure:
        _reconcile(*args)
    return str(failure.value)


def test_counts_match_when_every_delivery_became_evidence(ci):  # noqa: F811
    _accepted(ci.source, 3)
    out = _reconcile("--source", ci.source.name, "--sent", "3", "--accepted", "3", "--settled")
    assert "reconciled" in out
    total = reconciliation_summary(source_ids=[ci.source.pk]).total
    assert (total.receipts, total.by_state["parsed"], total.evidence, total.accepted_entries) == (3, 3, 3, 3)


def test_the_json_report_carries_the_counts_per_source_and_overall(ci):  # noqa: F811
    _accepted(ci.source, 2)
    report = json.loads(_reconcile("--json", "--source", str(ci.source.pk)))
    assert report["ok"] is True and report["problems"] == []
    assert report["sources"][0]["name"] == ci.source.name
    assert report["total"]["by_state"]["parsed"] == 2 and report["total"]["evidence"] == 2


def test_client_counts_that_differ_from_the_database_are_a_mismatch(ci):  # noqa: F811
    _accepted(ci.source, 2)
    assert "sent 3 deliveries but only 2 were accepted" in _mismatch(
        "--source", ci.source.name, "--sent", "3", "--accepted", "2")
    assert "was given 3 receipts, the database holds 2" in _mismatch("--source", ci.source.name, "--accepted", "3")


def test_a_parsed_receipt_without_evidence_is_a_mismatch(ci):  # noqa: F811
    (receipt,) = _accepted(ci.source, 1, parse=False)
    Receipt.objects.filter(pk=receipt.pk).update(state=Receipt.State.PARSED, attempts=1)
    assert "1 parsed receipts without evidence" in _mismatch()


def test_evidence_of_an_attempt_that_did_not_finish_is_a_mismatch(ci):  # noqa: F811
    (receipt,) = _accepted(ci.source, 1)
    Receipt.objects.filter(pk=receipt.pk).update(state=Receipt.State.FAILED, error="broke after writing")
    assert "1 evidence rows without a receipt whose parse finished" in _mismatch()


def test_a_receipt_parsed_twice_is_a_mismatch_but_a_requested_reparse_is_not(ci, admin_user):  # noqa: F811
    first, second = _accepted(ci.source, 2)
    receipt_reparse(actor=admin_user, receipt_id=first.pk)
    receipt_parse(receipt_id=first.pk)
    _reconcile("--settled")  # asked for twice, parsed twice: fine
    with transaction.atomic():  # a second parse nobody asked for
        ledger_record(actor="system:receipt_parse", action="receipt.parsed", target=second, data={})
    assert "1 receipts parsed more often than asked (duplicate processing)" in _mismatch()


def test_a_receipt_without_its_ledger_entry_is_a_mismatch(ci):  # noqa: F811
    _accepted(ci.source, 1)
    now = timezone.now()
    Receipt.objects.create(source=ci.source, channel="upload", sha256="0" * 64, size=1, received_at=now,
                           state_since=now)  # written around receipt_accept: no receipt.accepted entry
    problems = _mismatch()
    assert "2 receipts but 1 ledger receipt.accepted entries (1 receipts without one)" in problems


def test_failed_receipts_must_say_why(ci):  # noqa: F811
    (receipt,) = _accepted(ci.source, 1, parse=False)
    Receipt.objects.filter(pk=receipt.pk).update(state=Receipt.State.FAILED, error="")
    assert "1 failed receipts without a reason" in _mismatch()


def test_receipts_still_queued_pass_unless_settled_is_asked_or_they_are_stuck(ci):  # noqa: F811
    (receipt,) = _accepted(ci.source, 1, parse=False)
    _reconcile()
    assert "1 receipts not yet parsed or failed" in _mismatch("--settled")
    Receipt.objects.filter(pk=receipt.pk).update(state_since=timezone.now() - timedelta(hours=1))
    assert "1 receipts stuck queued or parsing" in _mismatch()


def test_client_counts_need_a_source(ci):  # noqa: F811
    assert "name them with --source" in _mismatch("--sent", "1")
    assert "there is no source 'nope'" in _mismatch("--source", "nope")
