"""A realistic synthetic data set of a large organisation, for benchmarks and load tests (issue 10).

`generate(ScaleSpec(evidence=N))` builds on top of the demo data (seed_demo: users, frameworks,
rules, the demo systems) and adds, with the portal's own services wherever one exists:

- systems (`system_save`), their owners (`user_create`) and CI / registry sources (`source_create`);
- a lineage graph of `lineage_nodes` artifacts per system: commits → images (depends-on a shared
  pool of packages, heavy-tailed fan-out) → releases → staging / production deployments, and for ML
  systems model versions trained on dataset chains (derived-from), so the longest upstream walk is
  exactly `lineage_depth` hops (`artifacts_bulk_create`, `lineage_edges_bulk_record`);
- receipts (raw bodies in the blob store) and `evidence` rows of realistic kinds and verdicts about
  those artifacts, newer artifacts getting more (`evidence_bulk_record`, one ledger entry each);
- the control results of the current rules on every release, deployment and model version and on
  every system, with history, evaluated subjects and gate state; `exceptions` in every state
  (`exception_bulk_create`) that turn covered results into "excepted";
- the daily rollups of the last `history_days` days (`coverage_snapshot_days`, `exception_metrics_snapshot`),
  and the ledger sequenced and checkpointed (`ledger_integrate` beside the load, `sequencer_beside`;
  then `ledger_integrate_all`, `ledger_checkpoint`).

The evidence chunks, the lineage edges, the control results and the rollups' days are independent of
each other, and `spec.processes` forked processes write them side by side (devtools/scale/forked.py;
one chunk per transaction, each chunk drawing from a random source of its own seeded by the run's seed
and its number, so the data set does not depend on how many processes wrote it).

Two writes have no bulk path in their apps' services yet, and are done here with COPY plus the
ledger's bulk path, mirroring what the services write: receipts (ingest) and control results
(policy; `policy_evaluate` over 10,000s of subjects would take far longer than the rest together).

It refuses to run twice on one database (evidence and the ledger are append-only, so generated
rows cannot be taken back): generate into a fresh database (`createdb`, `migrate`) instead.
Deterministic for a given spec and seed, apart from timestamps, ids and credentials.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from apps.ingest.models import Source
from apps.ledger.services import SEQUENCER_BATCH, ledger_integrate
from devtools.scale.evidence import EvidenceSteps
from devtools.scale.graph import GraphSteps
from devtools.scale.results import ResultSteps
from devtools.scale.shapes import (
    MARKER_SOURCE,
    GenerationRefused,
)


@dataclass
class ScaleSpec:
    """How big, and how shaped. None: derived from `evidence` (the issue's top scale at 1,000,000)."""

    evidence: int
    releases: int | None = None  # 10,000 at 1M
    lineage_nodes: int | None = None  # 100,000 at 1M
    exceptions: int | None = None  # 5,000 at 1M
    systems: int | None = None  # ~200 at 1M (demo systems included)
    lineage_depth: int = 8
    history_days: int = 90
    seed: int = 10
    ledger: bool = True  # sequence and checkpoint the ledger at the end
    processes: int = field(default_factory=lambda: os.cpu_count() or 1)  # forked writers (devtools/scale/forked.py)

    def resolved(self) -> ScaleSpec:
        n = self.evidence
        if n < 100:
            raise GenerationRefused("generate at least 100 evidence items")
        spec = ScaleSpec(**self.__dict__)
        spec.releases = self.releases if self.releases is not None else max(10, n // 100)
        spec.lineage_nodes = self.lineage_nodes if self.lineage_nodes is not None else max(100, n // 10)
        spec.exceptions = self.exceptions if self.exceptions is not None else max(5, n // 200)
        spec.systems = self.systems if self.systems is not None else max(8, round(200 * math.sqrt(n / 1_000_000)))
        if spec.lineage_nodes < 5 * spec.releases:
            raise GenerationRefused(
                f"{spec.lineage_nodes} lineage nodes cannot hold {spec.releases} releases with their commits, "
                f"images and deployments: give at least {5 * spec.releases}"
            )
        if spec.lineage_depth < 3:
            raise GenerationRefused("the lineage depth is at least 3 (deployment → release → image → commit)")
        return spec


@dataclass
class Counts:
    """What a run wrote, for the command's summary and the tests."""

    systems: int = 0
    users: int = 0
    sources: int = 0
    artifacts: int = 0
    artifacts_by_kind: dict[str, int] = field(default_factory=dict)
    edges: int = 0
    receipts: int = 0
    evidence: int = 0
    evidence_by_kind: dict[str, int] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)
    results: int = 0
    result_changes: int = 0
    exceptions_by_status: dict[str, int] = field(default_factory=dict)
    coverage_rows: int = 0
    ledger_entries: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def default_counts(evidence: int) -> ScaleSpec:
    return ScaleSpec(evidence=evidence).resolved()


# ---------------------------------------------------------------- the run


class _Run(GraphSteps, EvidenceSteps, ResultSteps):
    """One generation: the spec, a seeded random source, the clock and what was written so far."""

    def __init__(self, spec: ScaleSpec, progress: Callable[[str], None]):
        self.spec = spec
        self.say = progress
        self.rng = random.Random(spec.seed)
        self.now = timezone.now()
        self.counts = Counts()
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        t = time.perf_counter()
        self.counts.seconds[name] = round(t - self._t, 2)
        self.say(f"  {name}: {t - self._t:.1f} s")
        self._t = t


# Tables the evidence and results steps fill and nothing reads until the rollups: their secondary
# indexes are built once after the load instead of maintained row by row through millions of COPYed
# rows (PostgreSQL's "Populating a Database" advice). Unique and primary-key indexes stay: constraints.
# Partial indexes stay too: they hold only the rows their predicate names (unparsed receipts), which
# the load does not write.
BULK_TABLES = ("evidence_evidence", "evidence_evidencesubject", "ingest_receipt")

_SECONDARY_INDEXES = """
SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
WHERE t.relname = ANY(%s) AND NOT x.indisunique AND NOT x.indisprimary AND x.indpred IS NULL
AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
ORDER BY i.relname
"""


@contextmanager
def secondary_indexes_deferred(tables: tuple[str, ...] = BULK_TABLES) -> Iterator[list[str]]:
    """Drop the secondary indexes of `tables`, run the block, then create them again from their own
    definitions (also when the block fails, so the database keeps its indexes). Yields their names."""
    with connection.cursor() as cursor:
        cursor.execute(_SECONDARY_INDEXES, [list(tables)])
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    try:
        yield [name for name, _ in indexes]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '256MB'")
            for _name, definition in indexes:
                cursor.execute(definition)
            cursor.execute("RESET maintenance_work_mem")


@contextmanager
def sequencer_beside(say: Callable[[str], None]) -> Iterator[None]:
    """Sequence committed ledger entries on a connection of its own while the block loads, as the
    sequencer process does beside the writers in production: the sequencing is mostly PostgreSQL's
    work, done while the writers build their next rows. Not inside a transaction (a test's):
    nothing the block writes would be visible to another connection. What it leaves pending, the
    block's last transactions, is sequenced after it (ledger_integrate_all)."""
    if connection.in_atomic_block:
        yield
        return
    stop = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            while not stop.is_set():
                if not ledger_integrate(max_batch=SEQUENCER_BATCH):
                    stop.wait(0.5)
        except Exception as exc:  # noqa: BLE001 - reported below; the pass after the block sequences the rest
            failed.append(exc)
        finally:
            connection.close()  # the proxy names this thread's own connection

    thread = threading.Thread(target=run, name="sequencer-beside", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for exc in failed:
            say(f"  the sequencer beside the load stopped: {exc!r}; the pass after it sequences the rest")


def already_generated() -> bool:
    return Source.objects.filter(name=MARKER_SOURCE).exists()


def generate(spec: ScaleSpec, *, progress: Callable[[str], None] = print) -> Counts:
    """Generate the data set described by `spec`; GenerationRefused if one is there already."""
    spec = spec.resolved()
    if already_generated():
        raise GenerationRefused(
            "this database already holds a generated data set (evidence and the ledger are append-only, so it "
            "cannot be taken back): generate into a fresh database"
        )
    run = _Run(spec, progress)
    progress(
        f"generating {spec.evidence:,} evidence, {spec.releases:,} releases, {spec.lineage_nodes:,} lineage "
        f"nodes (depth {spec.lineage_depth}), {spec.exceptions:,} exceptions, ~{spec.systems} systems"
    )
    call_command("seed_demo", verbosity=0)  # users, frameworks, rules, demo systems (evaluated by the real services)
    run.lap("seed_demo")
    run.people_and_systems()
    run.lineage()
    with sequencer_beside(progress) if spec.ledger else nullcontext():
        with secondary_indexes_deferred():
            run.evidence()
            run.results()
        run.lap("secondary indexes built")
        run.rollups()
    run.ledger()
    return run.counts


def fingerprint(counts: Counts) -> str:
    """A short digest of what was generated (for logs)."""
    return hashlib.sha256(json.dumps(counts.__dict__, sort_keys=True, default=str).encode()).hexdigest()[:12]
