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
- the daily rollups of the last `history_days` days (`coverage_snapshot`, `exception_metrics_snapshot`),
  and the ledger sequenced and checkpointed (`ledger_integrate_all`, `ledger_checkpoint`).

Two writes have no bulk path in their apps' services yet, and are done here with COPY plus the
ledger's bulk path, mirroring what the services write: receipts (ingest) and control results
(policy; `policy_evaluate` over 10,000s of subjects would take far longer than the rest together).

It refuses to run twice on one database (evidence and the ledger are append-only, so generated
rows cannot be taken back): generate into a fresh database (`createdb`, `migrate`) instead.
Deterministic for a given spec and seed, apart from timestamps, ids and credentials.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

MARKER_SOURCE = "scale-generator"  # the Source every generated receipt comes from is the "already generated" marker
CHUNK = 25_000  # evidence rows per transaction


class GenerationRefused(Exception):
    """The database already holds a generated data set (or the spec is inconsistent)."""


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


# ---------------------------------------------------------------- shapes of a large organisation

DOMAINS = [
    "payments",
    "lending",
    "cards",
    "claims",
    "care",
    "pharmacy",
    "identity",
    "search",
    "ledger",
    "risk",
    "fraud",
    "pricing",
    "onboarding",
    "billing",
    "records",
    "imaging",
    "lab",
    "scheduling",
    "support",
    "ads",
]
NOUNS = ["api", "service", "gateway", "worker", "engine", "portal", "pipeline", "store", "hub", "model"]
# (system kind, weight, data classes to choose from, frameworks by data class)
KINDS = [("service", 0.6), ("ml_model", 0.3), ("data_platform", 0.1)]
TIERS = [("low", 0.3), ("medium", 0.4), ("high", 0.22), ("critical", 0.08)]
DATA_CLASSES = [
    ("pii", 0.55),
    ("financial", 0.35),
    ("phi", 0.2),
    ("cardholder", 0.1),
    ("credentials", 0.1),
    ("public", 0.15),
]
# Evidence kinds by what they are about, with (weight, pass share, format).
EVIDENCE_BY_ARTIFACT = {
    "commit": [
        ("test-report", 30, 0.93, "junit"),
        ("sast-scan", 12, 0.85, "sarif"),
        ("pipeline-run", 14, 0.95, "github"),
        ("policy-decisions", 2, 0.9, "opa"),
    ],
    "image": [("sbom", 7, None, "cyclonedx"), ("provenance", 6, 0.97, "intoto"), ("sast-scan", 2, 0.8, "sarif")],
    "release": [("release", 2, None, "github"), ("provenance", 1, 0.97, "intoto")],
    "deployment": [("deployment", 4, None, "github"), ("kubernetes-manifests", 1, 0.9, "kubernetes")],
    "model-version": [
        ("metrics", 3, 0.9, "metrics"),
        ("fairness", 1, 0.85, "fairness"),
        ("drift", 3, 0.88, "drift"),
        ("model-card", 0.5, None, "model-card"),
    ],
    "dataset": [("data-quality", 3, 0.9, "great-expectations"), ("data-version", 1, None, "dvc")],
    None: [
        ("infrastructure", 2, 0.9, "terraform"),
        ("iac-scan", 1.5, 0.8, "checkov"),
        ("dpia", 0.1, None, "generic"),
        ("risk-assessment", 0.1, None, "generic"),
    ],
}
# The kind of the evidence that states each lineage relation (about the edge's target).
STATED_BY = {
    "built-from": "provenance",
    "released-from": "release",
    "deployed-from": "deployment",
    "depends-on": "sbom",
    "trained-on": "metrics",
    "derived-from": "data-quality",
}
CHANNEL_OF = {"github": ("github", "workflow_run"), "gitlab": ("gitlab", "Pipeline Hook")}
EXCEPTION_STATES = [
    ("approved", 0.38),
    ("pending", 0.14),
    ("expired", 0.25),
    ("rejected", 0.09),
    ("revoked", 0.06),
    ("draft", 0.08),
]


def _pick(rng: random.Random, weighted):
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def _hex(rng: random.Random, n: int) -> str:
    return "%0*x" % (n, rng.getrandbits(4 * n))  # noqa: UP031 - fixed-width hex of a random number


