"""Issue 25, the accept path at line rate: what one signed delivery costs in database statements,
and that the lean path keeps every check and the durability contract."""

from __future__ import annotations

import json

import pytest
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.ingest.middleware import IngestFastPathMiddleware
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


@pytest.mark.django_db(transaction=True)
def test_a_delivery_with_a_browser_session_cookie_reads_no_session_and_no_user(auditor):
    # The webhook paths skip the session, auth, OTP, CSRF, messages and access-log middleware:
    # even a signed-in auditor's cookie (whose page views are logged) costs no query, and CSRF
    # (enforced here) does not apply to a signed delivery.
    client = Client(enforce_csrf_checks=True)
    client.force_login(auditor)
    creds = source_create(actor="system:test", kind="github", name="github cookie")
    post_github(client, creds, "workflow_run", WORKFLOW_RUN)
    with CaptureQueriesContext(connection) as queries:
        response = post_github(client, creds, "workflow_run", WORKFLOW_RUN, delivery="cookie-1")
    assert response.status_code == 202, response.content
    assert _statements(queries.captured_queries) == ["SELECT", "WITH"], [q["sql"] for q in queries]
    assert "Set-Cookie" not in response and "Cookie" not in response.get("Vary", "")
    assert not PendingEntry.objects.filter(action__startswith="auditor.").exists()
    # The headers of the middleware above the lean path, and the constant ones it sets itself.
    assert response["X-Content-Type-Options"] == "nosniff" and response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY" and "default-src 'none'" in response["Content-Security-Policy"]
    assert response["X-Request-ID"]


@pytest.mark.django_db(transaction=True)
def test_the_lean_path_keeps_every_refusal_of_the_webhook_view(client, settings):
    creds = source_create(actor="system:test", kind="github", name="github refusals")
    forged = post_github(client, creds, "workflow_run", WORKFLOW_RUN, signature="sha256=" + "0" * 64)
    assert forged.status_code == 401 and forged["WWW-Authenticate"].startswith("X-Hub-Signature-256")
    settings.PORTAL_INGEST_MAX_BYTES = 100
    too_large = post_github(client, creds, "workflow_run", WORKFLOW_RUN)
    assert too_large.status_code == 413 and "at most 100" in too_large.json()["error"]
    assert not Receipt.objects.exists()


@pytest.mark.django_db
def test_only_the_exact_webhook_paths_take_the_lean_path(client):
    # Another path, even one that only adds a slash, goes down the whole stack (the URLconf's 404 here).
    response = client.post("/api/v1/ingest/github/", data=b"{}", content_type="application/json")
    assert response.status_code == 404
    assert IngestFastPathMiddleware(lambda request: None).views().keys() == {
        "/api/v1/ingest/github",
        "/api/v1/ingest/gitlab",
    }


@pytest.mark.django_db(transaction=True)
def test_the_sender_lookup_is_the_connection_health_check_of_a_delivery(client, monkeypatch):
    # CONN_HEALTH_CHECKS costs a `SELECT 1` before a request's first query; a delivery's first
    # statement (a read) checks the connection itself, so that round trip is not paid.
    creds = source_create(actor="system:test", kind="github", name="github health")
    post_github(client, creds, "workflow_run", WORKFLOW_RUN)
    checks = []
    monkeypatch.setattr(type(connections["default"]), "is_usable", lambda self: checks.append(1) or True)
    connection.health_check_done = False  # as at the start of a request (close_old_connections)
    assert post_github(client, creds, "workflow_run", WORKFLOW_RUN).status_code == 202
    assert checks == []


