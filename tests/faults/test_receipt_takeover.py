"""A parse task that was redelivered (its pool process was killed) or retried (it raised) takes
over a receipt its earlier attempt left "parsing"; a fresh task does not; and a receipt that
kills its worker every time is failed with the reason instead of looping."""

from __future__ import annotations

import pytest

from apps.evidence.models import Evidence
from apps.ingest.models import Receipt
from apps.ingest.services import MAX_PARSE_ATTEMPTS, receipt_accept, receipt_parse
from apps.ingest.tasks import receipt_parse as receipt_parse_task
from apps.ledger.models import PendingEntry
from tests.ingest.conftest import COMMIT, ci, system  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

JUNIT = b'<testsuite name="s" tests="1" failures="0"><testcase classname="a" name="b"/></testsuite>'


def _interrupted(source, *, attempts: int = 1) -> Receipt:
    """A receipt whose parse was claimed and never finished: what a SIGKILLed worker leaves."""
    receipt, _ = receipt_accept(source=source, channel="upload", body=JUNIT, subject=COMMIT, enqueue=False)
    Receipt.objects.filter(pk=receipt.pk).update(state=Receipt.State.PARSING, attempts=attempts)
    return receipt


def test_a_fresh_parse_leaves_a_receipt_another_attempt_is_parsing_alone(ci):  # noqa: F811
    receipt = _interrupted(ci.source)
    assert receipt_parse(receipt_id=receipt.pk) is None
    assert Receipt.objects.get(pk=receipt.pk).state == Receipt.State.PARSING


def test_a_takeover_parses_the_interrupted_receipt_once_and_records_it(ci):  # noqa: F811
    receipt = _interrupted(ci.source)
    parsed = receipt_parse(receipt_id=receipt.pk, takeover=True)
    assert parsed.state == Receipt.State.PARSED and parsed.attempts == 2
    assert list(Evidence.objects.filter(receipt=receipt).values_list("generation", flat=True)) == [2]
    assert PendingEntry.objects.filter(action="receipt.requeued", object_id=str(receipt.pk)).count() == 1
    # A second redelivery finds it parsed: nothing more happens.
    assert receipt_parse(receipt_id=receipt.pk, takeover=True) is None
    assert Evidence.objects.filter(receipt=receipt).count() == 1


def test_a_receipt_that_kills_its_worker_every_time_ends_failed_with_the_reason(ci):  # noqa: F811
    receipt = _interrupted(ci.source, attempts=MAX_PARSE_ATTEMPTS)
    failed = receipt_parse(receipt_id=receipt.pk, takeover=True)
    assert failed.state == Receipt.State.FAILED and "died each time" in failed.error
    assert not Evidence.objects.filter(receipt=receipt).exists()


def test_only_a_retried_task_takes_over(ci):  # noqa: F811
    receipt = _interrupted(ci.source)
    receipt_parse_task.apply(args=[receipt.pk])  # a first delivery: someone else is parsing it
    assert Receipt.objects.get(pk=receipt.pk).state == Receipt.State.PARSING
    receipt_parse_task.apply(args=[receipt.pk], retries=1)  # the earlier attempt raised: it is over
    assert Receipt.objects.get(pk=receipt.pk).state == Receipt.State.PARSED
