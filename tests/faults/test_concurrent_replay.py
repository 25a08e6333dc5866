"""The same signed webhook delivered 100 times at once (a sender's retries racing each other): one
receipt, one evidence item; the first answer is 202, every other one 200 with the same receipt."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.faults.client import WebhookClient
from tests.faults.helpers import evidence_per_receipt, record_figures, wait_settled

COPIES = 100


def test_the_same_delivery_sent_100_times_at_once_makes_one_receipt(stack):
    creds = stack.setup["sources"]["gh-replay"]
    client = WebhookClient(stack.base_url, creds["id"], creds["secret"])
    delivery = client.delivery(1, label="replay")
    start = threading.Barrier(COPIES)

    def send(_):
        session = client._session()  # connect before the barrier, so the requests really race
        session.get(f"{stack.base_url}/api/v1/receipts/0", timeout=30)
        start.wait(timeout=60)
        response = client.post_once(delivery)
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=COPIES) as pool:
        answers = list(pool.map(send, range(COPIES)))

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * (COPIES - 1) + [202], "one 202, every replay 200"
    assert len({body["receipt"] for _, body in answers}) == 1, "every answer names the same receipt"
    assert [body["duplicate"] for status, body in answers if status == 202] == [False]
    assert all(body["duplicate"] for status, body in answers if status == 200)
    assert stack.scalar("SELECT count(*) FROM ingest_receipt WHERE delivery_key = %s", [delivery.delivery_id]) == 1

    states = wait_settled(stack, "gh-replay", 1)
    assert states == {"parsed": 1}
    assert list(evidence_per_receipt(stack, "gh-replay").values()) == [1]
    report = stack.reconcile("gh-replay", sent=1, accepted=1)
    assert report["ok"], report["problems"]
    record_figures(stack, "same_delivery_100_times", {
        "sent": COPIES, "distinct_deliveries": 1, "accepted": 1, "503s": 0, "statuses": {
            "202": statuses.count(202), "200": statuses.count(200)},
        "parsed": states.get("parsed", 0), "failed": states.get("failed", 0), "receipts": 1,
        "duplicates": report["total"]["parsed_more_than_once"],
    })