def default_counts(evidence: int) -> ScaleSpec:
    return ScaleSpec(evidence=evidence).resolved()


# ---------------------------------------------------------------- the run


class _Run:
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

    # ---- people, systems, sources

    def people_and_systems(self) -> None:
        from apps.accounts.models import User
        from apps.accounts.roles import Role
        from apps.accounts.services import user_create
        from apps.ingest.services import source_create
        from apps.inventory.models import System
        from apps.inventory.services import system_save

        spec, rng = self.spec, self.rng
        admin = User.objects.get(username="admin")
        self.admin = admin
        self.compliance = list(User.objects.filter(username="compliance"))
        n_new = max(0, spec.systems - System.objects.count())
        n_owners = max(2, n_new // 8)
        n_engineers = max(2, n_new // 4)
        owners = [
            user_create(
                username=f"scale-risk-{i:03d}",
                password=None,
                roles=[Role.RISK_OWNER],
                first_name="Risk",
                last_name=f"Owner {i}",
                email=f"scale-risk-{i:03d}@example.invalid",
            )
            for i in range(n_owners)
        ]
        engineers = [
            user_create(
                username=f"scale-eng-{i:03d}",
                password=None,
                roles=[Role.ENGINEER],
                first_name="Eng",
                last_name=f"Engineer {i}",
                email=f"scale-eng-{i:03d}@example.invalid",
            )
            for i in range(n_engineers)
        ]
        self.compliance += [
            user_create(
                username=f"scale-co-{i}",
                password=None,
                roles=[Role.COMPLIANCE_OFFICER],
                first_name="Comp",
                last_name=f"Officer {i}",
            )
            for i in range(2)
        ]
        self.counts.users = len(owners) + len(engineers) + 2
        for i in range(n_new):
            kind = _pick(rng, KINDS)
            classes = sorted({c for c, p in DATA_CLASSES if rng.random() < p}) or ["public"]
            if kind == "ml_model":
                classes = sorted(set(classes) - {"public"} | {"model_output"})
            frameworks = {"soc2"}
            if {"pii", "phi", "financial", "cardholder"} & set(classes):
                frameworks.add("gdpr")
            if "phi" in classes:
                frameworks.add("hipaa")
            if kind == "ml_model":
                frameworks |= {"eu-ai-act"} | ({"sr-11-7"} if "financial" in classes else set())
            name = f"{DOMAINS[i % len(DOMAINS)]}-{NOUNS[(i // len(DOMAINS)) % len(NOUNS)]}-{i:03d}"
            system = System(
                name=name.replace("-", " ").title(),
                slug=name,
                kind=kind,
                risk_tier=_pick(rng, TIERS),
                data_classes=classes,
                frameworks=sorted(frameworks),
                description=f"Generated system {i} of the scale data set.",
            )
            envs = ["dev", "staging", "prod"] if rng.random() < 0.8 else ["prod"]
            system_save(
                actor=admin,
                system=system,
                risk_owners=rng.sample(owners, k=min(len(owners), 2)),
                engineering_owners=rng.sample(engineers, k=min(len(engineers), 3)),
                environments=envs,
            )
        self.counts.systems = n_new
        self.systems = list(System.objects.order_by("pk").prefetch_related("risk_owners", "engineering_owners"))
        # Activity is heavy-tailed: a few systems ship most releases. payments-api is the busiest one
        # (benchmarks load its page: the worst case).
        weights = [1 / (rank + 1) ** 0.8 for rank in range(len(self.systems))]
        rng.shuffle(weights)
        busiest = next((i for i, s in enumerate(self.systems) if s.slug == "payments-api"), 0)
        top = max(range(len(weights)), key=weights.__getitem__)
        weights[busiest], weights[top] = weights[top], weights[busiest]
        self.activity = {s.pk: w for s, w in zip(self.systems, weights, strict=True)}
        self.health = {s.pk: rng.uniform(0.55, 0.97) for s in self.systems}
        self.sources = {}
        for s in self.systems:
            kind = rng.choice(["github", "github", "gitlab", "generic-ci"])
            creds = source_create(actor=admin, kind=kind, name=f"{s.slug} {kind} (scale)", system=s)
            self.sources[s.pk] = creds.source
        self.marker = source_create(actor=admin, kind="generic-ci", name=MARKER_SOURCE).source
        self.counts.sources = len(self.sources) + 1
        self.lap("users, systems and sources (services)")

    # ---- the lineage graph

    def lineage(self) -> None:
        from apps.evidence.services import artifacts_bulk_create

        spec, rng, now = self.spec, self.rng, self.now
        systems = self.systems
        total_w = sum(self.activity.values())
        ml = [s for s in systems if s.kind == "ml_model"]
        # Node budget: per release a release, an image, a commit and 0-2 deployments; the rest is split
        # between extra commits (CI on branches), the shared package pool and the ML systems' chains.
        per_system_releases = {s.pk: max(1, round(spec.releases * self.activity[s.pk] / total_w)) for s in systems}
        drift = spec.releases - sum(per_system_releases.values())
        busiest = max(systems, key=lambda s: self.activity[s.pk]).pk
        per_system_releases[busiest] = max(1, per_system_releases[busiest] + drift)
        rows: list[tuple] = []  # (kind, uri, digest, name, system_id, first_seen)
        edges: list[tuple[str, str, str]] = []  # (source uri, target uri, relation)
        self.by_kind: dict[str, list[tuple[str, int, datetime]]] = defaultdict(list)  # kind -> (uri, system, seen)
        deployments_env: dict[str, str] = {}
        span = timedelta(days=365)

        def add(kind, uri, name, system_id, seen, digest=""):
            rows.append((kind, uri, digest, name, system_id, seen))
            self.by_kind[kind].append((uri, system_id, seen))

        depth_k = spec.lineage_depth - 3  # dataset chain length behind a model version (3 hops above it)
        base = sum(per_system_releases.values()) * 3
        deploys = 0
        for s in systems:
            n = per_system_releases[s.pk]
            for i in range(n):
                seen = now - span + span * ((i + rng.random()) / n)
                sha = _hex(rng, 40)
                digest = _hex(rng, 64)
                commit = f"git+https://git.example.org/{s.slug}/{s.slug}@{sha}"
                image = f"oci://registry.example.org/{s.slug}@sha256:{digest}"
                release = f"release:https://git.example.org/{s.slug}@{1 + i // 100}.{(i // 10) % 10}.{i % 10}"
                add("commit", commit, sha[:12], s.pk, seen - timedelta(hours=2), sha)
                add("image", image, f"{s.slug}:{i}", s.pk, seen - timedelta(hours=1), f"sha256:{digest}")
                add("release", release, f"{s.slug} {release.rsplit('@', 1)[1]}", s.pk, seen)
                edges += [(commit, image, "built-from"), (image, release, "released-from")]
                for env, p in (("staging", 0.8), ("prod", 0.5)):
                    if rng.random() < p:
                        uri = f"deployment:https://git.example.org/{s.slug}/{env}/{i}"
                        at = seen + timedelta(hours=3 if env == "staging" else 26)
                        add("deployment", uri, f"{s.slug} {env} #{i}", s.pk, at)
                        deployments_env[uri] = env
                        edges.append((release, uri, "deployed-from"))
                        deploys += 1
        used = base + deploys
        remaining = max(0, spec.lineage_nodes - used)
        n_ml = remaining * 3 // 10 if ml else 0
        n_packages = max(10, remaining * 3 // 10)
        n_commits = max(0, remaining - n_ml - n_packages)
        packages = []
        for i in range(n_packages):
            eco = ("pypi", "npm", "maven", "golang")[i % 4]
            uri = f"pkg:{eco}/lib-{i // 3}@{1 + i % 3}.{i % 7}.0"
            add("package", uri, f"lib-{i // 3}", None, now - span)
            packages.append(uri)
        # images depend on packages: heavy-tailed fan-out (most 5-20, a few hundreds), popular packages first
        pop = list(itertools.accumulate(1 / (r + 1) for r in range(len(packages))))  # cumulative: O(log n) a draw
        for uri, _sid, _seen in self.by_kind["image"]:
            fan = min(len(packages), int(rng.paretovariate(1.6) * 6))
            for pkg in set(rng.choices(packages, cum_weights=pop, k=fan)):
                edges.append((pkg, uri, "depends-on"))
        cum = list(itertools.accumulate(self.activity[s.pk] for s in systems))
        for s in rng.choices(systems, cum_weights=cum, k=n_commits):
            sha = _hex(rng, 40)
            add(
                "commit",
                f"git+https://git.example.org/{s.slug}/{s.slug}@{sha}",
                sha[:12],
                s.pk,
                now - span * rng.random() ** 0.7,
                sha,
            )
        # ML systems: model versions trained on the end of a dataset chain of depth_k nodes (derived-from);
        # the image of one of the system's releases contains... is built from the model version.
        self.model_versions: list[str] = []
        if ml and n_ml:
            chain_nodes = max(1, depth_k)
            per_version = chain_nodes + 1
            versions = max(len(ml), n_ml // per_version)
            images_of = defaultdict(list)
            for uri, sid, seen in self.by_kind["image"]:
                images_of[sid].append((uri, seen))
            for v in range(versions):
                s = ml[v % len(ml)]
                k = v // len(ml)
                seen = now - span + span * rng.random()
                chain = []
                for d in range(chain_nodes):
                    uri = f"dataset:s3://lake.example.org/{s.slug}/v{k}/stage{d}"
                    add("dataset", uri, f"{s.slug} stage {d} v{k}", s.pk, seen - timedelta(days=chain_nodes - d))
                    if chain:
                        edges.append((chain[-1], uri, "derived-from"))
                    chain.append(uri)
                mv = f"mlflow://{s.slug}-model/{k + 1}"
                add("model-version", mv, f"{s.slug} v{k + 1}", s.pk, seen)
                self.model_versions.append(mv)
                if depth_k >= 1:
                    edges.append((chain[-1], mv, "trained-on"))
                if images_of[s.pk]:
                    image_uri, _ = images_of[s.pk][k % len(images_of[s.pk])]
                    edges.append((mv, image_uri, "built-from"))
        self.deployments_env = deployments_env
        self.artifact_ids = artifacts_bulk_create(rows)
        self.artifact_seen = {r[1]: r[5] for r in rows}
        self.artifact_system = {r[1]: r[4] for r in rows}
        self.edges = edges
        self.counts.artifacts = len(rows)
        self.counts.artifacts_by_kind = {k: len(v) for k, v in self.by_kind.items()}
        self.say(f"  {len(rows):,} artifacts, {len(edges):,} edges planned")
        self.lap("lineage graph (artifacts)")

    # ---- receipts, evidence, edges

    def _bodies(self) -> dict[tuple[str, str], tuple[str, int]]:
        """One small stored raw body per (kind, verdict): receipts name real blobs (packs stream them)."""
        from apps.ingest.blobs import blob_store

        out = {}
        for group in EVIDENCE_BY_ARTIFACT.values():
            for kind, _w, _p, fmt in group:
                for verdict in ("pass", "fail", "info"):
                    body = json.dumps({"generated": True, "kind": kind, "format": fmt, "verdict": verdict}).encode()
                    out[(kind, verdict)] = (blob_store(body), len(body))
        return out

    def evidence(self) -> None:
        from apps.evidence.services import BulkEvidence, evidence_bulk_record

        spec, rng, now = self.spec, self.rng, self.now
        bodies = self._bodies()
        ids = self.artifact_ids
        # The evidence that states each edge comes first: one per (target, stating kind).
        mandatory: dict[tuple[str, str], None] = {}
        for _src, target, relation in self.edges:
            mandatory[(target, STATED_BY[relation])] = None
        plan: list[tuple[str | None, int | None, str, bool]] = []  # (artifact uri, system id, kind, states edges)
        for target, kind in mandatory:
            plan.append((target, self.artifact_system[target], kind, True))
        stated: dict[tuple[str, str], int] = defaultdict(int)  # edges each stating item states
        for _src, target, relation in self.edges:
            stated[(target, STATED_BY[relation])] += 1
        remaining = spec.evidence - len(plan)
        if remaining < 0:
            raise GenerationRefused(
                f"{spec.evidence} evidence items cannot state the {len(plan)} lineage facts of this graph: "
                "give more evidence or fewer lineage nodes"
            )
        # The rest: a kind group by weight, then an artifact of that kind, newer ones more often.
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
        fmt_of = {k: (p, f) for g in EVIDENCE_BY_ARTIFACT.values() for k, _w, p, f in g}
        stating: dict[tuple[str, str], int] = {}
        by_kind: dict[str, int] = defaultdict(int)
        verdicts: dict[str, int] = defaultdict(int)
        self.evidence_of: dict[str, list[int]] = defaultdict(list)  # artifact uri -> evidence ids (some)
        receipts = 0
        for start in range(0, len(plan), CHUNK):
            # Sorted by system and kind so that neighbours can share a receipt (JSON Lines, webhooks);
            # the stating items come first within the plan, so they stay in the first chunks.
            chunk = sorted(plan[start : start + CHUNK], key=lambda p: (p[1], p[2]))
            plan[start : start + CHUNK] = chunk
            items_meta = []
            for uri, sid, kind, states in chunk:
                pass_share, fmt = fmt_of[kind]
                health = self.health.get(sid, 0.8)
                if pass_share is None:
                    verdict = "info"
                else:
                    verdict = "pass" if rng.random() < pass_share * (0.6 + 0.4 * health) / 0.95 else "fail"
                seen = self.artifact_seen[uri] if uri else now - timedelta(days=365) * rng.random() ** 0.5
                effective = min(now, seen + timedelta(minutes=rng.randint(1, 60 * 24 * 3)))
                items_meta.append((uri, sid, kind, fmt, verdict, effective, states))
            with transaction.atomic():
                receipt_ids, receipt_rows = self._receipts(items_meta, bodies)
                receipts += len(receipt_ids)
                items = []
                for (uri, sid, kind, fmt, verdict, effective, states), (rid, ordinal, sha, received) in zip(
                    items_meta, receipt_rows, strict=True
                ):
                    n_new = stated[(uri, kind)] if states else 0
                    items.append(
                        BulkEvidence(
                            receipt_id=rid,
                            receipt_sha256=sha,
                            ordinal=ordinal,
                            source_id=self.sources[sid].pk,
                            system_id=sid,
                            subject_id=ids[uri] if uri else None,
                            subject_uri=uri or "",
                            kind=kind,
                            format=fmt,
                            title=f"{kind} {('of ' + uri.rsplit('/', 1)[-1][:60]) if uri else 'of the system'}",
                            verdict=verdict,
                            summary=_summary(kind, verdict, rng),
                            received_at=received,
                            effective_at=effective,
                            new_edges=n_new,
                        )
                    )
                new_ids = evidence_bulk_record(items)
            for (uri, _sid, kind, _fmt, verdict, _eff, states), pk in zip(items_meta, new_ids, strict=True):
                by_kind[kind] += 1
                verdicts[verdict] += 1
                if states:
                    stating[(uri, kind)] = pk
                if uri and len(self.evidence_of[uri]) < 4:
                    self.evidence_of[uri].append(pk)
            self.say(f"  evidence {min(start + CHUNK, len(plan)):,}/{len(plan):,}")
        self.counts.receipts = receipts
        self.counts.evidence = len(plan)
        self.counts.evidence_by_kind = dict(by_kind)
        self.counts.verdicts = dict(verdicts)
        self.lap("receipts and evidence (COPY)")
        from apps.evidence.services import lineage_edges_bulk_record

        edge_rows = []
        for src, target, relation in self.edges:
            ev = stating[(target, STATED_BY[relation])]
            edge_rows.append((ids[src], ids[target], relation, ev, self.artifact_seen[target]))
        with transaction.atomic():
            self.counts.edges = lineage_edges_bulk_record(edge_rows)
        self.lap("lineage edges")

    def _receipts(self, items_meta, bodies) -> tuple[list[int], list[tuple[int, int, str, datetime]]]:
        """Receipts for a chunk of evidence (1-5 items each, as JSON Lines uploads and webhooks give),
        COPYed with their `receipt.accepted` ledger entries. Returns ids and per item (receipt, ordinal, sha, at)."""
        from apps.ledger.services import ledger_record_many

        rng = self.rng
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

    # ---- results, exceptions

    def results(self) -> None:
        """Control results of the current rules on releases, deployments, model versions and systems."""
        from apps.exceptions.models import ExceptionRequest
        from apps.policy.models import Control, ControlResult, Framework, RuleVersion

        rng, now = self.rng, self.now
        versions = list(RuleVersion.objects.filter(current_of__isnull=False).select_related("rule"))
        shipped = Control.objects.filter(framework__origin=Framework.Origin.SHIPPED)  # ids repeat across imports
        control_pk = dict(shipped.values_list("control_id", "pk"))
        sys_by_pk = {s.pk: s for s in self.systems}

        def selects(v, system, kind, env) -> bool:
            sel = v.selector or {}
            if sel.get("artifact_kinds") and kind not in sel["artifact_kinds"]:
                return False
            if not sel.get("artifact_kinds") and kind != "system":
                return False
            if sel.get("tiers") and system.risk_tier not in sel["tiers"]:
                return False
            if sel.get("system_kinds") and system.kind not in sel["system_kinds"]:
                return False
            if sel.get("data_classes") and not set(sel["data_classes"]) & set(system.data_classes):
                return False
            if sel.get("frameworks") and not set(sel["frameworks"]) & set(system.frameworks):
                return False
            return not (sel.get("environments") and env not in sel["environments"])

        # Subjects the demo's real evaluation judged already keep their results.
        judged = set(ControlResult.objects.values_list("system_id", "artifact_id").distinct())
        subjects = []  # (artifact uri | None, system, kind, env, first_seen)
        for kind in ("release", "deployment", "model-version"):
            for uri, sid, seen in self.by_kind.get(kind, []):
                if (sid, self.artifact_ids[uri]) not in judged:
                    subjects.append((uri, sys_by_pk[sid], kind, self.deployments_env.get(uri, ""), seen))
        for s in self.systems:
            if (s.pk, None) not in judged:
                subjects.append((None, s, "system", "", now - timedelta(days=300)))
        # result rows: (control pk, version, system, artifact uri, status, at, evidence ids)
        planned = []
        gate_blocked: dict[str, bool] = {}
        worst: dict[str, str] = {}
        order = {"fail": 0, "missing": 1, "excepted": 2, "pass": 3}
        for uri, system, kind, env, seen in subjects:
            health = self.health[system.pk]
            for v in versions:
                if not selects(v, system, kind, env):
                    continue
                x = rng.random()
                status = "pass" if x < health else ("fail" if x < health + (1 - health) * 0.55 else "missing")
                at = min(now, seen + timedelta(hours=rng.randint(1, 48)))
                ev = self.evidence_of.get(uri, [])[:2] if uri and status != "missing" else []
                for cid in v.controls:
                    if cid in control_pk:
                        planned.append([control_pk[cid], v, system, uri, status, at, ev])
                if uri:
                    if status != "pass" and v.mode == "gate":
                        gate_blocked[uri] = True
                    if order[status] < order.get(worst.get(uri, "pass"), 3):
                        worst[uri] = status
                    else:
                        worst.setdefault(uri, status)
        self.lap("results planned")
        # Exceptions on failing system-wide or release results; approved unexpired ones cover them.
        failing = [r for r in planned if r[4] in ("fail", "missing")]
        rng.shuffle(failing)
        created = self._exceptions(failing)
        covering = {
            (e.control_id, e.system_id): e.pk
            for e in created
            if e.status == ExceptionRequest.Status.APPROVED and e.expires_at > now
        }
        for r in planned:
            exc = covering.get((r[0], r[2].pk))
            if exc and r[4] in ("fail", "missing"):
                r[4] = "excepted"
                r.append(exc)
            else:
                r.append(None)
        self._write_results(planned, subjects, gate_blocked, worst)

    def _exceptions(self, failing) -> list:
        from apps.accounts.models import User
        from apps.exceptions.services import BulkException, exception_bulk_create
        from apps.exceptions.tiers import Slot, tier_policy
        from apps.policy.models import Control

        rng, now = self.rng, self.now
        controls = Control.objects.in_bulk({r[0] for r in failing})
        policy = tier_policy()
        executives = list(User.objects.filter(groups__name="exception_executive"))
        items, seen_pairs = [], set()
        for control_pk, _v, system, _uri, _status, _at, ev in failing:
            if len(items) >= self.spec.exceptions:
                break
            if (control_pk, system.pk) in seen_pairs:
                continue
            seen_pairs.add((control_pk, system.pk))
            status = _pick(rng, EXCEPTION_STATES)
            likelihood, impact = rng.randint(1, 5), rng.randint(1, 5)
            tier = policy.tier_for(likelihood, impact)
            created = now - timedelta(days=rng.uniform(1, 300))
            engineers = list(system.engineering_owners.all())
            requester = rng.choice(engineers) if engineers else self.admin
            decided = created + timedelta(hours=rng.uniform(2, 24 * 10))
            if status == "approved":
                expires = now + timedelta(days=rng.uniform(1, 80))
            elif status == "expired":
                expires = min(now - timedelta(hours=1), decided + timedelta(days=rng.uniform(5, 90)))
            else:
                expires = max(now + timedelta(days=2), created + timedelta(days=rng.uniform(10, 90)))
            if status == "expired" and expires <= decided:
                decided = expires - timedelta(hours=1)
            decisions = []
            if status in ("approved", "expired", "revoked", "rejected"):
                chain = list(policy.rule(tier).chain)
                used = {requester.pk}
                for n, slot in enumerate(chain):
                    if slot == Slot.SYSTEM_RISK_OWNER:
                        pool = list(system.risk_owners.all())
                    elif slot == Slot.COMPLIANCE_OFFICER:
                        pool = self.compliance
                    else:
                        pool = executives or self.compliance
                    pool = [p for p in pool if p.pk not in used]
                    if not pool:
                        break
                    who = rng.choice(pool)
                    used.add(who.pk)
                    last = n == len(chain) - 1
                    decision = "reject" if status == "rejected" and last else "approve"
                    decisions.append((who, slot, decision, decided - timedelta(hours=(len(chain) - n) * 3)))
                if not decisions:
                    status = "pending"
            items.append(
                BulkException(
                    control=controls[control_pk],
                    system=system,
                    requested_by=requester,
                    justification="Remediation is planned for the next release train; the residual risk is accepted "
                    "until then because the affected path is internal only.",
                    compensating_controls="Weekly manual review of access logs by the security team and alerting on "
                    "anomalous reads.",
                    likelihood=likelihood,
                    impact=impact,
                    expires_at=expires,
                    status=status,
                    created_at=created,
                    evidence_ids=ev,
                    decisions=decisions,
                    revoked_by=self.compliance[0] if status == "revoked" else None,
                    revoke_reason="Compensating control no longer in place." if status == "revoked" else "",
                    ended_at=(
                        now - timedelta(hours=1)
                        if status == "revoked"
                        else expires
                        if status == "expired"
                        else decided
                        if status == "rejected"
                        else None
                    ),
                )
            )
        made = exception_bulk_create(items, actor="system:generate_scale") if items else []
        tally: dict[str, int] = defaultdict(int)
        for e in made:
            tally[e.status] += 1
        self.counts.exceptions_by_status = dict(tally)
        self.lap("exceptions (exception_bulk_create)")
        return made

    def _write_results(self, planned, subjects, gate_blocked, worst) -> None:
        from apps.ledger.services import ledger_record_many

        rng, ids = self.rng, self.artifact_ids
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('policy_controlresult', 'id')) FROM generate_series(1, %s)",
                [len(planned)],
            )
            rids = [r[0] for r in cursor.fetchall()]
            changes, entries = [], []
            raw = cursor.cursor
            with raw.copy(
                "COPY policy_controlresult (id, control_id, rule_id, rule_version_id, system_id, "
                "artifact_id, status, reason, message, evidence_ids, exception_id, evaluated_at) FROM STDIN"
            ) as copy:
                for rid, (control_pk, v, system, uri, status, at, ev, exc) in zip(rids, planned, strict=True):
                    reason = _reason(v.rule.key, status)
                    aid = ids[uri] if uri else None
                    # No plain-language message: pages fall back to the reason (a pass has none either way).
                    copy.write_row((rid, control_pk, v.rule_id, v.pk, system.pk, aid, status, reason, "", ev, exc, at))
                    history = []
                    if rng.random() < 0.25:  # it changed once: a fix or a regression, some days later
                        before = "fail" if status in ("pass", "excepted") else "pass"
                        history.append((before, "", at - timedelta(days=rng.uniform(1, 40))))
                    history.append((status, history[0][0] if history else "", at))
                    for st, prev, when in history:
                        changes.append(
                            (rid, control_pk, v.rule_id, v.pk, system.pk, aid, st, prev, reason, "", ev, exc, when)
                        )
                        entries.append(
                            (
                                "system:policy_evaluate",
                                "control_result.changed",
                                ("policy.controlresult", rid),
                                {
                                    "control": control_pk,
                                    "rule": v.rule.key,
                                    "rule_version": v.version,
                                    "subject": uri or "",
                                    "system": system.pk,
                                    "from": prev,
                                    "to": st,
                                    "reason": reason,
                                    "evidence": [str(e) for e in ev],
                                    "exception": exc,
                                },
                            )
                        )
            with raw.copy(
                "COPY policy_controlresultchange (result_id, control_id, rule_id, rule_version_id, "
                "system_id, artifact_id, status, previous_status, reason, message, evidence_ids, exception_id, "
                "changed_at) FROM STDIN"
            ) as copy:
                for c in changes:
                    copy.write_row(c)
            with raw.copy(
                "COPY policy_evaluatedsubject (artifact_id, system_id, kind, environment, "
                "provenance_complete, worst_status, gate_blocked, first_seen, evaluated_at) FROM STDIN"
            ) as copy:
                for uri, system, kind, env, seen in subjects:
                    if uri is None:
                        continue
                    copy.write_row(
                        (
                            ids[uri],
                            system.pk,
                            kind,
                            env,
                            rng.random() < 0.85,
                            worst.get(uri, "pass"),
                            gate_blocked.get(uri, False),
                            seen,
                            self.now,
                        )
                    )
            ledger_record_many(entries)
        self.counts.results = len(planned)
        self.counts.result_changes = len(changes)
        self.lap("control results, history and subjects (COPY)")

    # ---- rollups, ledger

    def rollups(self) -> None:
        from apps.exceptions.services import exception_metrics_snapshot
        from apps.policy.services import coverage_snapshot

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        today = timezone.localdate()
        written = coverage_snapshot(day=today)
        for back in range(1, self.spec.history_days):
            written += coverage_snapshot(day=today - timedelta(days=back))
        exception_metrics_snapshot()
        self.counts.coverage_rows = written
        self.lap(f"rollups ({self.spec.history_days} days, coverage_snapshot)")

    def ledger(self) -> None:
        from apps.ledger.models import LedgerEntry
        from apps.ledger.services import ledger_checkpoint, ledger_integrate_all

        if self.spec.ledger:
            ledger_integrate_all()
            ledger_checkpoint()
        if not connection.in_atomic_block:
            # The pending queue just took millions of inserts and deletes: reclaim it now rather than
            # leave the next scans of the (normally tiny) table walking dead rows until autovacuum.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE ledger_pending")
                cursor.execute("ANALYZE")
        self.counts.ledger_entries = LedgerEntry.objects.count()
        self.lap("ledger sequenced and checkpointed")


def _summary(kind: str, verdict: str, rng: random.Random) -> dict:
    failed = verdict == "fail"
    if kind == "test-report":
        tests = rng.randint(20, 2000)
        return {"tests": tests, "failed": rng.randint(1, 12) if failed else 0, "skipped": rng.randint(0, 5)}
    if kind == "sast-scan":
        return {
            "results": rng.randint(0, 40),
            "high_severity": rng.randint(1, 4) if failed else 0,
            "error_level": rng.randint(0, 3) if failed else 0,
        }
    if kind == "sbom":
        return {"components": int(rng.paretovariate(1.2) * 40)}
    if kind in ("metrics", "fairness", "drift"):
        return {"auc": round(rng.uniform(0.7, 0.95), 3), "psi": round(rng.uniform(0, 0.4 if failed else 0.1), 3)}
    return {"generated": True}


def _reason(rule_key: str, status: str) -> str:
    return {
        "pass": f"{rule_key}: satisfied",
        "fail": f"{rule_key}: the evidence does not satisfy the rule",
        "missing": f"missing evidence for {rule_key}",
        "excepted": f"{rule_key}: covered by an exception",
    }[status]


def already_generated() -> bool:
    from apps.ingest.models import Source

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
    run.evidence()
    run.results()
    run.rollups()
    run.ledger()
    return run.counts


def fingerprint(counts: Counts) -> str:
    """A short digest of what was generated (for logs)."""
    return hashlib.sha256(json.dumps(counts.__dict__, sort_keys=True, default=str).encode()).hexdigest()[:12]
