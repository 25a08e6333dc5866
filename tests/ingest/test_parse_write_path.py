"""The write path of parsed facts (issue 25): a constant number of statements whatever the item count,
the same rows and the same ledger entries as before, detail rows that survive COPY byte for byte."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.evidence.models import Artifact, Evidence, EvidenceRecord, EvidenceSubject, LineageEdge
from apps.evidence.services import _array
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_accept, receipt_parse
from apps.ledger.models import PendingEntry
from bench.parsers_bench import make_cyclonedx

pytestmark = pytest.mark.django_db

SUBJECT = "oci://registry.example.com/payments/api@sha256:" + "ab" * 32


def _parse(source, body: bytes, fmt: str) -> tuple[Receipt, int]:
    receipt, _ = receipt_accept(
        source=source, channel="upload", body=body, subject=SUBJECT, format_hint=fmt, enqueue=False
    )
    with CaptureQueriesContext(connection) as queries:
        parsed = receipt_parse(receipt_id=receipt.pk)
    assert parsed.state == Receipt.State.PARSED, parsed.error
    return parsed, len(queries)


def _ledger(receipt: Receipt, evidence: Evidence) -> list[tuple[str, dict]]:
    entries = PendingEntry.objects.filter(
        object_id__in=[str(receipt.pk), str(evidence.pk)], action__in=["evidence.recorded", "receipt.parsed"]
    ).order_by("id")
    return [(e.action, json.loads(e.canonical)["data"]) for e in entries]


def test_parsing_a_2000_component_sbom_takes_as_many_statements_as_a_200_component_one(ci):
    _small, small_queries = _parse(ci.source, make_cyclonedx(200), "cyclonedx")
    large, large_queries = _parse(ci.source, make_cyclonedx(2000), "cyclonedx")
    # Neither rows nor ledger entries go in one by one: the count does not grow with the components.
    assert large_queries == small_queries
    assert large_queries <= 25
    evidence = Evidence.objects.get(receipt=large)
    assert [action for action, _ in _ledger(large, evidence)] == ["evidence.recorded", "receipt.parsed"]


def test_a_parsed_sbom_writes_every_component_detail_row_and_edge_with_one_ledger_entry(ci):
    receipt, _ = _parse(ci.source, make_cyclonedx(2000), "cyclonedx")
    evidence = Evidence.objects.get(receipt=receipt)
    assert EvidenceRecord.objects.filter(evidence=evidence).count() == 2000
    assert sorted(EvidenceRecord.objects.filter(evidence=evidence).values_list("ordinal", flat=True)) == list(
        range(2000)
    )
    assert EvidenceRecord.objects.get(evidence=evidence, ordinal=1999).data["purl"] == "pkg:pypi/package-1999@1.9.4"
    packages = Artifact.objects.filter(uri__startswith="pkg:pypi/package-")
    assert packages.count() == 2000
    image = Artifact.objects.get(uri=SUBJECT)
    assert EvidenceSubject.objects.get(evidence=evidence, role=EvidenceSubject.Role.PRIMARY).artifact == image
    contains = LineageEdge.objects.filter(evidence=evidence, relation="contains", target=image).count()
    edges = LineageEdge.objects.filter(evidence=evidence).count()
    assert contains >= 2000
    (recorded_action, recorded), (_, parsed) = _ledger(receipt, evidence)
    assert recorded_action == "evidence.recorded"
    assert recorded["records"] == 2000 and recorded["new_edges"] == edges
    assert recorded["subject"] == SUBJECT and recorded["sha256"] == receipt.sha256
    assert parsed["evidence"] == [str(evidence.pk)]


def test_detail_rows_keep_backslashes_tabs_newlines_and_unicode_through_copy(ci):
    text = 'C:\\temp\\x.py\tline\nnext \\N "quoted" \u00e9\u2028 \x00nul \\\\ end\\'
    sarif = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "scanner", "version": "1"}},
                "results": [
                    {"ruleId": "R1", "level": "error", "message": {"text": text}},
                    {"ruleId": "R\\2", "level": "note", "message": {"text": "\\N"}},
                ],
            }
        ],
    }
    receipt, _ = _parse(ci.source, json.dumps(sarif).encode(), "sarif")
    rows = dict(EvidenceRecord.objects.filter(evidence__receipt=receipt).values_list("ordinal", "data"))
    assert rows[0]["message"] == text.replace("\x00", "")
    assert rows[1]["message"] == "\\N" and rows[1]["rule_id"] == "R\\2"


@pytest.mark.parametrize(
    ("values", "cast"),
    [
        (["pkg:pypi/a@1", "", "x y", "back\\slash", "quote'd", "\u00e9\u2028"], "text"),
        (["two\nlines", "one"], "text"),
        ([""], "text"),
        (["", ""], "text"),
        (["only"], "text"),
        ([], "text"),
        ([1, 2, 9_007_199_254_740_991], "bigint"),
    ],
)
def test_array_parameters_reach_the_server_as_the_same_array(values, cast):
    sql, param = _array(values, cast)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}", [param])  # noqa: S608 - _array() returns a constant fragment
        assert cursor.fetchone()[0] == values
