"""generate_scale builds the secondary indexes of its bulk tables after the load (issue 25): the same ones."""

from __future__ import annotations

import pytest
from django.db import connection

from devtools.scale.generator import BULK_TABLES, secondary_indexes_deferred

pytestmark = pytest.mark.django_db


def _indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [list(BULK_TABLES)])
        return dict(cursor.fetchall())


def test_deferred_indexes_are_dropped_for_the_load_and_built_again_identical():
    before = _indexes()
    with secondary_indexes_deferred() as dropped:
        during = _indexes()
        assert dropped and not set(dropped) & set(during)
        # Primary keys and unique indexes stay: they are constraints the load must still meet.
        assert "evidence_evidence_pkey" in during and "evidence_unique_per_receipt_parse" in during
    assert _indexes() == before


def test_indexes_come_back_when_the_load_fails():
    before = _indexes()
    with pytest.raises(RuntimeError), secondary_indexes_deferred():
        raise RuntimeError("the load failed")
    assert _indexes() == before
