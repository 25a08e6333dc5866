"""The ledger on the real PostgreSQL: recording cost, sequencer rate and latency, full
verification, and inclusion proofs at LEDGER_BENCH_ENTRIES (default 1,000,000) entries.

Baselines, measured in the same run:
- recording: the same transactions without the ledger entry (one single-row INSERT each into
  a similar table), from 4 concurrent writer processes; and the same on a real write of the
  portal, the receipt accept (blob written and fsynced, the Receipt INSERT, commit), whose
  baseline is that accept done without its ledger entry;
- sequencer: how fast the writers commit (it must keep up with them);
- verification: bare hashlib.sha256 over the same entry bytes;
- proofs: the same proof at 1,024 entries.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import statistics
import time

from bench.common import django_setup, percentile, row

WRITERS = 4
TX_PER_WRITER = 1500
ACCEPTS_PER_WRITER = 300
TOTAL = int(os.environ.get("LEDGER_BENCH_ENTRIES", "1000000"))


def _reset() -> None:
    from django.conf import settings
    from django.db import connection

    # The witness file keeps the checkpoints of earlier runs, whose entries were truncated below:
    # against this run's log they would be a fork (verify_ledger would rightly fail).
    witness = settings.PORTAL_LEDGER_WITNESS_FILE
    if witness and witness.exists():
        witness.unlink()

    with connection.cursor() as c:
        c.execute("SET portal.ledger_allow_truncate = on")  # the bench database only
        c.execute("TRUNCATE ledger_entry, ledger_node, ledger_checkpoint, ledger_pending")
        c.execute("RESET portal.ledger_allow_truncate")
        c.execute("CREATE TABLE IF NOT EXISTS bench_change (id bigserial PRIMARY KEY, at timestamptz, "
                  "payload jsonb)")
        c.execute("TRUNCATE bench_change")
        c.execute("DELETE FROM ingest_receipt WHERE source_id IN "
                  "(SELECT id FROM ingest_source WHERE name = 'bench ledger accepts')")
        c.execute("DELETE FROM ingest_source WHERE name = 'bench ledger accepts'")


def _writer(args) -> list[float]:
    with_ledger, n = args
    from django.db import connection, transaction

    from apps.ledger.services import ledger_record

    connection.close()
    durations = []
    for i in range(n):
        start = time.perf_counter()
        with transaction.atomic():
            with connection.cursor() as c:
                c.execute("INSERT INTO bench_change (at, payload) VALUES (now(), %s)",
                          [json.dumps({"i": i, "sha256": "ab" * 32})])
            if with_ledger:
                ledger_record(actor="system:bench", action="bench.changed", target=("bench.change", i),
                              data={"i": i, "sha256": "ab" * 32})
        durations.append(time.perf_counter() - start)
    connection.close()
    return durations


def _run_writers(with_ledger: bool, writer=_writer, per_writer: int = TX_PER_WRITER) -> tuple[float, list[float]]:
    from django.db import connection

    connection.close()
    start = time.perf_counter()
    with mp.get_context("fork").Pool(WRITERS) as pool:
        results = pool.map(writer, [(with_ledger, per_writer)] * WRITERS)
    elapsed = time.perf_counter() - start
    return WRITERS * per_writer / elapsed, [d for r in results for d in r]


def _accept_writer(args) -> list[float]:
    """Receipt accepts as a webhook makes them (3 kB unique body), with the ledger entry
    (receipt_accept itself) or without it (the same blob write and INSERT, no entry)."""
    with_ledger, n = args
    from django.db import connection, transaction
    from django.utils import timezone

    from apps.ingest.blobs import blob_store
    from apps.ingest.models import Source
    from apps.ingest.services import _INSERT_RECEIPT, receipt_accept

    connection.close()
    source = Source.objects.get(name="bench ledger accepts")
    headers = {"event": "push", "delivery": "", "user_agent": "bench"}
    durations = []
    for i in range(n):
        key = f"{with_ledger}-{os.getpid()}-{i}-{time.time_ns()}"
        body = json.dumps({"delivery": key, "padding": "x" * 3000}).encode()
        start = time.perf_counter()
        if with_ledger:
            receipt_accept(source=source, channel="github", body=body, content_type="application/json",
                           event="push", delivery_key=key, headers=headers, enqueue=False)
        else:
            digest = blob_store(body)
            now = timezone.now()
            with transaction.atomic(), connection.cursor() as c:
                c.execute(_INSERT_RECEIPT, [source.pk, "github", "push", key, digest, len(body), "application/json",
                                            json.dumps(headers), "", "", "", None, None, now, "queued", now])
        durations.append(time.perf_counter() - start)
    connection.close()
    return durations


def _sequencer_loop(stop_at: float) -> None:
    """The ledger_sequencer command's loop, with its pacing (ledger_sequencer_pause)."""
    from django.db import connection

    from apps.ledger.services import ledger_integrate, ledger_sequencer_pause

    connection.close()
    while time.time() < stop_at:
        pause = ledger_sequencer_pause(ledger_integrate(), idle=0.05)
        if pause:
            time.sleep(pause)
    connection.close()


