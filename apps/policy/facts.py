"""The fact builder: what the rules see about a subject, read from evidence and lineage in SQL.

Follows docs/policy-fact-model.md. Facts are built in batches (one set of queries for
many subjects), because evaluation runs over every subject nightly:

1. One recursive CTE walks lineage upstream from every subject of the batch at once
   (evidence_lineageedge, the relations in INHERIT_RELATIONS, at most MAX_DEPTH hops,
   no cycles), and picks, per subject and evidence kind, the nearest then newest
   evidence: the subject's own evidence wins over inherited evidence, newer over older.
2. One query lists the upstream artifacts (kind, uri, depth, builders seen, whether
   build provenance is recorded) for the lineage facts.
3. One query finds the production model version of each model system (the baseline).

No Python loop walks lineage. `as_of` limits evidence to what was effective by then
(historical evaluation); `now` is the evaluation time the rules see.

Every query counts only evidence whose source may speak for the subject's system
(apps.ingest.binding.counted_sql: bound to it, or unbound and allowed there by an admin),
and `age_days` runs from the earlier of the effective and received time (issue 17).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import connection

from apps.evidence.models import Artifact
from apps.ingest.binding import counted_sql
from apps.inventory.models import System
from apps.policy.models import SystemPolicy

# Relations along which a subject inherits evidence and finds its upstream: a deployment sees
# its image's SBOM and its commit's tests. depends-on (SBOM dependency graphs), contains and
# describes are not inheritance: a dependency's SBOM is not evidence about its dependant.
INHERIT_RELATIONS = [
    "built-from",
    "deployed-from",
    "released-from",
    "trained-on",
    "derived-from",
    "produced-by",
    "generated-by",
    "registered-from",
]
MAX_DEPTH = 6
# Artifact kinds that are judged one by one (each gets its own results).
SUBJECT_KINDS = ("commit", "image", "package", "model-version", "release", "deployment")
BUILD_ARTIFACT_KINDS = ("image", "package", "model-version", "file")
PROD_WORDS = {"prod", "production", "prd", "live"}
STAGING_WORDS = {"staging", "stage", "stg", "preprod", "pre-production", "uat"}
DEV_WORDS = {"dev", "development", "test", "qa", "sandbox"}

# Evidence counts for a subject only when its source may speak for the subject's system (issue 17):
# bound to it, or bound to none and allowed there by an admin. Inherited evidence included.
_COUNTED = counted_sql("ev.source_id", "n.system_id")

_UPSTREAM_CTE = """
WITH RECURSIVE up(subject_id, system_id, artifact_id, depth, path) AS (
    SELECT s, sys, s, 0, ARRAY[s] FROM unnest(%(ids)s::bigint[], %(systems)s::bigint[]) AS t(s, sys)
  UNION ALL
    SELECT up.subject_id, up.system_id, e.source_id, up.depth + 1, up.path || e.source_id
    FROM up JOIN evidence_lineageedge e ON e.target_id = up.artifact_id
    WHERE up.depth < %(max_depth)s AND e.relation = ANY(%(relations)s) AND e.source_id <> ALL(up.path)
), near AS (
    SELECT subject_id, system_id, artifact_id, min(depth) AS depth FROM up GROUP BY subject_id, system_id, artifact_id
)
"""

# Evidence that a later parse of the same receipt superseded is not evidence any more.
_CURRENT_GENERATION = (
    "NOT EXISTS (SELECT 1 FROM evidence_evidence newer "
    "WHERE newer.receipt_id = ev.receipt_id AND newer.generation > ev.generation)"
)

_LATEST_EVIDENCE_SQL = (
    _UPSTREAM_CTE
    + """
SELECT DISTINCT ON (n.subject_id, ev.kind)
       n.subject_id, ev.id, ev.kind, ev.title, ev.verdict, ev.verdict_reason, ev.effective_at, ev.summary,
       a.uri, n.depth, ev.received_at
FROM near n
JOIN evidence_evidencesubject es ON es.artifact_id = n.artifact_id
JOIN evidence_evidence ev ON ev.id = es.evidence_id
JOIN evidence_artifact a ON a.id = n.artifact_id
WHERE ev.effective_at <= %(as_of)s AND """
    + _COUNTED
    + " AND "
    + _CURRENT_GENERATION
    + """
