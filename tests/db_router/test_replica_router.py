"""The read-replica router, against a real read-only PostgreSQL connection.

The "replica" here is a second alias on the test database whose connections start every
transaction read-only (`-c default_transaction_read_only=on`): PostgreSQL refuses any write
through it, as a streaming replica would. So a read that the router sends there shows up in
that alias's query log, and a write sent there by mistake would fail. The tests use committed
data (transactional_db): the replica alias is a different connection and sees only commits.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connections, transaction
from django.db.utils import load_backend
from django.test.utils import CaptureQueriesContext

from apps.accounts.roles import Role
from apps.inventory.models import System
from apps.ledger.models import LedgerEntry
from compliance_portal.db_router import PIN_COOKIE, replica_reads
from tests.conftest import ROOT, TEST_PASSWORD

ALIAS = "replica1"


@pytest.fixture
def replica(transactional_db, settings):
    """A read-only connection to the test database under the alias "replica1", and the router on."""
    config = copy.deepcopy(connections["default"].settings_dict)
    options = dict(config.get("OPTIONS") or {})
    options["options"] = f"{options.get('options', '')} -c default_transaction_read_only=on".strip()
    config["OPTIONS"] = options
    # Registered as a connection only (not in connections.settings): Django's test case then treats
    # it as a dynamically created connection and allows it, and never tries to flush it.
    connections[ALIAS] = load_backend(config["ENGINE"]).DatabaseWrapper(config, ALIAS)
    settings.PORTAL_DATABASE_REPLICAS = [ALIAS]
    settings.DATABASE_ROUTERS = ["compliance_portal.db_router.ReplicaRouter"]
    settings.MIDDLEWARE = [
        settings.MIDDLEWARE[0], "compliance_portal.db_router.ReplicaRoutingMiddleware", *settings.MIDDLEWARE[1:]
    ]
    yield ALIAS
    connections[ALIAS].close()
    del connections[ALIAS]


@pytest.fixture
def browsing_auditor(replica, make_user):
    from tests.engagements.conftest import engaged_auditor

    System.objects.create(name="Payments API", slug="payments-api", risk_tier="high")
    return engaged_auditor(make_user, System.objects.all())


def _tables(captured) -> str:
    return " ".join(q["sql"] for q in captured.captured_queries)


def test_the_replica_alias_refuses_writes_and_serves_reads(replica):
    System.objects.create(name="Committed", slug="committed", risk_tier="low")
    assert System.objects.using(ALIAS).filter(slug="committed").exists()
    with pytest.raises(DatabaseError, match="read-only transaction"):
        System.objects.using(ALIAS).create(name="Nope", slug="nope", risk_tier="low")
    assert not System.objects.filter(slug="nope").exists()


def test_read_heavy_page_reads_the_replica_and_writes_the_primary(client, browsing_auditor):
    client.force_login(browsing_auditor)
    with CaptureQueriesContext(connections[ALIAS]) as on_replica, \
            CaptureQueriesContext(connections["default"]) as on_primary:
        response = client.get("/systems/")
    assert response.status_code == 200
    assert b"Payments API" in response.content
    # The system list itself is read on the replica…
    listing = 'SELECT "inventory_system"."id"'
    assert any(q["sql"].startswith(listing) for q in on_replica.captured_queries)
    assert not any(q["sql"].startswith(listing) for q in on_primary.captured_queries)
    # …sessions, users and engagements (access decisions: which systems the auditor may see now)
    # on the primary.
    assert '"django_session"' in _tables(on_primary)
    assert '"engagements_engagement"' not in _tables(on_replica)
    # The auditor access log entry written after the page is on the primary (a write on the
    # read-only replica would have failed the request).
    assert any(q["sql"].startswith("INSERT") for q in on_primary.captured_queries)
    # A GET that wrote (the access log) does not pin the browser: that would pin every page.
    assert PIN_COOKIE not in response.cookies


def test_pages_that_are_not_read_heavy_use_only_the_primary(client, browsing_auditor):
    client.force_login(browsing_auditor)
    with CaptureQueriesContext(connections[ALIAS]) as on_replica:
        assert client.get("/packs/").status_code == 200
        assert client.get("/ledger/").status_code in (200, 302, 403)
        client.get("/api/v1/gates/git+https://github.com/acme/payments@" + "a" * 40)
    assert on_replica.captured_queries == []


def test_a_post_pins_the_browser_to_the_primary_for_its_next_reads(client, browsing_auditor):
    response = client.post("/accounts/login/", {"username": browsing_auditor.username, "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response.cookies[PIN_COOKIE]["max-age"] == 10
    with CaptureQueriesContext(connections[ALIAS]) as on_replica:
        page = client.get("/systems/")  # the cookie came back with this request
    assert page.status_code == 200
    assert on_replica.captured_queries == []

    client.cookies.pop(PIN_COOKIE)
    with CaptureQueriesContext(connections[ALIAS]) as on_replica:
        client.get("/systems/")
    assert '"inventory_system"' in _tables(on_replica)


def test_reads_after_a_write_in_the_same_request_go_to_the_primary(replica):
    System.objects.create(name="Before", slug="before", risk_tier="low")
    with CaptureQueriesContext(connections[ALIAS]) as on_replica, replica_reads(ALIAS):
        assert System.objects.count() == 1  # replica
        System.objects.create(name="Written", slug="written", risk_tier="low")  # primary, pins
        assert System.objects.filter(slug="written").exists()  # must see the write: primary
    assert len(on_replica.captured_queries) == 1
    assert "COUNT" in on_replica.captured_queries[0]["sql"]


def test_reads_inside_a_transaction_go_to_the_primary(replica):
    with CaptureQueriesContext(connections[ALIAS]) as on_replica, replica_reads(ALIAS), transaction.atomic():
        System.objects.count()
        list(System.objects.select_for_update())
    assert on_replica.captured_queries == []


def test_ledger_reads_and_verification_never_use_the_replica(replica, make_user):
    make_user(Role.COMPLIANCE_OFFICER)  # a role assignment: ledger entries exist
    with CaptureQueriesContext(connections[ALIAS]) as on_replica:
        with replica_reads(ALIAS):
            LedgerEntry.objects.count()
        # Outside a request (the sequencer, verify_ledger, Celery tasks) nothing opts in to a replica.
        call_command("ledger_sequencer", "--once")
        call_command("ledger_checkpoint")
        call_command("verify_ledger")
        System.objects.count()
    assert on_replica.captured_queries == []
    assert LedgerEntry.objects.exists()  # the sequencer wrote, on the primary


def _settings_in_subprocess(**env) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'aliases': sorted(s.DATABASES), 'routers': s.DATABASE_ROUTERS, "
        "'middleware': [m for m in s.MIDDLEWARE if 'db_router' in m], "
        "'replica1': s.DATABASES.get('replica1', {}).get('HOST'), "
        "'options': s.DATABASES.get('replica1', {}).get('OPTIONS')}))"
    )
    base = {k: v for k, v in os.environ.items() if k != "PORTAL_DATABASE_REPLICA_URLS"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True,
        env={**base, "DJANGO_SETTINGS_MODULE": "compliance_portal.settings", **env},
    )
    return json.loads(out.stdout)


def test_without_replica_urls_there_is_no_router():
    loaded = _settings_in_subprocess()
    assert loaded["aliases"] == ["default"]
    assert loaded["routers"] == []
    assert loaded["middleware"] == []


def test_replica_urls_make_one_alias_each_and_turn_the_router_on():
    loaded = _settings_in_subprocess(
        PORTAL_DATABASE_REPLICA_URLS=(
            "postgres://portal@replica-a:5432/portal?options=-c%20default_transaction_read_only%3Don,"
            " postgres://portal@replica-b:5432/portal"
        )
    )
    assert loaded["aliases"] == ["default", "replica1", "replica2"]
    assert loaded["replica1"] == "replica-a"
    assert loaded["options"] == {"options": "-c default_transaction_read_only=on"}
    assert loaded["routers"] == ["compliance_portal.db_router.ReplicaRouter"]
    assert loaded["middleware"] == ["compliance_portal.db_router.ReplicaRoutingMiddleware"]
