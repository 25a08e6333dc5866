"""Issue 25, the accept path at line rate: what one signed delivery costs in database statements,
and that the lean path keeps every check and the durability contract."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.ingest.models import Receipt
from apps.ingest.services import source_create
from apps.ledger.canonical import canonical_json
from apps.ledger.models import PendingEntry
from tests.ingest.conftest import fixture_bytes, post_github

WORKFLOW_RUN = fixture_bytes("github/workflow_run.completed.json")


def _statements(queries) -> list[str]:
    return [q["sql"].split(None, 1)[0].upper() for q in queries]


@pytest.mark.django_db(transaction=True)
def test_a_signed_delivery_is_accepted_in_two_statements_without_a_transaction_block(client):
    # An unbound source (no redaction policy to read): the source and the replay check in one
    # SELECT, the receipt and its ledger entry in one INSERT statement, committed on its own.
    creds = source_create(actor="system:test", kind="github", name="github lean")
    post_github(client, creds, "workflow_run", WORKFLOW_RUN)  # warm: first-connection set-up is not per accept
    with CaptureQueriesContext(connection) as queries:
        response = post_github(client, creds, "workflow_run", WORKFLOW_RUN, delivery="round-trips-1")
    assert response.status_code == 202, response.content
    assert _statements(queries.captured_queries) == ["SELECT", "WITH"], [q["sql"] for q in queries]
    receipt = Receipt.objects.get(pk=response.json()["receipt"])
    assert receipt.delivery_key == "round-trips-1"
    entry = PendingEntry.objects.get(action="receipt.accepted", object_id=str(receipt.pk))
    # The id spliced in by PostgreSQL leaves the entry canonical, as ledger_record() writes it.
    canonical = bytes(entry.canonical)
    body = json.loads(canonical)
    assert canonical_json(body) == canonical
    assert body["object"] == {"type": "ingest.receipt", "id": str(receipt.pk)}
    assert body["actor"]["type"] == "source" and body["data"]["delivery"] == "round-trips-1"


@pytest.mark.django_db(transaction=True)
def test_a_replayed_delivery_costs_one_statement_and_writes_nothing(client):
    creds = source_create(actor="system:test", kind="github", name="github replay")
    first = post_github(client, creds, "workflow_run", WORKFLOW_RUN, delivery="replay-1")
    assert first.status_code == 202
    receipts, entries = Receipt.objects.count(), PendingEntry.objects.count()
    with CaptureQueriesContext(connection) as queries:
        again = post_github(client, creds, "workflow_run", WORKFLOW_RUN, delivery="replay-1")
    assert again.status_code == 200 and again.json() == {**first.json(), "duplicate": True}
    assert _statements(queries.captured_queries) == ["SELECT"], [q["sql"] for q in queries]
    assert (Receipt.objects.count(), PendingEntry.objects.count()) == (receipts, entries)

