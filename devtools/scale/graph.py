"""Scale generator, step 1: people, systems, sources and the lineage graph."""

import itertools
from collections import defaultdict
from datetime import datetime, timedelta

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.accounts.services import user_create
from apps.evidence.services import artifacts_bulk_create
from apps.ingest.services import source_create
from apps.inventory.models import System
from apps.inventory.services import system_save
from devtools.scale.shapes import (
    DATA_CLASSES,
    DOMAINS,
    KINDS,
    MARKER_SOURCE,
    NOUNS,
    TIERS,
    _hex,
    _pick,
)

SPAN = timedelta(days=365)  # the generated history: one year back from now


class GraphSteps:
    """Steps of the generator run (generator._Run) that write people, systems, sources and lineage."""

    # ---- people, systems, sources

    def people_and_systems(self) -> None:
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
        spec, rng = self.spec, self.rng
        systems = self.systems
        ml = [s for s in systems if s.kind == "ml_model"]
        # Node budget: per release a release, an image, a commit and 0-2 deployments; the rest is split
        # between extra commits (CI on branches), the shared package pool and the ML systems' chains.
        per_system_releases = self._releases_per_system()
        rows: list[tuple] = []  # (kind, uri, digest, name, system_id, first_seen)
        edges: list[tuple[str, str, str]] = []  # (source uri, target uri, relation)
        self.by_kind: dict[str, list[tuple[str, int, datetime]]] = defaultdict(list)  # kind -> (uri, system, seen)
        self.deployments_env: dict[str, str] = {}

        def add(kind, uri, name, system_id, seen, digest=""):
            rows.append((kind, uri, digest, name, system_id, seen))
            self.by_kind[kind].append((uri, system_id, seen))

        base = sum(per_system_releases.values()) * 3
        deploys = sum(self._release_chain(s, per_system_releases[s.pk], add, edges) for s in systems)
        remaining = max(0, spec.lineage_nodes - base - deploys)
        n_ml = remaining * 3 // 10 if ml else 0
        n_packages = max(10, remaining * 3 // 10)
        n_commits = max(0, remaining - n_ml - n_packages)
        self._package_pool(n_packages, add, edges)
        cum = list(itertools.accumulate(self.activity[s.pk] for s in systems))
        for s in rng.choices(systems, cum_weights=cum, k=n_commits):
            sha = _hex(rng, 40)
            add(
                "commit",
                f"git+https://git.example.org/{s.slug}/{s.slug}@{sha}",
                sha[:12],
                s.pk,
                self.now - SPAN * rng.random() ** 0.7,
                sha,
            )
        self.model_versions: list[str] = []
        if ml and n_ml:
            self._ml_chains(ml, n_ml, add, edges)
        self.artifact_ids = artifacts_bulk_create(rows)
        self.artifact_seen = {r[1]: r[5] for r in rows}
        self.artifact_system = {r[1]: r[4] for r in rows}
        self.edges = edges
        self.counts.artifacts = len(rows)
        self.counts.artifacts_by_kind = {k: len(v) for k, v in self.by_kind.items()}
        self.say(f"  {len(rows):,} artifacts, {len(edges):,} edges planned")
        self.lap("lineage graph (artifacts)")

    def _releases_per_system(self) -> dict[int, int]:
        """Releases per system in proportion to its activity; rounding drift goes to the busiest."""
        systems, releases = self.systems, self.spec.releases
        total_w = sum(self.activity.values())
        per_system = {s.pk: max(1, round(releases * self.activity[s.pk] / total_w)) for s in systems}
        drift = releases - sum(per_system.values())
        busiest = max(systems, key=lambda s: self.activity[s.pk]).pk
        per_system[busiest] = max(1, per_system[busiest] + drift)
        return per_system

    def _release_chain(self, system, n: int, add, edges: list) -> int:
        """A system's `n` releases: commit -> image -> release -> staging/prod deployments; returns deployments."""
        rng, now, slug = self.rng, self.now, system.slug
        deploys = 0
        for i in range(n):
            seen = now - SPAN + SPAN * ((i + rng.random()) / n)
            sha = _hex(rng, 40)
            digest = _hex(rng, 64)
            commit = f"git+https://git.example.org/{slug}/{slug}@{sha}"
            image = f"oci://registry.example.org/{slug}@sha256:{digest}"
            release = f"release:https://git.example.org/{slug}@{1 + i // 100}.{(i // 10) % 10}.{i % 10}"
            add("commit", commit, sha[:12], system.pk, seen - timedelta(hours=2), sha)
            add("image", image, f"{slug}:{i}", system.pk, seen - timedelta(hours=1), f"sha256:{digest}")
            add("release", release, f"{slug} {release.rsplit('@', 1)[1]}", system.pk, seen)
            edges += [(commit, image, "built-from"), (image, release, "released-from")]
            for env, p in (("staging", 0.8), ("prod", 0.5)):
                if rng.random() < p:
                    uri = f"deployment:https://git.example.org/{slug}/{env}/{i}"
                    at = seen + timedelta(hours=3 if env == "staging" else 26)
                    add("deployment", uri, f"{slug} {env} #{i}", system.pk, at)
                    self.deployments_env[uri] = env
                    edges.append((release, uri, "deployed-from"))
                    deploys += 1
        return deploys

    def _package_pool(self, n_packages: int, add, edges: list) -> None:
        """The shared packages, and images depending on them: heavy-tailed fan-out, popular packages first."""
        rng = self.rng
        packages = []
        for i in range(n_packages):
            eco = ("pypi", "npm", "maven", "golang")[i % 4]
            uri = f"pkg:{eco}/lib-{i // 3}@{1 + i % 3}.{i % 7}.0"
            add("package", uri, f"lib-{i // 3}", None, self.now - SPAN)
            packages.append(uri)
        # most images take 5-20 packages, a few hundreds
        pop = list(itertools.accumulate(1 / (r + 1) for r in range(len(packages))))  # cumulative: O(log n) a draw
        for uri, _sid, _seen in self.by_kind["image"]:
            fan = min(len(packages), int(rng.paretovariate(1.6) * 6))
            for pkg in set(rng.choices(packages, cum_weights=pop, k=fan)):
                edges.append((pkg, uri, "depends-on"))

    def _ml_chains(self, ml: list, n_ml: int, add, edges: list) -> None:
        """ML systems: model versions trained on the end of a dataset chain (derived-from); an image of
        one of the system's releases is built from the model version."""
        rng = self.rng
        depth_k = self.spec.lineage_depth - 3  # dataset chain length behind a model version (3 hops above it)
        chain_nodes = max(1, depth_k)
        per_version = chain_nodes + 1
        versions = max(len(ml), n_ml // per_version)
        images_of = defaultdict(list)
        for uri, sid, seen in self.by_kind["image"]:
            images_of[sid].append((uri, seen))
        for v in range(versions):
            s = ml[v % len(ml)]
            k = v // len(ml)
            seen = self.now - SPAN + SPAN * rng.random()
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