def _bulk_pending(n: int) -> None:
    """Fill the pending table fast (COPY) with realistic entries, for the sequencer and proofs."""
    from django.db import connection
    from django.utils import timezone

    from apps.ledger.canonical import canonical_json

    now = timezone.now()
    with connection.cursor() as c, c.cursor.copy(
        "COPY ledger_pending (canonical, recorded_at, actor_type, actor_id, actor_label, action, object_type, "
        "object_id) FROM STDIN"
    ) as copy:
        for i in range(n):
            body = {"v": 1, "time": now.isoformat(), "actor": {"type": "source", "id": "3", "label": "github-ci"},
                    "action": "evidence.recorded", "object": {"type": "evidence.evidence", "id": str(i)},
                    "data": {"sha256": hashlib.sha256(str(i).encode()).hexdigest(), "kind": "test-report"}}
            copy.write_row((canonical_json(body), now, "source", "3", "github-ci", "evidence.recorded",
                            "evidence.evidence", str(i)))


def _recording_rows() -> list[dict]:
    """Recording cost inside the writer's transaction, 4 concurrent writers, with the sequencer running."""
    from django.db import connection

    rows = []
    plain_rate, plain_lat = _run_writers(with_ledger=False)
    sequencer = mp.get_context("fork").Process(target=_sequencer_loop, args=(time.time() + 3600,))
    connection.close()
    sequencer.start()
    ledger_rate, ledger_lat = _run_writers(with_ledger=True)
    time.sleep(1.0)
    sequencer.terminate()
    sequencer.join()
    with connection.cursor() as c:
        c.execute("SELECT EXTRACT(EPOCH FROM sequenced_at - recorded_at) FROM ledger_entry")
        delays = sorted(r[0] for r in c.fetchall())
    rows.append(row("ledger: transactions/s with a ledger entry (4 writers)", ledger_rate, "tx/s",
                    plain_rate, "tx/s same tx, no ledger"))
    rows.append(row("ledger: median transaction time with entry", 1000 * statistics.median(ledger_lat), "ms",
                    1000 * statistics.median(plain_lat), "ms same tx, no ledger"))
    rows.append(row("ledger: p95 record-to-sequenced latency at full write rate", float(percentile(delays, 95)),
                    "s", 2.0, "s target"))
    return rows


def _accept_rows() -> list[dict]:
    """The same on a real portal write: the receipt accept, with and without its entry."""
    from django.db import connection

    from apps.ingest.services import source_create

    source_create(actor="system:bench", kind="github", name="bench ledger accepts")
    plain_accepts, plain_accept_lat = _run_writers(False, _accept_writer, ACCEPTS_PER_WRITER)
    connection.close()
    sequencer = mp.get_context("fork").Process(target=_sequencer_loop, args=(time.time() + 3600,))
    sequencer.start()
    ledger_accepts, ledger_accept_lat = _run_writers(True, _accept_writer, ACCEPTS_PER_WRITER)
    sequencer.terminate()
    sequencer.join()
    return [
        row("ledger: receipt accepts/s with their entry (4 writers)", ledger_accepts, "accepts/s",
            plain_accepts, "accepts/s same accept, no entry"),
        row("ledger: median receipt accept time with entry", 1000 * statistics.median(ledger_accept_lat),
            "ms", 1000 * statistics.median(plain_accept_lat), "ms same accept, no entry"),
    ]


def _proof_seconds(size: int, samples: int = 300) -> float:
    from apps.ledger.services import inclusion_proof

    indexes = [int(i * (size - 1) / samples) for i in range(samples)]
    t = time.perf_counter()
    for i in indexes:
        inclusion_proof(i, size)
    return (time.perf_counter() - t) / samples


def _backlog_rows() -> list[dict]:
    """Sequencer throughput on a large backlog, then proofs and verification at TOTAL entries."""
    from django.core.management import call_command
    from django.db import connection

    from apps.ledger.services import ledger_checkpoint, ledger_integrate, tree_size

    rows = []
    _reset()
    filled = time.perf_counter()
    _bulk_pending(TOTAL)
    fill_seconds = time.perf_counter() - filled
    start = time.perf_counter()
    while ledger_integrate(max_batch=20_000):
        pass
    integrate_seconds = time.perf_counter() - start
    assert tree_size() == TOTAL
    rows.append(row(f"ledger: sequencer integration ({TOTAL:,} backlog)", TOTAL / integrate_seconds, "entries/s",
                    TOTAL / fill_seconds, "entries/s COPY into pending"))
    ledger_checkpoint()

    big, small = _proof_seconds(TOTAL), _proof_seconds(1024)
    rows.append(row(f"ledger: inclusion proof from the database at {TOTAL:,} entries", big * 1000, "ms",
                    small * 1000, "ms at 1,024 entries"))

    with connection.cursor() as c:
        c.execute("SELECT canonical FROM ledger_entry ORDER BY index")
        blobs = [bytes(b) for (b,) in c.fetchall()]
    t = time.perf_counter()
    for b in blobs:
        hashlib.sha256(b"\x00" + b).digest()
    raw_rate = len(blobs) / (time.perf_counter() - t)
    del blobs
    t = time.perf_counter()
    call_command("verify_ledger", stdout=open(os.devnull, "w"))  # noqa: SIM115
    verify_rate = TOTAL / (time.perf_counter() - t)
    rows.append(row(f"ledger: verify_ledger over {TOTAL:,} entries (database to verdict)", verify_rate,
                    "entries/s", raw_rate, "entries/s bare sha256"))
    return rows


def run() -> list[dict]:
    django_setup()
    from apps.ledger import merkle

    _reset()
    rows = _recording_rows() + _accept_rows() + _backlog_rows()
    assert merkle.HASH_SIZE == 32
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