ORDER BY n.subject_id, ev.kind, n.depth, ev.effective_at DESC, ev.id DESC
"""
)

_UPSTREAM_SQL = (
    _UPSTREAM_CTE  # noqa: S608 - constant SQL fragments; every value is a bound parameter
    + """
SELECT n.subject_id, n.artifact_id, n.depth, a.kind, a.uri,
       EXISTS (SELECT 1 FROM evidence_evidencesubject es JOIN evidence_evidence ev ON ev.id = es.evidence_id
               WHERE es.artifact_id = n.artifact_id AND ev.effective_at <= %(as_of)s AND COUNTED) AS evidenced,
       ARRAY(SELECT DISTINCT ev.summary->>'builder_id' FROM evidence_evidencesubject es
             JOIN evidence_evidence ev ON ev.id = es.evidence_id
             WHERE es.artifact_id = n.artifact_id AND ev.kind = 'provenance' AND ev.effective_at <= %(as_of)s
               AND coalesce(ev.summary->>'builder_id', '') <> ''
               AND ev.summary->>'verified' = 'true' AND COUNTED) AS builders,
       EXISTS (SELECT 1 FROM evidence_evidencesubject es JOIN evidence_evidence ev ON ev.id = es.evidence_id
               WHERE es.artifact_id = n.artifact_id AND ev.kind IN ('provenance', 'pipeline-run', 'job')
                 AND ev.effective_at <= %(as_of)s AND COUNTED) AS built
FROM near n JOIN evidence_artifact a ON a.id = n.artifact_id
ORDER BY n.subject_id, n.depth, n.artifact_id
""".replace("COUNTED", _COUNTED)
)

# Artifacts built from a commit, with recorded provenance: the "build" link of a chain whose
# deployment names only the commit (a GitHub deployment says which sha, not which image).
# (commit, system) pairs: the provenance must count for the system of the subject asking.
_BUILT_FROM_COMMITS_SQL = """
SELECT DISTINCT n.artifact_id, n.system_id
FROM unnest(%(commits)s::bigint[], %(systems)s::bigint[]) AS n(artifact_id, system_id)
JOIN evidence_lineageedge e ON e.source_id = n.artifact_id
JOIN evidence_artifact t ON t.id = e.target_id
WHERE e.relation = 'built-from' AND t.kind = ANY(%(kinds)s)
  AND EXISTS (SELECT 1 FROM evidence_evidencesubject es JOIN evidence_evidence ev ON ev.id = es.evidence_id
              WHERE es.artifact_id = t.id AND ev.kind = 'provenance' AND ev.effective_at <= %(as_of)s AND COUNTED)
""".replace("COUNTED", _COUNTED)

# The production model version of each model system: the model version whose latest deployment
# evidence named a production environment most recently.
_BASELINE_SQL = """
SELECT DISTINCT ON (a.system_id) a.system_id, a.id, a.uri, a.name
FROM evidence_artifact a
JOIN evidence_evidencesubject es ON es.artifact_id = a.id
JOIN evidence_evidence ev ON ev.id = es.evidence_id
WHERE a.kind = 'model-version' AND a.system_id = ANY(%(systems)s::bigint[]) AND ev.kind = 'deployment'
  AND lower(coalesce(ev.summary->>'environment', '')) = ANY(%(prod)s) AND ev.effective_at <= %(as_of)s
  AND COUNTED
ORDER BY a.system_id, ev.effective_at DESC, ev.id DESC
""".replace("COUNTED", counted_sql("ev.source_id", "a.system_id"))

_BASELINE_METRICS_SQL = """
SELECT es.artifact_id, ev.id, ev.kind, ev.summary
FROM evidence_evidencesubject es JOIN evidence_evidence ev ON ev.id = es.evidence_id
JOIN evidence_artifact a ON a.id = es.artifact_id
WHERE es.artifact_id = ANY(%(ids)s::bigint[]) AND ev.kind IN ('metrics', 'fairness', 'model-card')
  AND ev.effective_at <= %(as_of)s AND COUNTED
ORDER BY es.artifact_id, ev.effective_at DESC, ev.id DESC
""".replace("COUNTED", counted_sql("ev.source_id", "a.system_id"))

# Latest evidence of each kind recorded for a system (system-scope rules: DPIA, infrastructure...).
_SYSTEM_EVIDENCE_SQL = (
    """
