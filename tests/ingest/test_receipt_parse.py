"""Parsing receipts: claims, failures with reasons, re-parse after a fix, the sweep, bulk detail rows."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps import formats as parsers
from apps.common.states import InvalidTransition
from apps.evidence.models import Evidence, EvidenceRecord
from apps.formats import ParseError
from apps.ingest.blobs import blob_read
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_accept, receipt_parse, receipt_reparse, receipt_sweep
from apps.ledger.models import PendingEntry
from tests.ingest.conftest import COMMIT, upload

pytestmark = pytest.mark.django_db

XML_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<testsuite name="x" tests="1"><testcase name="&lol3;"/></testsuite>"""


def _accept(source, body: bytes, **kwargs) -> Receipt:
    receipt, _ = receipt_accept(source=source, channel="upload", body=body, subject=COMMIT, enqueue=False, **kwargs)
    return receipt


def test_parse_failure_marks_the_receipt_failed_with_the_reason_and_keeps_the_blob(ci):
    receipt = receipt_parse(receipt_id=_accept(ci.source, b"<testsuite><testcase", format_hint="junit").pk)
    assert receipt.state == Receipt.State.FAILED and "not well-formed XML" in receipt.error
    assert blob_read(receipt.sha256) == b"<testsuite><testcase"
    assert not Evidence.objects.exists()
    assert PendingEntry.objects.filter(action="receipt.failed", object_id=str(receipt.pk)).exists()


def test_xml_bomb_fails_the_receipt_instead_of_the_worker(ci):
    receipt = receipt_parse(receipt_id=_accept(ci.source, XML_BOMB, format_hint="junit").pk)
    assert receipt.state == Receipt.State.FAILED and "DTD" in receipt.error


def test_undeclared_xml_bomb_is_kept_raw_as_generic_evidence_without_expansion(ci):
    receipt = receipt_parse(receipt_id=_accept(ci.source, XML_BOMB).pk)
    assert receipt.state == "parsed"
    assert Evidence.objects.get(receipt=receipt).summary["size_bytes"] == len(XML_BOMB)


def test_reparse_after_a_fix_turns_a_failed_receipt_into_evidence(ci, monkeypatch, admin_user):
    real = parsers.PARSERS["junit"]

    def broken(body):
        raise ParseError("JUnit: parser bug")

    monkeypatch.setitem(parsers.PARSERS, "junit", broken)
    body = b'<testsuite name="s" tests="1" failures="0"><testcase classname="a" name="b"/></testsuite>'
    receipt = receipt_parse(receipt_id=_accept(ci.source, body).pk)
    assert receipt.state == "failed" and receipt.error == "JUnit: parser bug"

    monkeypatch.setitem(parsers.PARSERS, "junit", real)  # the fix is deployed
    receipt_reparse(actor=admin_user, receipt_id=receipt.pk)
    receipt = receipt_parse(receipt_id=receipt.pk)
    assert receipt.state == "parsed" and receipt.error == "" and receipt.attempts == 2
    assert Evidence.objects.get(receipt=receipt).verdict == "pass"


def test_only_failed_or_parsed_receipts_can_be_reparsed(ci):
    receipt = _accept(ci.source, b"<testsuite/>")
    with pytest.raises(InvalidTransition):
        receipt_reparse(actor="system:test", receipt_id=receipt.pk)


def test_a_queued_receipt_is_refused_a_reparse_as_a_validation_error(ci):
    from django.core.exceptions import ValidationError

    receipt = _accept(ci.source, b"<testsuite/>")
    with pytest.raises(ValidationError, match="only failed or parsed receipts re-parse"):
        receipt_reparse(actor="system:test", receipt_id=receipt.pk)
    assert Receipt.objects.get(pk=receipt.pk).state == Receipt.State.QUEUED


def test_reparsing_a_parsed_receipt_writes_a_new_generation_and_keeps_the_old(client, ci, admin_user):
    receipt = receipt_parse(receipt_id=_accept(ci.source, b'<testsuite name="s" tests="0"/>').pk)
    first = Evidence.objects.get(receipt=receipt)
    receipt_reparse(actor="system:test", receipt_id=receipt.pk)
    receipt_parse(receipt_id=receipt.pk)
    assert Evidence.objects.filter(receipt=receipt).count() == 2
    client.force_login(admin_user)
    body = client.get(f"/api/v1/receipts/{receipt.pk}").json()
    assert body["evidence"] != [str(first.pk)] and len(body["evidence"]) == 1


