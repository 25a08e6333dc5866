"""PostgreSQL stopped and started again while webhooks pour in: while it is down the portal answers
503 with Retry-After (JSON under /api/, a plain page elsewhere), never a 500; senders retry; the
persistent connections of web and worker processes recover by themselves; and every delivery
that was accepted ends as evidence, or as a failed receipt that says why."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.faults.client import WebhookClient
from tests.faults.helpers import evidence_per_receipt, record_figures, signed_in, wait_settled
from tests.faults.stack import wait_for

DELIVERIES = 100
DOWN_SECONDS = 3


def test_postgres_restarted_during_ingestion_answers_503_and_loses_nothing(stack):
    creds = stack.setup["sources"]["gh-postgres"]
    client = WebhookClient(stack.base_url, creds["id"], creds["secret"])
    deliveries = [client.delivery(n, label="postgres") for n in range(DELIVERIES)]
    browser = signed_in(stack)
    api_auth = {"Authorization": f"Bearer {creds['token']}"}

    with ThreadPoolExecutor(max_workers=1) as background:
        sending = background.submit(client.deliver_all, deliveries, threads=4)
        wait_for(lambda: client.tally.accepted >= DELIVERIES // 4, timeout=60, what="a quarter accepted")
        stack.postgres_stop()
        accepted_at_stop = client.tally.accepted
        try:
            api = requests.get(f"{stack.base_url}/api/v1/receipts/1", headers=api_auth, timeout=30)
            page = browser.get(f"{stack.base_url}/", timeout=30)
            wait_for(lambda: client.tally.unavailable >= 4, timeout=30, what="senders answered 503")
            time.sleep(DOWN_SECONDS)
            accepted_while_down = client.tally.accepted - accepted_at_stop  # requests in flight at the stop
        finally:
            stack.postgres_start()
        sending.result(timeout=180)

    assert api.status_code == 503 and api.headers["Retry-After"] == "5"
    assert "database is unavailable" in api.json()["error"]
    assert page.status_code == 503 and page.headers["Content-Type"].startswith("text/html")
    assert "Temporarily unavailable" in page.text and page.headers["Retry-After"] == "5"
    assert set(client.tally.statuses) <= {200, 202, 503}, f"never a 500: {client.tally.statuses}"
    assert client.tally.unavailable >= 4 and client.tally.refused == 0
    assert client.tally.sent == client.tally.accepted == DELIVERIES
    # Connections recovered after the restart: the same session and token work again.
    assert browser.get(f"{stack.base_url}/", timeout=30).status_code == 200
    assert requests.get(f"{stack.base_url}/api/v1/receipts/{next(iter(client.tally.receipts.values()))}",
                        headers=api_auth, timeout=30).status_code == 200

    states = wait_settled(stack, "gh-postgres", DELIVERIES, timeout=120, sweep_every=3)
    assert states.get("parsed", 0) + states.get("failed", 0) == DELIVERIES
    assert set(evidence_per_receipt(stack, "gh-postgres").values()) <= {0, 1}, "nothing parsed twice"
    report = stack.reconcile("gh-postgres", sent=client.tally.sent, accepted=client.tally.accepted)
    assert report["ok"] and report["exit_code"] == 0, report["problems"]
    record_figures(stack, "postgres_restarted_during_ingestion", {
        **client.tally.figures(), "accepted_before_stop": accepted_at_stop, "accepted_while_down": accepted_while_down,
        "parsed": states.get("parsed", 0), "failed": states.get("failed", 0),
        "duplicates": report["total"]["parsed_more_than_once"],
        "failed_reasons": sorted({row[0][:120] for row in stack.sql(
            "SELECT r.error FROM ingest_receipt r JOIN ingest_source s ON s.id = r.source_id "
            "WHERE s.name = 'gh-postgres' AND r.state = 'failed'")}),
    })
