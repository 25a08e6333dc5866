"""Redis stopped during ingestion: the API keeps accepting (each receipt is committed before the
202, the hand-off to Celery after commit is allowed to fail), and once Redis is back the sweep
queues what never reached it, so every accepted delivery becomes evidence, once. Redis keeps an
append-only file, so a message that did reach it survives a restart."""

from __future__ import annotations

import base64
import json
import time

from tests.faults.client import WebhookClient
from tests.faults.helpers import evidence_per_receipt, receipt_states, record_figures, signed_in, wait_settled
from tests.faults.stack import wait_for

LOST_MESSAGE = "could not queue the parse"  # apps.ingest.dispatch's warning when the broker is down


def test_redis_stopped_during_ingestion_keeps_accepting_and_loses_nothing(stack):
    creds = stack.setup["sources"]["gh-redis"]
    client = WebhookClient(stack.base_url, creds["id"], creds["secret"])
    before, during, after = ([client.delivery(n, label="redis") for n in range(start, start + 20)]
                             for start in (0, 20, 40))

    client.deliver_all(before)
    wait_settled(stack, "gh-redis", 20)

    browser = signed_in(stack)
    stack.redis_stop()
    try:
        started = time.monotonic()
        client.deliver_all(during)
        seconds_without_redis = time.monotonic() - started
        # Committed, queued, and no message exists for them: only the database knows they are waiting.
        assert receipt_states(stack, "gh-redis") == {"parsed": 20, "queued": 20}
        # A pack requested meanwhile is recorded too (pack-sweep queues packs whose message was lost).
        pack = browser.post(f"{stack.base_url}/api/v1/packs", timeout=30,
                            headers={"X-CSRFToken": browser.cookies["csrftoken"]},
                            json={"kind": "system", "system": "fault-payments", "start": "2000-01-01",
                                  "end": "2099-12-31"})
    finally:
        stack.redis_start()
    assert client.tally.statuses == {202: 40}, "every delivery was accepted while Redis was down"
    assert pack.status_code == 202, pack.text[:300]
    assert stack.scalar("SELECT status FROM packs_pack WHERE id = %s", [pack.json()["id"]]) == "queued"

    client.deliver_all(after)
    states = wait_settled(stack, "gh-redis", 60, sweep_every=2)

    assert states == {"parsed": 60}
    assert set(evidence_per_receipt(stack, "gh-redis").values()) == {1}, "one evidence item per delivery"
    report = stack.reconcile("gh-redis", sent=client.tally.sent, accepted=client.tally.accepted)
    assert report["ok"] and report["exit_code"] == 0, report["problems"]
    assert report["total"]["receipts"] == report["total"]["accepted_entries"] == 60
    swept = stack.scalar(
        "SELECT count(*) FROM ingest_receipt r JOIN ingest_source s ON s.id = r.source_id "
        "WHERE s.name = 'gh-redis' AND r.attempts = 1 AND r.state = 'parsed'")
    assert swept == 60, "each receipt was parsed by exactly one claim"
    record_figures(stack, "redis_stopped_during_ingestion", {
        **client.tally.figures(), "accepted_while_redis_down": len(during),
        "seconds_to_accept_20_without_redis": round(seconds_without_redis, 2),
        "parsed": states.get("parsed", 0), "failed": states.get("failed", 0),
        "duplicates": report["total"]["parsed_more_than_once"], "worker_restarts": stack.worker_restarts,
    })


def test_a_queued_task_survives_a_redis_restart(stack):
    r = stack.redis()
    assert r.config_get("appendonly") == {"appendonly": "yes"}, "scripts/services.sh runs Redis append-only"
    creds = stack.setup["sources"]["gh-aof"]
    client = WebhookClient(stack.base_url, creds["id"], creds["secret"])
    web_log = stack.processes["web"].log_path
    failed_publishes = web_log.read_text().count(LOST_MESSAGE)
    stack.redis_stop()
    try:
        receipt_id = int(client.deliver(client.delivery(1, label="aof")))  # committed; its message is lost
        # The web process retries a publish for a moment; Redis stays down until it has given up, or
        # a message sent once Redis is back would parse the receipt before the one under test.
        wait_for(lambda: web_log.read_text().count(LOST_MESSAGE) > failed_publishes, timeout=30,
                 what="the web process gave up queueing the parse")
    finally:
        stack.redis_start()
    assert receipt_states(stack, "gh-aof") == {"queued": 1}

    # A parse message waiting in a queue no worker reads yet, as if every worker were busy.
    stack.send_task("apps.ingest.tasks.receipt_parse", [receipt_id], queue="fault-aof")
    assert stack.redis().llen("fault-aof") == 1
    stack.redis_stop()
    stack.redis_start()

    waiting = stack.redis().lrange("fault-aof", 0, -1)
    assert len(waiting) == 1, "the queued message survived the restart"
    message = json.loads(waiting[0])
    assert message["headers"]["task"] == "apps.ingest.tasks.receipt_parse"
    assert json.loads(base64.b64decode(message["body"]))[0] == [receipt_id]

    stack.wait_worker("default")
    stack.control("add_consumer", "fault-aof", destination=["default@fault"], reply=True)
    try:
        # No sweep runs in this test: only the message that survived can parse the receipt.
        wait_for(lambda: receipt_states(stack, "gh-aof") == {"parsed": 1}, timeout=30, what="receipt parsed")
    finally:
        stack.control("cancel_consumer", "fault-aof", destination=["default@fault"], reply=True)
    assert stack.redis().llen("fault-aof") == 0