def test_reparse_receipts_command_queues_every_failed_receipt(ci, django_capture_on_commit_callbacks):
    failed = [receipt_parse(receipt_id=_accept(ci.source, b"{", format_hint="sarif").pk) for _ in range(2)]
    out = StringIO()
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("reparse_receipts", "--failed", stdout=out)
    assert "2 receipt(s) queued" in out.getvalue() and len(callbacks) == 2
    assert set(Receipt.objects.filter(pk__in=[r.pk for r in failed]).values_list("state", flat=True)) == {"queued"}


def test_a_receipt_is_parsed_once_even_if_the_task_runs_twice(ci):
    receipt = _accept(ci.source, b'<testsuite name="s" tests="0"/>')
    assert receipt_parse(receipt_id=receipt.pk).state == "parsed"
    assert receipt_parse(receipt_id=receipt.pk) is None
    assert Evidence.objects.filter(receipt=receipt).count() == 1


def test_sweep_requeues_stuck_receipts_and_leaves_fresh_ones(ci, settings, django_capture_on_commit_callbacks):
    settings.PORTAL_RECEIPT_SWEEP_SECONDS = 60
    stuck = _accept(ci.source, b"<testsuite/>")
    fresh = _accept(ci.source, b"<testsuite/>")
    dead = _accept(ci.source, b"<testsuite/>")
    long_ago = timezone.now() - timedelta(hours=2)
    Receipt.objects.filter(pk=stuck.pk).update(state_since=long_ago)
    Receipt.objects.filter(pk=dead.pk).update(state="parsing", state_since=long_ago, attempts=1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert receipt_sweep() == 2
    assert len(callbacks) == 1
    assert Receipt.objects.get(pk=dead.pk).state == "queued"
    assert Receipt.objects.get(pk=fresh.pk).state_since == fresh.state_since
    assert receipt_sweep() == 0  # moved forward: not sent again until the interval has passed again


def test_fifty_thousand_sarif_results_are_written_with_copy(ci):
    results = [
        {
            "ruleId": f"R{i % 40}",
            "level": "warning",
            "message": {"text": f"finding {i} \u0000 nul"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f"src/f{i}.py"},
                        "region": {"startLine": i % 500 + 1},
                    }
                }
            ],
        }
        for i in range(50_000)
    ]
    sarif = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "bench", "version": "1"}}, "results": results}]}
    receipt = receipt_parse(receipt_id=_accept(ci.source, json.dumps(sarif).encode()).pk)
    assert receipt.state == "parsed", receipt.error
    evidence = Evidence.objects.get(receipt=receipt)
    assert EvidenceRecord.objects.filter(evidence=evidence).count() == 50_000
    assert "\x00" not in EvidenceRecord.objects.get(evidence=evidence, ordinal=7).data["message"]


@pytest.fixture
def auditor(make_user, system):
    """An auditor in an open engagement over the sources' system (issue 9: auditors see only that)."""
    from tests.engagements.conftest import engaged_auditor

    return engaged_auditor(make_user, [system])


def test_receipt_status_for_its_source_a_user_and_nobody_else(client, ci, github, auditor):
    response = upload(client, ci.token, b'<testsuite name="s" tests="0"/>')
    receipt_id = response.json()["receipt"]
    url = f"/api/v1/receipts/{receipt_id}"
    mine = client.get(url, headers={"Authorization": f"Bearer {ci.token}"})
    assert mine.status_code == 200 and mine.json() == {
        "id": receipt_id,
        "state": "queued",
        "error": "",
        "evidence": [],
        "sha256": response.json()["sha256"],
        "recognised": None,
    }
    assert client.get(url, headers={"Authorization": f"Bearer {github.token}"}).status_code == 404
    assert client.get(url).status_code == 401
    receipt_parse(receipt_id=int(receipt_id))
    client.force_login(auditor)
    body = client.get(url).json()
    assert body["state"] == "parsed" and body["evidence"] == [str(Evidence.objects.get().pk)]
