"""A webhook sender that behaves like GitHub's, and counts: signed deliveries, each with its own
delivery id, retried on 503 (honouring Retry-After, capped to keep the tests short) and on a
refused connection, until the portal accepts them. It keeps the client side of the
reconciliation: deliveries sent, distinct receipts accepted, 503s seen, anything unexpected."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

DATA = Path(__file__).resolve().parents[1] / "ingest" / "parsers" / "data"
_WORKFLOW_RUN = json.loads((DATA / "github" / "workflow_run.completed.json").read_bytes())


def workflow_run_body(n: int, *, label: str = "fault") -> bytes:
    """A GitHub workflow_run.completed delivery, different for each n (its own run id and number)."""
    doc = copy.deepcopy(_WORKFLOW_RUN)
    run = doc["workflow_run"]
    run["id"] = 900_000_000 + n
    run["run_number"] = n
    run["name"] = f"{label} {n}"
    return json.dumps(doc).encode()


@dataclass
class Delivery:
    delivery_id: str
    event: str
    body: bytes


@dataclass
class Tally:
    """The client's side of the books."""

    sent: int = 0  # distinct deliveries sent at least once
    attempts: int = 0  # HTTP requests made, retries included
    unavailable: int = 0  # 503 answers
    refused: int = 0  # connections refused or reset
    statuses: Counter = field(default_factory=Counter)
    receipts: dict[str, str] = field(default_factory=dict)  # delivery id -> receipt id
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def accepted(self) -> int:
        return len(set(self.receipts.values()))

    def figures(self) -> dict:
        return {"sent": self.sent, "accepted": self.accepted, "attempts": self.attempts,
                "503s": self.unavailable, "refused": self.refused, "statuses": dict(self.statuses)}


class WebhookClient:
    def __init__(self, base_url: str, source_id: int, secret: str, *, max_wait: float = 0.5,
                 give_up_after: float = 90) -> None:
        self.url = f"{base_url}/api/v1/ingest/github?source={source_id}"
        self.secret = secret
        self.max_wait = max_wait
        self.give_up_after = give_up_after
        self.tally = Tally()
        self._local = threading.local()

    def delivery(self, n: int, *, label: str = "fault") -> Delivery:
        return Delivery(str(uuid.uuid4()), "workflow_run", workflow_run_body(n, label=label))

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def post_once(self, delivery: Delivery) -> requests.Response:
        signature = "sha256=" + hmac.new(self.secret.encode(), delivery.body, hashlib.sha256).hexdigest()
        return self._session().post(self.url, data=delivery.body, timeout=30, headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": delivery.event,
            "X-GitHub-Delivery": delivery.delivery_id,
            "X-Hub-Signature-256": signature,
            "User-Agent": "GitHub-Hookshot/fault-test",
        })

    def deliver(self, delivery: Delivery) -> str:
        """Send until accepted; returns the receipt id."""
        with self.tally.lock:
            self.tally.sent += 1
        deadline = time.monotonic() + self.give_up_after
        while True:
            try:
                response = self.post_once(delivery)
            except requests.ConnectionError:
                with self.tally.lock:
                    self.tally.attempts += 1
                    self.tally.refused += 1
                time.sleep(0.2)
            else:
                with self.tally.lock:
                    self.tally.attempts += 1
                    self.tally.statuses[response.status_code] += 1
                if response.status_code in (200, 202):
                    receipt = response.json()["receipt"]
                    with self.tally.lock:
                        self.tally.receipts[delivery.delivery_id] = receipt
                    return receipt
                if response.status_code != 503:
                    with self.tally.lock:
                        self.tally.unexpected.append(f"{response.status_code}: {response.text[:300]}")
                    raise AssertionError(f"unexpected answer {response.status_code}: {response.text[:300]}")
                with self.tally.lock:
                    self.tally.unavailable += 1
                assert response.headers.get("Retry-After", "").isdigit(), "a 503 says when to retry"
                assert response.json()["error"], "a 503 says what is wrong"
                time.sleep(min(float(response.headers["Retry-After"]), self.max_wait))
            if time.monotonic() > deadline:
                raise AssertionError(f"delivery {delivery.delivery_id} not accepted in {self.give_up_after} s")

    def deliver_all(self, deliveries: list[Delivery], *, threads: int = 4) -> list[str]:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(self.deliver, deliveries))
