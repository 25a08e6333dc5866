"""ledger_record's INSERT is a server-side prepared statement: still one counted query, the same
bytes as before, and it survives a new connection."""

import json

import pytest
from django.db import connection, transaction

from apps.ledger.canonical import canonical_json
from apps.ledger.models import PendingEntry
from apps.ledger.services import ledger_record

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_pending_insert_is_one_query_that_django_sees(django_assert_num_queries):
    with transaction.atomic(), django_assert_num_queries(1) as captured:
        ledger_record(actor="system:test", action="test.prepared", target=("test.thing", 1), data={"a": 1})
    assert "ledger_pending" in captured.captured_queries[0]["sql"]
    assert PendingEntry.objects.filter(action="test.prepared").count() == 1


def test_the_stored_bytes_are_the_canonical_entry_and_survive_a_reconnect():
    for n in range(3):  # the statement is prepared on the first connection, then on a new one
        with transaction.atomic():
            entry = ledger_record(actor="system:test", action="test.prepared", target=("test.thing", n),
                                  data={"n": n, "text": "é\n\"quoted\""})
        connection.close()
        stored = bytes(PendingEntry.objects.get(action="test.prepared", object_id=str(n)).canonical)
        assert stored == entry.canonical == canonical_json(json.loads(stored))
        assert json.loads(stored)["data"] == {"n": n, "text": "é\n\"quoted\""}


def test_a_value_json_cannot_hold_is_refused_by_its_path_and_nothing_is_written():
    with pytest.raises(ValueError, match=r"\$\.data\.big: integer"), transaction.atomic():
        ledger_record(actor="system:test", action="test.prepared", data={"big": 2**60})
    assert not PendingEntry.objects.filter(action="test.prepared").exists()