SELECT DISTINCT ON (ev.system_id, ev.kind)
       ev.system_id, ev.id, ev.kind, ev.title, ev.verdict, ev.verdict_reason, ev.effective_at, ev.summary,
       coalesce(a.uri, ''), ev.received_at
FROM evidence_evidence ev LEFT JOIN evidence_artifact a ON a.id = ev.subject_id
WHERE ev.system_id = ANY(%(systems)s::bigint[]) AND ev.effective_at <= %(as_of)s AND """
    + counted_sql("ev.source_id", "ev.system_id")
    + " AND "
    + _CURRENT_GENERATION
    + """
ORDER BY ev.system_id, ev.kind, ev.effective_at DESC, ev.id DESC
"""
)


def normalize_environment(value: str | None) -> str:
    """dev, staging or prod from what pipelines call them; other names lowercased; "" for none."""
    word = (value or "").strip().lower()
    if not word:
        return ""
    if word in PROD_WORDS or word.startswith("prod"):
        return "prod"
    if word in STAGING_WORDS or word.startswith("stag"):
        return "staging"
    if word in DEV_WORDS or word.startswith("dev"):
        return "dev"
    return word[:20]


def _json(value):
    """jsonb from a raw cursor: Django's psycopg setup hands it over as text."""
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError:
            return {}
    return value


def _evidence_fact(
    ev_id, kind, title, verdict, reason, effective_at, summary, uri, inherited, *, received_at, now
) -> dict:
    summary = _json(summary)
    # Freshness counts from the EARLIER of the effective time (the sender's word) and the time the
    # portal received it: a date in the future never keeps evidence fresh longer (issue 17).
    fresh_from = min(effective_at, received_at) if received_at else effective_at
    return {
        "id": str(ev_id),
        "kind": kind,
        "title": title,
        "verdict": verdict,
        "verdict_reason": reason,
        "effective_at": effective_at,
        "received_at": received_at,
        "age_days": round((now - fresh_from).total_seconds() / 86400, 4),
        "subject_uri": uri,
        "inherited": inherited,
        "summary": summary if isinstance(summary, dict) else {},
    }


def system_facts(system: System, *, environment: str = "", settings_row=None) -> dict:
    """The `system` map of the fact model."""
    allowed = list(settings_row.allowed_regions) if settings_row and settings_row.allowed_regions else []
    if not allowed:
        # No explicit list: the regions the system's environments are declared in.
        allowed = sorted({e.region.strip().lower() for e in system.environments.all() if e.region.strip()})
    return {
        "slug": system.slug,
        "name": system.name,
        "kind": system.kind,
        "risk_tier": system.risk_tier,
        "data_classes": list(system.data_classes or []),
        "frameworks": list(system.frameworks or []),
        "environment": environment,
        "allowed_regions": allowed,
        "log_retention_days": settings_row.log_retention_days if settings_row else 365,
    }


def _systems(system_ids: Iterable[int]) -> dict[int, System]:
    systems = System.objects.filter(pk__in=set(system_ids)).prefetch_related("environments")
    out = {s.pk: s for s in systems}

    for row in SystemPolicy.objects.filter(system_id__in=out):
        out[row.system_id]._policy_settings = row
    return out


def _baselines(system_ids: list[int], as_of: datetime) -> dict[int, dict]:
    """system id -> baseline map of its production model version."""
    if not system_ids:
        return {}
    prod = sorted(PROD_WORDS)
    with connection.cursor() as cursor:
        cursor.execute(_BASELINE_SQL, {"systems": system_ids, "prod": prod, "as_of": as_of})
        rows = cursor.fetchall()
        if not rows:
            return {}
        cursor.execute(_BASELINE_METRICS_SQL, {"ids": [r[1] for r in rows], "as_of": as_of})
        metric_rows = cursor.fetchall()
    by_artifact: dict[int, dict] = {}
    for artifact_id, ev_id, _kind, summary in metric_rows:
        entry = by_artifact.setdefault(artifact_id, {"evidence_id": str(ev_id), "metrics": {}, "fairness": {}})
        summary = _json(summary)
        summary = summary if isinstance(summary, dict) else {}
        # newest first: older reports only fill in metrics the newer ones lack
        for key in ("metrics", "fairness"):
            values = summary.get(key)
            if isinstance(values, dict):
                for name, value in values.items():
                    entry[key].setdefault(name, value)
    out = {}
    for system_id, artifact_id, uri, name in rows:
        found = by_artifact.get(artifact_id)
        if not found:
            continue  # a production model with no metrics is no baseline to compare with
        version = uri.rsplit("/", 1)[-1] if "/" in uri else (name or uri)
        out[system_id] = {"version": version, "subject_uri": uri, **found}
    return out