@pytest.mark.django_db(transaction=True)
def test_a_delivery_on_a_connection_the_database_dropped_is_accepted_on_a_new_one(client):
    creds = source_create(actor="system:test", kind="github", name="github dropped")
    post_github(client, creds, "workflow_run", WORKFLOW_RUN)
    dropped = connection.connection
    with dropped.cursor() as raw:
        raw.execute("SELECT pg_backend_pid()")
        pid = raw.fetchone()[0]
    other = connection.copy()  # PostgreSQL ends the session, as a restart would
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    connection.health_check_done = False
    response = post_github(client, creds, "workflow_run", WORKFLOW_RUN, delivery="after-drop")
    assert response.status_code == 202, response.content
    assert connection.connection is not dropped
    assert Receipt.objects.filter(delivery_key="after-drop").count() == 1


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_the_accept_statements_are_prepared_once_per_connection_and_nothing_else_is(client):
    # The source SELECT and the accept's INSERT are parsed and planned once per connection, not
    # per delivery; Django's own statements never are (they keep plans made for their values).
    creds = source_create(actor="system:test", kind="github", name="github prepared")
    for n in range(3):
        response = post_github(client, creds, "workflow_run", WORKFLOW_RUN, delivery=f"prepared-{n}")
        assert response.status_code == 202, response.content
    for _ in range(10):  # an ORM query run far more often than psycopg's default threshold (5)
        assert Receipt.objects.filter(source=creds.source).count() == 3
    # The accept's SELECT and INSERT, and the ledger's pending-row INSERT (source_create's entry).
    prepared = _prepared_statements()
    assert len(prepared) == 3, prepared
    assert any("FROM ingest_source s LEFT JOIN ingest_receipt r" in s for s in prepared), prepared
    assert any(s.startswith("WITH r AS (INSERT INTO ingest_receipt") for s in prepared), prepared
    assert any(s.startswith("INSERT INTO ledger_pending") for s in prepared), prepared


@pytest.mark.django_db(transaction=True)
def test_a_new_sources_replay_check_is_one_index_probe_however_many_receipts_it_has():
    # PostgreSQL's statistics know nothing of a source that started sending after the last ANALYZE.
    # The lookup of a delivery id must still go straight to it, not read through every receipt of
    # the source (which grows with each delivery until autovacuum analyzes the table again).
    from apps.ingest.auth import _WEBHOOK_SOURCE_SQL

    older = source_create(actor="system:test", kind="github", name="github older").source
    Receipt.objects.bulk_create(_receipts(older, 200))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ingest_receipt")
    new = source_create(actor="system:test", kind="github", name="github new").source
    Receipt.objects.bulk_create(_receipts(new, 3000))
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + _WEBHOOK_SOURCE_SQL, ["bulk-2999", new.pk, "github"])
        plan = cursor.fetchone()[0]
        plan = plan if isinstance(plan, list) else json.loads(plan)
    scans = [node for node in _plan_nodes(plan[0]["Plan"]) if node.get("Relation Name") == "ingest_receipt"]
    assert len(scans) == 1, plan
    assert scans[0]["Actual Rows"] == 1, plan
    assert scans[0].get("Rows Removed by Filter", 0) == 0, plan  # before: 2,999 receipts read and dropped
    assert "delivery_key" in scans[0].get("Index Cond", ""), plan


def _receipts(source, count: int) -> list[Receipt]:
    from django.utils import timezone

    now = timezone.now()
    return [
        Receipt(source=source, channel="github", delivery_key=f"bulk-{n}", sha256="0" * 64, size=1, received_at=now,
                state_since=now)  # fmt: skip
        for n in range(count)
    ]


def _plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


@pytest.mark.django_db
def test_the_receipt_an_accept_returns_is_the_row_it_committed(django_assert_num_queries):
    from apps.ingest.services import receipt_accept
    from apps.inventory.models import System

    system = System.objects.create(name="Returned", slug="returned", risk_tier="low")
    source = source_create(actor="system:test", kind="generic-ci", name="ci returned", system=system).source
    with CaptureQueriesContext(connection) as queries:
        receipt, created = receipt_accept(
            source=source, channel=Receipt.Channel.UPLOAD, body=b"<testsuite/>", content_type="application/xml",
            delivery_key="returned-1", headers={"user_agent": "ci"}, filename="junit.xml", subject="pkg:pypi/x@1",
            format_hint="junit", system=system, enqueue=False, original=None,
        )  # fmt: skip
    # The one INSERT … WITH touches the receipts table; nothing is read back.
    assert [_statements([q]) for q in queries.captured_queries if "ingest_receipt" in q["sql"]] == [["WITH"]]
    assert created and not receipt._state.adding and receipt._state.db == "default"
    stored = Receipt.objects.get(pk=receipt.pk)
    for field in Receipt._meta.concrete_fields:
        assert getattr(receipt, field.attname) == getattr(stored, field.attname), field.name
    with django_assert_num_queries(0):  # its source and system come with it
        assert receipt.source is source and receipt.system is system
