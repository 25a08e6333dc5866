"""Detail rows (EvidenceRecord) belong to evidence that exists, checked once per statement.

A parse writes its detail rows with one COPY (apps.evidence.services._copy_records): tens of
thousands of rows naming one evidence row. A foreign key checks each of them on its own (a query
per row: ~45% of PostgreSQL's time for a 50,000-result SARIF log); the statement-level check of
migration evidence 0010 checks the distinct evidence ids of the whole statement, with the same lock
a foreign key check takes. Evidence itself is never deleted (evidence 0003), so the check on insert
is the whole of the guarantee."""

from __future__ import annotations

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction

from apps.evidence.models import Evidence, EvidenceRecord

pytestmark = pytest.mark.django_db


def _missing_evidence_id() -> int:
    return (Evidence.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000


def test_a_record_of_evidence_that_does_not_exist_is_refused_and_nothing_is_written(parsed_evidence):
    evidence = Evidence.objects.get(kind="test-report")
    before = EvidenceRecord.objects.count()
    missing = _missing_evidence_id()
    with pytest.raises(IntegrityError, match="no such evidence"), transaction.atomic():
        EvidenceRecord.objects.bulk_create([
            EvidenceRecord(evidence=evidence, ordinal=9000, data={}),
            EvidenceRecord(evidence_id=missing, ordinal=0, data={}),
        ])
    # COPY goes through psycopg's own cursor (as _copy_records does), so psycopg's error class.
    copy_sql = "COPY evidence_evidencerecord (evidence_id, ordinal, data) FROM STDIN"
    with (
        pytest.raises(psycopg.errors.ForeignKeyViolation, match="no such evidence"),
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(copy_sql) as copy,
    ):
        copy.write(f"{evidence.pk}\t9001\t{{}}\n{missing}\t1\t{{}}\n".encode())
    assert EvidenceRecord.objects.count() == before
    EvidenceRecord.objects.create(evidence=evidence, ordinal=9002, data={"ok": True})  # an existing one is fine
    assert EvidenceRecord.objects.count() == before + 1


def _triggers(table: str) -> list[tuple[str, int, bool]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname, tgtype, tgisinternal FROM pg_trigger WHERE tgrelid = %s::regclass", [table])
        return cursor.fetchall()


def test_inserting_detail_rows_fires_no_row_level_trigger():
    # tgtype bits: 1 row-level, 4 INSERT. A row-level insert trigger (a foreign key's among them)
    # would run once for each of a parse's detail rows.
    row_level_on_insert = [name for name, kind, _ in _triggers("evidence_evidencerecord") if kind & 1 and kind & 4]
    assert row_level_on_insert == []
    assert any(name == "evidence_record_evidence_exists" for name, _, _ in _triggers("evidence_evidencerecord"))


def test_the_detail_rows_carry_no_index_that_another_index_already_covers():
    # The unique (evidence, ordinal) index serves lookups by evidence; a second index on the evidence
    # alone would only cost each COPY'd row one more index entry.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, indkey::text FROM pg_index "
            "WHERE indrelid = 'evidence_evidencerecord'::regclass"
        )
        keys = dict(cursor.fetchall())
    evidence_column = next(k for k in keys.values() if len(k.split()) == 2).split()[0]  # the unique index's first
    assert [name for name, key in keys.items() if key == evidence_column] == [], keys