def _lineage(rows: list[tuple], subject_kind: str, subject_id: int, built_commits: set[int]) -> dict:
    """lineage facts from the subject's upstream rows (subject_id, artifact_id, depth, kind, uri, ...)."""
    builders: list[str] = []
    upstream_kinds: list[str] = []
    commit_uri = ""
    commit_ids: list[int] = []
    build_recorded = False
    for _sid, artifact_id, depth, kind, uri, _evidenced, row_builders, built in rows:
        for b in row_builders or []:
            if b and b not in builders:
                builders.append(b)
        if depth > 0 and kind not in upstream_kinds:
            upstream_kinds.append(kind)
        if kind == "commit":
            commit_ids.append(artifact_id)
            if not commit_uri:
                commit_uri = uri
        if built and (kind in BUILD_ARTIFACT_KINDS or depth == 0):
            build_recorded = True
    own_evidence = any(r[5] for r in rows if r[2] == 0)
    # commit, build, artifact and deployment all evidenced and linked (docs/policy-fact-model.md):
    # the build may be recorded on the artifact or on an artifact built from the same commit.
    built_from_commit = any(c in built_commits for c in commit_ids)
    has_artifact = (
        subject_kind in BUILD_ARTIFACT_KINDS
        or any(r[3] in BUILD_ARTIFACT_KINDS for r in rows if r[2] > 0)
        or built_from_commit
    )
    chain = (
        subject_kind != "commit"
        and own_evidence
        and bool(commit_ids)
        and (build_recorded or built_from_commit)
        and has_artifact
    )
    return {
        "has_provenance_chain": chain,
        "builders": builders,
        "upstream_kinds": upstream_kinds,
        "commit": commit_uri,
        "_commit_ids": commit_ids,
    }


def subject_facts_batch(artifacts: list[Artifact], *, now: datetime, as_of: datetime | None = None) -> dict[int, dict]:
    """Facts for each artifact (which must have a system), keyed by artifact id. A handful of queries."""
    as_of = as_of or now
    artifacts = [a for a in artifacts if a.system_id]
    if not artifacts:
        return {}
    ids = [a.pk for a in artifacts]
    system_of = {a.pk: a.system_id for a in artifacts}
    params = {
        "ids": ids,
        "systems": [system_of[pk] for pk in ids],
        "max_depth": MAX_DEPTH,
        "relations": INHERIT_RELATIONS,
        "as_of": as_of,
    }
    evidence: dict[int, dict] = defaultdict(dict)
    deployment_env: dict[int, str] = {}
    with connection.cursor() as cursor:
        cursor.execute(_LATEST_EVIDENCE_SQL, params)
        for row in cursor.fetchall():
            subject_id, ev_id, kind, _title, _verdict, _reason, _effective_at, summary, _uri, depth, received_at = row
            evidence[subject_id][kind] = _evidence_fact(*row[1:9], depth > 0, received_at=received_at, now=now)
            if kind == "deployment" and depth == 0:
                summary = _json(summary)
                if isinstance(summary, dict):
                    deployment_env[subject_id] = normalize_environment(summary.get("environment"))
        cursor.execute(_UPSTREAM_SQL, params)
        upstream: dict[int, list[tuple]] = defaultdict(list)
        for row in cursor.fetchall():
            upstream[row[0]].append(row)
        pairs = sorted({(r[1], system_of[sid]) for sid, rows in upstream.items() for r in rows if r[3] == "commit"})
        built_commits: set[tuple[int, int]] = set()
        if pairs:
            cursor.execute(
                _BUILT_FROM_COMMITS_SQL,
                {
                    "commits": [c for c, _ in pairs],
                    "systems": [s for _, s in pairs],
                    "kinds": list(BUILD_ARTIFACT_KINDS),
                    "as_of": as_of,
                },
            )
            built_commits = {(r[0], r[1]) for r in cursor.fetchall()}
    systems = _systems(a.system_id for a in artifacts)
    model_systems = [sid for sid, s in systems.items() if s.kind == System.Kind.ML_MODEL]
    baselines = _baselines(model_systems, as_of)
    out = {}
    for artifact in artifacts:
        system = systems[artifact.system_id]
        built = {c for c, system_id in built_commits if system_id == artifact.system_id}
        lineage = _lineage(upstream.get(artifact.pk, []), artifact.kind, artifact.pk, built)
        lineage.pop("_commit_ids")
        baseline = baselines.get(artifact.system_id, {}) if artifact.kind == "model-version" else {}
        out[artifact.pk] = {
            "subject": {"kind": artifact.kind, "uri": artifact.uri, "digest": artifact.digest, "name": artifact.name},
            "system": system_facts(
                system,
                environment=deployment_env.get(artifact.pk, ""),
                settings_row=getattr(system, "_policy_settings", None),
            ),
            "evidence": dict(evidence.get(artifact.pk, {})),
            "lineage": lineage,
            "approvals": [],  # sign-offs arrive with the exceptions and approvals issues
            "baseline": baseline,
            "now": now,
        }
    return out


