"""Handing accepted receipts to the parse workers: one message per receipt, or batched in web processes.

`receipt_accept()` queues the parse of a new receipt after commit (`transaction.on_commit`),
through `receipt_dispatch()`. By default that publishes one `receipt_parse` task right away.
A web process serving many deliveries a second pays ~0.5 ms of CPU in Celery and kombu plus a
Redis round trip per delivery for that, a large share of an accept, so web processes switch to
batching (`dispatch_batching_start()`, called by gunicorn's post_fork hook in
compliance_portal/gunicorn.conf.py): the after-commit callback only puts the id on an
in-process queue, and a daemon thread sends what has gathered — at most LINGER seconds after
the first id — as one `receipt_parse_many` message (or a plain `receipt_parse` for a single id).
The worker fans a batch out into one `receipt_parse` task per receipt, so retries and
parallelism are exactly those of single messages.

Nothing accepted is lost by batching. The receipt is committed before the 202; an id whose
message never reached Redis (broker down, process killed with ids still queued) belongs to a
receipt that is still `queued` in the database, and the receipt sweep queues it again after
PORTAL_RECEIPT_SWEEP_SECONDS — the same guarantee as a lost single message. A graceful worker
exit flushes the queue (gunicorn worker_exit hook, `dispatch_batching_stop()`).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time

from apps.ingest.tasks import receipt_parse as receipt_parse_task
from apps.ingest.tasks import receipt_parse_many as receipt_parse_many_task

logger = logging.getLogger(__name__)

# Seconds the first id of a batch waits for company. A Celery publish costs ~0.5-0.8 ms of CPU
# whatever the batch's size; at 20 ms, a saturated web worker spent ~20% of its Python time
# publishing, at 100 ms ~5% (py-spy --gil, docs/BENCHMARKS.md). A parse starts at most this much later.
LINGER = 0.1
MAX_BATCH = 500
_STOP = object()


def _publish(receipt_ids: list[int]) -> None:
    if len(receipt_ids) == 1:
        receipt_parse_task.delay(receipt_ids[0])
    else:
        receipt_parse_many_task.delay(receipt_ids)


class _Batcher:
    """The queue and sender thread of one process (never shared across a fork: see `pid`)."""

    def __init__(self, *, linger: float, max_batch: int) -> None:
        self.pid = os.getpid()
        self.linger = linger
        self.max_batch = max_batch
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="receipt-dispatch", daemon=True)
        self.thread.start()

    def put(self, receipt_id: int) -> None:
        self.queue.put(receipt_id)

    def stop(self, timeout: float) -> None:
        self.queue.put(_STOP)
        self.thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            if first is _STOP:
                return
            batch, stopping = [first], False
            deadline = time.monotonic() + self.linger
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    item = self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._send(batch)
            if stopping:
                return

    @staticmethod
    def _send(receipt_ids: list[int]) -> None:
        try:
            _publish(receipt_ids)
        except Exception as exc:  # noqa: BLE001 - the broker may be down; the receipts are committed
            logger.warning(
                "could not queue the parse of %d receipt(s) (%s); the receipt sweep will queue them again",
                len(receipt_ids),
                exc,
            )


_batcher: _Batcher | None = None
_lock = threading.Lock()


def dispatch_batching_start(*, linger: float = LINGER, max_batch: int = MAX_BATCH) -> None:
    """From now on, this process batches its parse messages (idempotent; call after fork)."""
    global _batcher
    with _lock:
        if _batcher is None or _batcher.pid != os.getpid() or not _batcher.thread.is_alive():
            _batcher = _Batcher(linger=linger, max_batch=max_batch)


def dispatch_batching_stop(timeout: float = 5.0) -> None:
    """Send what is queued and go back to one message per receipt (worker exit, tests)."""
    global _batcher
    with _lock:
        batcher, _batcher = _batcher, None
    if batcher is not None and batcher.pid == os.getpid():
        batcher.stop(timeout)


def receipt_dispatch(receipt_id: int) -> None:
    """Queue the parse of a committed receipt (receipt_accept's after-commit callback)."""
    batcher = _batcher
    if batcher is not None and batcher.pid == os.getpid():
        batcher.put(receipt_id)
        return
    _publish([receipt_id])
