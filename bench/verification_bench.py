"""Third-party verification benchmarks (issue 19): consistency proofs at 1M leaves, export + offline verify.

Run ``python bench/verification_bench.py`` (or through ``make bench``). Pure: no database. Rows as in
ledger_bench (``ratio = value / baseline``, higher is better):

- ``consistency_proof_1_to_1M``: milliseconds to build the RFC 9162 consistency proof between tree sizes 1
  and 1,000,000 from a dict-backed node store (the database path fetches the same O(log n) nodes in one
  query), and to check it with verify_consistency; target < 5 ms. Baseline: the 5 ms target (ratio > 1 met).
- ``export_write`` / ``export_offline_verify`` / ``export_and_verify``: entries/s writing the export lines
  (apps.ledger.verify.export_line) to a file, then streaming it back as ``compliance_verify.py EXPORT
  --checkpoint`` does (export_leaves() + verify_log(hashed=True) against a signed checkpoint), and both;
  against bare ``hashlib.sha256`` over the same entry bytes in the same run (target ratio >= 0.25).
  PORTAL_BENCH_EXPORT_ENTRIES (default 1,000,000) bounds the runtime.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from apps.ledger import merkle  # noqa: E402
from apps.ledger.checkpoint import Checkpoint, Signer  # noqa: E402
from apps.ledger.verify import export_leaves, export_line, verify_log  # noqa: E402
from bench.ledger_bench import _row, _synthetic_entries, build_store  # noqa: E402

STORE_LEAVES = 1_000_000
EXPORT_ENTRIES = int(os.environ.get("PORTAL_BENCH_EXPORT_ENTRIES", "1000000"))
TARGET_MS = 5.0


def _ms_row(name: str, ms: float) -> dict:
    """A time (lower is better) against the target: ratio = value / target, met when below 1."""
    return {"name": name, "value": round(ms, 4), "unit": "ms", "baseline": TARGET_MS, "baseline_unit": "ms target",
            "ratio": round(ms / TARGET_MS, 4)}


def bench_consistency(store: dict) -> list[dict]:
    def get(level: int, index: int) -> bytes:
        return store[(level, index)]

    root_1 = merkle.root_at(1, get)
    root_n = merkle.root_at(STORE_LEAVES, get)
    runs = []
    for _ in range(50):
        start = time.perf_counter()
        proof = merkle.consistency_proof(1, STORE_LEAVES, get)
        built = time.perf_counter()
        assert merkle.verify_consistency(1, STORE_LEAVES, root_1, root_n, proof)
        runs.append((built - start, time.perf_counter() - built))
    build_ms = sorted(r[0] for r in runs)[len(runs) // 2] * 1000
    verify_ms = sorted(r[1] for r in runs)[len(runs) // 2] * 1000
    return [
        _ms_row("consistency_proof_1_to_1M", build_ms),
        _ms_row("consistency_verify_1_to_1M", verify_ms),
    ]


def bench_export_verify() -> list[dict]:
    entries = _synthetic_entries(EXPORT_ENTRIES)
    signer = Signer("bench.example/ledger", bytes(range(32)))
    tree = merkle.CompactTree()
    for entry in entries:
        tree.append(merkle.leaf_hash(entry))
    note = signer.sign(Checkpoint("bench.example/ledger", EXPORT_ENTRIES, tree.root()).body())

    sha = hashlib.sha256
    start = time.perf_counter()
    for entry in entries:
        sha(entry).digest()
    baseline_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.jsonl"
        start = time.perf_counter()
        with open(path, "wb") as fh:
            for index, entry in enumerate(entries):
                fh.write(export_line(index, entry))
        written = time.perf_counter()
        with open(path, "rb") as fh:
            summary = verify_log(export_leaves(fh), [note], [signer.verifier_key()], hashed=True)
        done = time.perf_counter()
    assert summary.verified_size == EXPORT_ENTRIES
    baseline = EXPORT_ENTRIES / baseline_s
    return [
        _row("export_write", EXPORT_ENTRIES / (written - start), "entries/s", baseline, "sha256/s"),
        _row("export_offline_verify", EXPORT_ENTRIES / (done - written), "entries/s", baseline, "sha256/s"),
        _row("export_and_verify", EXPORT_ENTRIES / (done - start), "entries/s", baseline, "sha256/s"),
    ]


def run() -> list[dict]:
    """All verification benchmark rows."""
    rows = bench_export_verify()
    store, _ = build_store(STORE_LEAVES)
    rows.extend(bench_consistency(store))
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<28} {row['value']:>14,.3f} {row['unit']:<10} "
              f"baseline {row['baseline']:>14,.1f} {row['baseline_unit']:<12} ratio {row['ratio']:.3f}")