_SUBJECT_CHAIN_SQL = _UPSTREAM_CTE + "SELECT artifact_id, depth FROM near ORDER BY depth, artifact_id"  # noqa: S608


def subject_chain(artifact: Artifact) -> dict[int, int]:
    """The artifacts whose evidence a subject's facts draw on: itself (depth 0) and what it inherits
    from along lineage (INHERIT_RELATIONS, at most MAX_DEPTH hops), as {artifact id: depth}."""
    params = {
        "ids": [artifact.pk],
        "systems": [artifact.system_id],
        "max_depth": MAX_DEPTH,
        "relations": INHERIT_RELATIONS,
    }
    with connection.cursor() as cursor:
        cursor.execute(_SUBJECT_CHAIN_SQL, params)
        return dict(cursor.fetchall())


_SUBJECT_CHAINS_SQL = _UPSTREAM_CTE + "SELECT subject_id, artifact_id, depth FROM near"  # noqa: S608


def subject_chains(artifacts: list[Artifact]) -> dict[int, dict[int, int]]:
    """subject_chain() of several artifacts in one query: {subject id: {artifact id: depth}}."""
    if not artifacts:
        return {}
    params = {
        "ids": [a.pk for a in artifacts],
        "systems": [a.system_id for a in artifacts],
        "max_depth": MAX_DEPTH,
        "relations": INHERIT_RELATIONS,
    }
    chains: dict[int, dict[int, int]] = {a.pk: {} for a in artifacts}
    with connection.cursor() as cursor:
        cursor.execute(_SUBJECT_CHAINS_SQL, params)
        for subject_id, artifact_id, depth in cursor.fetchall():
            chains[subject_id][artifact_id] = depth
    return chains


def system_environment(system: System) -> str:
    """The environment a system-scope result speaks for: prod when the system runs in production."""
    names = {e.name for e in system.environments.all()}
    for name in ("prod", "staging", "dev"):
        if name in names:
            return name
    return ""


def system_scope_facts_batch(system_ids: list[int], *, now: datetime, as_of: datetime | None = None) -> dict[int, dict]:
    """Facts for system-scope rules: the system's latest evidence of each kind, whatever it is about."""
    as_of = as_of or now
    systems = _systems(system_ids)
    if not systems:
        return {}
    evidence: dict[int, dict] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(_SYSTEM_EVIDENCE_SQL, {"systems": list(systems), "as_of": as_of})
        for row in cursor.fetchall():
            system_id, kind, received_at = row[0], row[2], row[9]
            evidence[system_id][kind] = _evidence_fact(*row[1:9], False, received_at=received_at, now=now)
    model_systems = [sid for sid, s in systems.items() if s.kind == System.Kind.ML_MODEL]
    baselines = _baselines(model_systems, as_of)
    out = {}
    for system_id, system in systems.items():
        out[system_id] = {
            "subject": {"kind": "system", "uri": f"system:{system.slug}", "digest": "", "name": system.name},
            "system": system_facts(
                system,
                environment=system_environment(system),
                settings_row=getattr(system, "_policy_settings", None),
            ),
            "evidence": dict(evidence.get(system_id, {})),
            "lineage": {},
            "approvals": [],
            "baseline": baselines.get(system_id, {}),
            "now": now,
        }
    return out
