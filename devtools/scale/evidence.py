"""Scale generator, step 2: receipts and evidence about the lineage artifacts."""

import itertools
import json
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction

from apps.evidence.services import BulkEvidence, deployment_slot, evidence_bulk_record, lineage_edges_bulk_record
from apps.ingest.blobs import blob_store
from apps.ledger.services import ledger_record_many
from devtools.scale.forked import forked_map, processes_for
from devtools.scale.shapes import (
    CHANNEL_OF,
    CHUNK,
    EVIDENCE_BY_ARTIFACT,
    STATED_BY,
    GenerationRefused,
    _summary,
)


@dataclass
class _ChunkWritten:
    """What writing one chunk of evidence gave: small, sent back from the process that wrote it."""

    receipts: int
    by_kind: Counter = field(default_factory=Counter)
    verdicts: Counter = field(default_factory=Counter)
    stating: list[tuple[tuple[str, str], int]] = field(default_factory=list)  # ((uri, kind), evidence id)
    about: list[tuple[str, int]] = field(default_factory=list)  # (uri, evidence id), at most 4 per uri


class EvidenceSteps:
    """Steps of the generator run (generator._Run) that write receipts and evidence."""

    def _bodies(self) -> dict[tuple[str, str], tuple[str, int]]:
        """One small stored raw body per (kind, verdict): receipts name real blobs (packs stream them)."""

        out = {}
        for group in EVIDENCE_BY_ARTIFACT.values():
            for kind, _w, _p, fmt in group:
                for verdict in ("pass", "fail", "info"):
                    body = json.dumps({"generated": True, "kind": kind, "format": fmt, "verdict": verdict}).encode()
                    out[(kind, verdict)] = (blob_store(body), len(body))
        return out

    def evidence(self) -> None:
        bodies = self._bodies()
        plan, stated = self._evidence_plan()
        fmt_of = {k: (p, f) for g in EVIDENCE_BY_ARTIFACT.values() for k, _w, p, f in g}
        chunks = math.ceil(len(plan) / CHUNK)

        def write_chunk(k: int) -> _ChunkWritten:
            return self._evidence_chunk(k, plan[k * CHUNK : (k + 1) * CHUNK], fmt_of, bodies, stated)

        stating: dict[tuple[str, str], int] = {}
        by_kind: Counter = Counter()
        verdicts: Counter = Counter()
        self.evidence_of: dict[str, list[int]] = defaultdict(list)  # artifact uri -> evidence ids (some)
        receipts = 0
        for written in forked_map(write_chunk, chunks, processes=self.spec.processes):  # in chunk order
            receipts += written.receipts
            by_kind.update(written.by_kind)
            verdicts.update(written.verdicts)
            stating.update(written.stating)
            for uri, pk in written.about:
                if len(self.evidence_of[uri]) < 4:
                    self.evidence_of[uri].append(pk)
        self.say(f"  evidence: {chunks} chunks written by {processes_for(chunks, self.spec.processes)} processes")
        self.counts.receipts = receipts
        self.counts.evidence = len(plan)
        self.counts.evidence_by_kind = dict(by_kind)
        self.counts.verdicts = dict(verdicts)
        self.lap("receipts and evidence (COPY)")
        parts = self._edge_parts(stating)

        def write_edges(k: int) -> int:
            with transaction.atomic():
                return lineage_edges_bulk_record(parts[k])

        self.counts.edges = sum(forked_map(write_edges, len(parts), processes=self.spec.processes))
        self.lap("lineage edges")

    def _edge_parts(self, stating: dict[tuple[str, str], int]) -> list[list[tuple]]:
        """The lineage edge rows in one part per process, alike in size. A deployment's edges go with every
        other edge into its slot (deployment_slot()): ending the deployment that ran there before reads and
        updates those, in order. Any other edge goes with its target's, so an edge listed twice is inserted
        by one transaction, never by two at once."""
        ids, rows_by_key = self.artifact_ids, defaultdict(list)
        for src, target, relation in self.edges:
            ev = stating[(target, STATED_BY[relation])]
            key = deployment_slot(target) if target.startswith("deployment:") else target
            rows_by_key[key].append((ids[src], ids[target], relation, ev, self.artifact_seen[target]))
        parts: list[list[tuple]] = [[] for _ in range(max(1, self.spec.processes))]
        for rows in sorted(rows_by_key.values(), key=len, reverse=True):  # largest first, to the smallest part
            min(parts, key=len).extend(rows)
        return [part for part in parts if part]

    def _evidence_chunk(self, k, part, fmt_of, bodies, stated) -> _ChunkWritten:
        """Receipts and evidence of the plan's k-th chunk, in one transaction. Its own random source (seeded
        by the run's seed and k) keeps the data set the same whichever process writes the chunk."""
        rng = random.Random(f"{self.spec.seed}:evidence:{k}")
        # Sorted by system and kind so that neighbours can share a receipt (JSON Lines, webhooks);
        # the stating items come first within the plan, so they stay in the first chunks.
        chunk = sorted(part, key=lambda p: (p[1], p[2]))
        items_meta = [self._item_meta(item, fmt_of, rng) for item in chunk]
        with transaction.atomic():
            receipt_ids, receipt_rows = self._receipts(items_meta, bodies, rng)
            items = [
                self._bulk_evidence(meta, receipt_row, stated, rng)
                for meta, receipt_row in zip(items_meta, receipt_rows, strict=True)
            ]
            new_ids = evidence_bulk_record(items)
        written = _ChunkWritten(receipts=len(receipt_ids))
        seen: dict[str, int] = defaultdict(int)
        for (uri, _sid, kind, _fmt, verdict, _eff, states), pk in zip(items_meta, new_ids, strict=True):
            written.by_kind[kind] += 1
            written.verdicts[verdict] += 1
            if states:
                written.stating.append(((uri, kind), pk))
            if uri and seen[uri] < 4:
                seen[uri] += 1
                written.about.append((uri, pk))
        return written

    def _evidence_plan(self) -> tuple[list[tuple[str | None, int | None, str, bool]], dict[tuple[str, str], int]]:
        """(plan, edges stated per stating item): (artifact uri, system id, kind, states edges) per item.

        The evidence that states each edge comes first, one per (target, stating kind); the rest picks
        a kind group by weight, then an artifact of that kind, newer ones more often.
        """
        spec, rng = self.spec, self.rng
        mandatory: dict[tuple[str, str], None] = {}
        for _src, target, relation in self.edges:
            mandatory[(target, STATED_BY[relation])] = None
        plan: list[tuple[str | None, int | None, str, bool]] = []
        for target, kind in mandatory:
            plan.append((target, self.artifact_system[target], kind, True))
        stated: dict[tuple[str, str], int] = defaultdict(int)
        for _src, target, relation in self.edges:
            stated[(target, STATED_BY[relation])] += 1
        remaining = spec.evidence - len(plan)
        if remaining < 0:
            raise GenerationRefused(
                f"{spec.evidence} evidence items cannot state the {len(plan)} lineage facts of this graph: "
                "give more evidence or fewer lineage nodes"
            )
        groups = [
            (k, sum(w for _kind, w, _p, _f in g))
            for k, g in EVIDENCE_BY_ARTIFACT.items()
            if k is None or self.by_kind.get(k)
        ]
        # One draw of every random choice at once (choices with cumulative weights: O(log n) each).
        pairs = [(g, k) for g, _w in groups for k, w, _p, _f in EVIDENCE_BY_ARTIFACT[g]]
        pair_cum = list(
            itertools.accumulate(
                gw * w / sum(x[1] for x in EVIDENCE_BY_ARTIFACT[g])
                for g, gw in groups
                for _k, w, _p, _f in EVIDENCE_BY_ARTIFACT[g]
            )
        )
        sys_ids = [s.pk for s in self.systems]
        sys_cum = list(itertools.accumulate(self.activity[s.pk] for s in self.systems))
        drawn_systems = rng.choices(sys_ids, cum_weights=sys_cum, k=remaining)
        for (group, kind), sid in zip(
            rng.choices(pairs, cum_weights=pair_cum, k=remaining), drawn_systems, strict=True
        ):
            if group is None:
                plan.append((None, sid, kind, False))
            else:
                pool = self.by_kind[group]
                uri, owner, _seen = pool[min(len(pool) - 1, int(len(pool) * (1 - rng.random() ** 2)))]
                plan.append((uri, owner or sid, kind, False))
        return plan, stated

    def _item_meta(self, item: tuple, fmt_of: dict, rng: random.Random) -> tuple:
        """(uri, system id, kind, format, verdict, effective at, states edges) of one planned item."""
        uri, sid, kind, states = item
        pass_share, fmt = fmt_of[kind]
        health = self.health.get(sid, 0.8)
        if pass_share is None:
            verdict = "info"
        else:
            verdict = "pass" if rng.random() < pass_share * (0.6 + 0.4 * health) / 0.95 else "fail"
        seen = self.artifact_seen[uri] if uri else self.now - timedelta(days=365) * rng.random() ** 0.5
        effective = min(self.now, seen + timedelta(minutes=rng.randint(1, 60 * 24 * 3)))
        return (uri, sid, kind, fmt, verdict, effective, states)

    def _bulk_evidence(self, meta: tuple, receipt_row: tuple, stated: dict, rng: random.Random):
        uri, sid, kind, fmt, verdict, effective, states = meta
        rid, ordinal, sha, received = receipt_row
        return BulkEvidence(
            receipt_id=rid,
            receipt_sha256=sha,
            ordinal=ordinal,
            source_id=self.sources[sid].pk,
            system_id=sid,
            subject_id=self.artifact_ids[uri] if uri else None,
            subject_uri=uri or "",
            kind=kind,
            format=fmt,
            title=f"{kind} {('of ' + uri.rsplit('/', 1)[-1][:60]) if uri else 'of the system'}",
            verdict=verdict,
            summary=_summary(kind, verdict, rng),
            received_at=received,
            effective_at=effective,
            new_edges=stated[(uri, kind)] if states else 0,
        )

    def _receipts(self, items_meta, bodies, rng) -> tuple[list[int], list[tuple[int, int, str, datetime]]]:
        """Receipts for a chunk of evidence (1-5 items each, as JSON Lines uploads and webhooks give),
        COPYed with their `receipt.accepted` ledger entries. Returns ids and per item (receipt, ordinal, sha, at)."""
        groups: list[list[int]] = []
        i = 0
        while i < len(items_meta):
            size = min(len(items_meta) - i, rng.choice((1, 1, 1, 2, 3, 5)))
            # one receipt holds evidence of one system and kind
            j = i + 1
            while j < i + size and items_meta[j][1] == items_meta[i][1] and items_meta[j][2] == items_meta[i][2]:
                j += 1
            groups.append(list(range(i, j)))
            i = j
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('ingest_receipt', 'id')) FROM generate_series(1, %s)",
                [len(groups)],
            )
            rids = [r[0] for r in cursor.fetchall()]
        per_item: list[tuple] = [None] * len(items_meta)  # type: ignore[list-item]
        rows, entries = [], []
        for rid, group in zip(rids, groups, strict=True):
            uri, sid, kind, fmt, verdict, effective, _states = items_meta[group[0]]
            sha, size = bodies[(kind, verdict)]
            source = self.sources[sid]
            channel, event = CHANNEL_OF.get(source.kind, ("upload", ""))
            received = min(self.now, effective + timedelta(seconds=rng.randint(5, 600)))
            rows.append(
                (
                    rid,
                    source.pk,
                    channel,
                    event,
                    f"scale-{rid}",
                    sha,
                    size,
                    "application/json",
                    "{}",
                    "" if channel != "upload" else f"{kind}.json",
                    uri or "",
                    "",
                    sid,
                    None,
                    received,
                    "parsed",
                    received,
                    "",
                    1,
                    received,
                )
            )
            entries.append(
                (
                    source,
                    "receipt.accepted",
                    ("ingest.receipt", rid),
                    {"sha256": sha, "size": size, "channel": channel, "event": event, "delivery": f"scale-{rid}"},
                )
            )
            for ordinal, idx in enumerate(group):
                per_item[idx] = (rid, ordinal, sha, received)
        cursor = connection.cursor()
        with cursor.cursor.copy(
            "COPY ingest_receipt (id, source_id, channel, event, delivery_key, sha256, size, content_type, headers, "
            "filename, subject, format_hint, system_id, effective_at, received_at, state, state_since, error, "
            "attempts, parsed_at) FROM STDIN"
        ) as copy:
            for r in rows:
                copy.write_row(r)
        ledger_record_many(entries)
        return rids, per_item
