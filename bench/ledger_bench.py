"""Ledger core benchmarks: streaming log verification, tree appends, proofs at 1M leaves.

Run ``python bench/ledger_bench.py`` (or through ``make bench``). ``run()`` returns rows
``{"name", "value", "unit", "baseline", "baseline_unit", "ratio"}``. Every value is a
rate (higher is better) and ``ratio = value / baseline``:

- ``verify_log``: entries/s through verify_log() for 200,000 synthetic ~200-byte entries
  with two signed checkpoints, against bare ``hashlib.sha256`` over the same bytes in the
  same run (one digest per entry, nothing else: the floor any verifier pays).
- ``append_nodes``: leaves/s appended in batches of 10,000 into a dict-backed store while
  it grows to 1,000,000 leaves, against bare ``hashlib.sha256`` computing the one
  interior node per leaf that an append costs on average.
- ``inclusion_proof`` / ``consistency_proof``: proofs/s from the 1,000,000-leaf dict-backed
  store, against the same operation on a 1,024-leaf store (log n growth: expect ~0.5).
"""

from __future__ import annotations

import hashlib
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from apps.ledger import merkle  # noqa: E402
from apps.ledger.checkpoint import Checkpoint, Signer  # noqa: E402
from apps.ledger.verify import verify_log  # noqa: E402

VERIFY_ENTRIES = 200_000
BATCH = 10_000
STORE_LEAVES = 1_000_000
SMALL_LEAVES = 1_024
PROOFS = 2_000


def _row(name: str, value: float, unit: str, baseline: float, baseline_unit: str) -> dict:
    return {
        "name": name,
        "value": round(value, 1),
        "unit": unit,
        "baseline": round(baseline, 1),
        "baseline_unit": baseline_unit,
        "ratio": round(value / baseline, 3),
    }


def _synthetic_entries(n: int) -> list[bytes]:
    """~200-byte canonical-JSON-like entries, distinct per index."""
    template = (
        '{"action":"evidence.recorded","actor":"user-%06d","at":"2025-01-01T00:00:00.%06dZ",'
        '"data":{"control":"AC-%04d","sha256":"%s"},"index":%d}'
    )
    return [
        (template % (i % 997, i % 1_000_000, i % 9973, hashlib.sha256(b"%d" % i).hexdigest()[:64], i)).encode()
        for i in range(n)
    ]


def bench_verify_log() -> dict:
    entries = _synthetic_entries(VERIFY_ENTRIES)
    signer = Signer("bench.example/ledger", bytes(range(32)))
    tree = merkle.CompactTree()
    notes = []
    for i, entry in enumerate(entries, start=1):
        tree.append(merkle.leaf_hash(entry))
        if i in (VERIFY_ENTRIES // 2, VERIFY_ENTRIES):
            notes.append(signer.sign(Checkpoint("bench.example/ledger", i, tree.root()).body()))
    vkeys = [signer.verifier_key()]

    sha = hashlib.sha256
    start = time.perf_counter()
    for entry in entries:
        sha(entry).digest()
    baseline_s = time.perf_counter() - start

    start = time.perf_counter()
    summary = verify_log(enumerate(entries), notes, vkeys)
    verify_s = time.perf_counter() - start
    assert summary.verified_size == VERIFY_ENTRIES
    return _row("verify_log", VERIFY_ENTRIES / verify_s, "entries/s", VERIFY_ENTRIES / baseline_s, "entries/s")


def build_store(leaves: int) -> tuple[dict[tuple[int, int], bytes], list[float]]:
    """A dict-backed node store built with append_nodes; also returns seconds per batch."""
    store: dict[tuple[int, int], bytes] = {}
    get = store.__getitem__
    batch_seconds = []
    size = 0
    while size < leaves:
        count = min(BATCH, leaves - size)
        batch = [hashlib.sha256(b"leaf %d" % i).digest() for i in range(size, size + count)]
        start = time.perf_counter()
        new = merkle.append_nodes(size, batch, lambda level, index: get((level, index)))
        for level, index, h in new:
            store[(level, index)] = h
        batch_seconds.append(time.perf_counter() - start)
        size += count
    return store, batch_seconds


def bench_proofs(store: dict, small: dict, rng: random.Random) -> list[dict]:
    rows = []
    for name, make in (
        ("inclusion_proof", lambda size, get: merkle.inclusion_proof(rng.randrange(size), size, get)),
        ("consistency_proof", lambda size, get: merkle.consistency_proof(rng.randrange(1, size), size, get)),
    ):
        rates = []
        for nodes, size in ((store, STORE_LEAVES), (small, SMALL_LEAVES)):
            get = nodes.__getitem__

            def lookup(level: int, index: int, get=get) -> bytes:
                return get((level, index))

            start = time.perf_counter()
            for _ in range(PROOFS):
                make(size, lookup)
            rates.append(PROOFS / (time.perf_counter() - start))
        rows.append(_row(f"{name}@1M", rates[0], "proofs/s", rates[1], "proofs/s@1024"))
    return rows


def run() -> list[dict]:
    """All ledger benchmark rows."""
    rows = [bench_verify_log()]

    store, batch_seconds = build_store(STORE_LEAVES)
    node_input = b"\x01" + bytes(64)
    sha = hashlib.sha256
    start = time.perf_counter()
    for _ in range(BATCH):
        sha(node_input).digest()
    bare_s = time.perf_counter() - start
    rows.append(_row("append_nodes", BATCH / statistics.median(batch_seconds), "leaves/s", BATCH / bare_s, "hashes/s"))

    small, _ = build_store(SMALL_LEAVES)
    rows.extend(bench_proofs(store, small, random.Random(6962)))
    return rows


if __name__ == "__main__":
    for row in run():
        print(
            f"{row['name']:<24} {row['value']:>14,.1f} {row['unit']:<12} "
            f"baseline {row['baseline']:>14,.1f} {row['baseline_unit']:<14} ratio {row['ratio']:.3f}"
        )
