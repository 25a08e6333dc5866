# SQL here is assembled from our own identifiers (edge table or scoped subquery, column names);
# every value is a query parameter.
# ruff: noqa: S608
"""Lineage selectors: walks of the artifact graph done in PostgreSQL with recursive CTEs.

Edges run from upstream (`source`) to downstream (`target`). Relations, upstream -> downstream
(what the parsers write, and the older names they map onto):

| relation      | meaning                                                        | written by |
| ------------- | -------------------------------------------------------------- | ---------- |
| built-from    | commit/material -> what was built from it (image, run, model)  | in-toto, GitHub, MLflow, OCI labels |
| trained-on    | dataset -> the run or model trained on it                      | MLflow dataset inputs, DVC |
| evaluated-on  | dataset -> the run evaluated on it                             | MLflow (non-training contexts) |
| derived-from  | input -> output of a transformation (dataset, run, model)      | MLflow, OpenLineage, DVC |
| run-of        | job -> one run of it                                           | OpenLineage |
| part-of       | parent run -> the run it spawned (a DAG run -> its task's run) | OpenLineage (parent facet) |
| contains      | part -> the whole containing it (platform image -> index,      | OCI, CycloneDX, SPDX |
|               | package -> the SBOM's subject: the uploaded image or release)  |            |
| depends-on    | dependency -> dependent                                        | CycloneDX, SPDX |
| promoted-to   | model version -> the deployment an alias/stage makes of it     | MLflow |
| deployed-as   | image, release or commit -> the deployment running it          | OCI env tags, GitHub |
| describes     | SBOM document -> what it describes                             | SPDX |

Stored edges are evidence and never rewritten (but for a deployment edge's end, see Time below):
older relation names are mapped when read (`RELATION_ALIASES`: deployed-from -> deployed-as,
released-from -> built-from; released-from is what GitHub and GitLab write for commit or image ->
release, the release chain of chain.py).

Walk semantics. The recursive term joins edges on the frontier and keeps (artifact, depth)
pairs with UNION, so each artifact is expanded at most once per depth level; the depth
limit bounds the recursion, so a cycle ends there and the walk costs at most
nodes x depth rows. (A visited-path array or PostgreSQL's CYCLE clause would also stop
cycles, but it tracks every distinct path, and a DAG with diamonds — every SBOM — has
exponentially many.) An artifact's depth is its shortest distance from the root.

Scoping: walks follow only the edges whose evidence the user may see (`scope_evidence`:
for an auditor, each engagement's systems paired with its own observation window), between
artifacts the user may see (`visible_artifacts_q`); for users who see everything that is the
edge table itself.

Time (issue 20). An edge into a deployment (deployed-as, promoted-to) has a period, valid_from to
valid_to (apps.evidence.services.deployment_edges_record: the next deployment to the same place ends
the one before); every other edge has none and always holds. A query asked for a window (`as_of`:
an instant, or a whole day) walks only the edges valid in it, so a deployment is reached only while
it ran. Impact and production default to now; walks and paths, without `as_of`, show every edge
ever stated.

Production deployments: artifacts of kind deployment whose environment — the
second-to-last path segment of the identity (``deployment:<repo>/<env>/<id>``,
``deployment:mlflow/<model>/<alias>/<version>``, ``deployment:oci/<host>/<repo>/<tag>/<digest>``)
— is one of PRODUCTION_ENVIRONMENTS.
"""

from __future__ import annotations

import array
import bisect
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.accounts.scoping import is_scoped_auditor, scope_evidence, visible_system_ids
from apps.evidence.models import Artifact, Evidence, EvidenceSubject, LineageEdge

logger = logging.getLogger(__name__)

MAX_DEPTH = 50
DEFAULT_DEPTH = 5
PAGE_LIMIT = 5000
# A walk that pages on is kept (ordered ids and depths) for WALK_CACHE_SECONDS, keyed by root,
# direction, depth and the graph's version, so later pages slice it instead of walking again; a
# walk of more than WALK_CACHE_MAX_NODES is not kept (each page walks again).
WALK_CACHE_SECONDS = 300
WALK_CACHE_MAX_NODES = 500_000
# The API's forms of a walk page: "full" (nodes, and the edges reaching them as objects) or "compact"
# (each node with its upstream ids by relation, no edge objects: half the bytes); "auto" (the
# API's default) is compact for walks of more than COMPACT_ABOVE nodes, full for smaller ones: a
# short walk keeps the shape clients had, a walk of hundreds of nodes (the benchmark's depth-10
# walks reach ~900) is where the edge list costs (docs/BENCHMARKS.md).
FORMS = ("auto", "compact", "full")
# work_mem of the transaction of a statement that walks a whole graph (the NDJSON stream, the kept
# walk; walk_work_mem): the whole random bench walk (66,880 nodes, 248k edges into them) groups and
# sorts in ~40 MB, and the default 4 MB spills those to disk (docs/BENCHMARKS.md, "Lineage walk
# forms"). A first page stays one statement in autocommit: only the whole-graph one spilled.
WALK_WORK_MEM = "64MB"
COMPACT_ABOVE = 200
DIRECTIONS = ("upstream", "downstream")
PRODUCTION_ENVIRONMENTS = ("prod", "production", "live", "champion")
RELATIONS = {
    "built-from": "built from",
    "trained-on": "trained on",
    "evaluated-on": "evaluated on",
    "derived-from": "derived from",
    "run-of": "run of",
    "part-of": "part of",
    "contains": "contained in",
    "depends-on": "dependency of",
    "promoted-to": "promoted to",
    "deployed-as": "deployed as",
    "describes": "describes",
}
RELATION_ALIASES = {"deployed-from": "deployed-as", "released-from": "built-from"}
# The environment segment of a deployment identity, as SQL (see the module docstring).
_ENV_SQL = "lower((regexp_match(a.uri, '/([^/]+)/[^/]+$'))[1])"


def canonical_relation(relation: str) -> str:
    return RELATION_ALIASES.get(relation, relation)


def deployment_environment(uri: str) -> str:
    """The environment segment of a deployment identity (Python twin of _ENV_SQL)."""
    match = re.search(r"/([^/]+)/[^/]+$", uri or "")
    return match.group(1).lower() if match else ""


# Named tuples rather than dataclasses: a walk page makes thousands of them, and a tuple is
# several times cheaper to build (and hashable, like the frozen dataclasses they replace).
class Node(NamedTuple):
    id: int
    kind: str
    uri: str
    name: str
    depth: int
    system_id: int | None = None

    @property
    def label(self) -> str:
        return self.name or self.uri


class Link(NamedTuple):
    source: int
    target: int
    relation: str


@dataclass
class Walk:
    """One page of a walk: nodes ordered by (depth, id), the edges reaching them, and the next cursor."""

    root: int
    direction: str
    depth: int
    nodes: list[Node] = field(default_factory=list)
    edges: list[Link] = field(default_factory=list)
    next_after: str = ""  # "depth:id" of the last node when more follow; "" at the end


class LineageQueryError(ValueError):
    """A lineage query was asked with values that cannot work (depth, direction, cursor)."""


# ---------------------------------------------------------------- time

Window = tuple[datetime, datetime]  # [start, end): edges valid at some moment in it


def now_window() -> Window:
    """The present instant as a window."""
    now = timezone.now()
    return now, now + timedelta(microseconds=1)


def as_of_window(raw: str) -> Window:
    """`as_of` as a window: a date (2026-03-02) is that whole UTC day, a date-time (ISO 8601, UTC
    when no offset is given) that instant."""
    raw = (raw or "").strip()
    if len(raw) == 10:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            day = None
        if day is not None:
            start = datetime.combine(day, time.min, tzinfo=UTC)
            return start, start + timedelta(days=1)
    try:
        moment = parse_datetime(raw.replace(" ", "T")) if raw else None
    except ValueError:
        moment = None
    if moment is None:
        raise LineageQueryError(
            f"as_of {raw[:40]!r} is neither a date (2026-03-02) nor an ISO 8601 date-time (2026-03-02T10:00:00Z)"
        )
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment, moment + timedelta(microseconds=1)


def valid_in(window: Window, prefix: str = "") -> Q:
    """Lineage edges valid at some moment of `window`: no period, or a period overlapping it (an
    empty period, a deployment that failed, never ran)."""
    start, end = window
    return (Q(**{f"{prefix}valid_from__isnull": True}) | Q(**{f"{prefix}valid_from__lt": end})) & (
        Q(**{f"{prefix}valid_to__isnull": True})
        | (Q(**{f"{prefix}valid_to__gt": start}) & Q(**{f"{prefix}valid_to__gt": F(f"{prefix}valid_from")}))
    )


def deployments_running(*, window: Window | None = None) -> QuerySet:
    """Deployment artifacts running at some moment of `window` (default: now): reached by an edge
    valid then, or by no edge at all (nothing says when it ran, so nothing says it stopped)."""
    window = window or now_window()
    into = LineageEdge.objects.filter(target=OuterRef("pk"))
    return Artifact.objects.filter(kind=Artifact.Kind.DEPLOYMENT).filter(
        Exists(into.filter(valid_in(window))) | ~Exists(into)
    )


def deployment_periods(ids: list[int], window: Window) -> dict[int, tuple[datetime | None, datetime | None]]:
    """For each deployment id: (valid_from, valid_to) of the latest-started edge into it valid in `window`."""
    periods: dict[int, tuple] = {}
    rows = LineageEdge.objects.filter(valid_in(window), target_id__in=ids, valid_from__isnull=False)
    rows = rows.order_by("target_id", "valid_from").values_list("target_id", "valid_from", "valid_to")
    for target, start, end in rows:
        periods[target] = (start, end)
    return periods


# ---------------------------------------------------------------- scoping


def visible_artifacts_q(user) -> Q | None:
    """Which artifacts a scoped auditor's walk may show (None: every artifact).

    An artifact of a system they may see, or one that evidence they may see is about (as on the
    artifact pages): an artifact of another system reached through an in-scope edge is not shown,
    nor walked through (issue 9: a walk never shows an auditor a node outside their scope)."""
    if not is_scoped_auditor(user):
        return None
    about = EvidenceSubject.objects.filter(
        artifact=OuterRef("pk"), evidence__in=scope_evidence(user, Evidence.objects.all()).values("pk")
    )
    return Q(system_id__in=visible_system_ids(user)) | Q(Exists(about))


def artifacts_visible_to(user, ids: list[int]) -> list[int]:
    """The ids among `ids` the user may see as lineage nodes (all of them for unscoped users)."""
    visible = visible_artifacts_q(user)
    if visible is None or not ids:
        return list(ids)
    return sorted(Artifact.objects.filter(visible, pk__in=ids).values_list("pk", flat=True))


def scope_lineage_edges(user, queryset: QuerySet) -> QuerySet:
    """Narrow lineage edges to those the user may follow (the one rule for walks and neighbour lists):
    stated by evidence the user may see, between artifacts the user may see."""
    qs = scope_evidence(user, queryset, "evidence__system", "evidence__effective_at")
    visible = visible_artifacts_q(user)
    if visible is not None:
        artifacts = Artifact.objects.filter(visible).values("pk")
        qs = qs.filter(source_id__in=artifacts, target_id__in=artifacts)
    return qs


def _edges_sql(user, window: Window | None = None) -> tuple[str, list]:
    """The edge relation the user may walk: the table, or a scoped subquery.

    Scoped: edges stated by evidence the user may see — for an auditor, per engagement (its
    systems *and* its observation window, never one engagement's window with another's
    systems) — between artifacts the user may see (visible_artifacts_q); with a `window`, only the
    edges valid in it."""
    qs = scope_lineage_edges(user, LineageEdge.objects.all())
    if window is not None:
        qs = qs.filter(valid_in(window))
    if not qs.query.where:
        return "evidence_lineageedge", []
    try:
        sql, params = qs.values("source_id", "target_id", "relation").query.sql_with_params()
    except EmptyResultSet:  # nothing visible (e.g. an auditor whose engagements all ended)
        return "(SELECT NULL::bigint AS source_id, NULL::bigint AS target_id, NULL::text AS relation WHERE false)", []
    return f"({sql})", list(params)


def _check(direction: str, depth: int) -> None:
    if direction not in DIRECTIONS:
        raise LineageQueryError(f"direction must be one of {', '.join(DIRECTIONS)}")
    if not 1 <= depth <= MAX_DEPTH:
        raise LineageQueryError(f"depth must be between 1 and {MAX_DEPTH}")


def _walk_cte(direction: str, edges: str) -> str:
    """`walk(root, id, depth)` from the roots in %(roots)s, to %(depth)s edges away."""
    near, far = ("source_id", "target_id") if direction == "downstream" else ("target_id", "source_id")
    return f"""
WITH RECURSIVE walk(root, id, depth) AS (
    SELECT r, r, 0 FROM unnest(%(roots)s::bigint[]) AS r
    UNION
    SELECT w.root, e.{far}, w.depth + 1
    FROM walk w JOIN {edges} e ON e.{near} = w.id
    WHERE w.depth < %(depth)s
),
reach AS MATERIALIZED (SELECT root, id, min(depth) AS depth FROM walk GROUP BY root, id)"""


def _cursor(after: str) -> tuple[int, int]:
    if not after:
        return -1, 0
    try:
        depth, _, node = after.partition(":")
        return int(depth), int(node)
    except ValueError:
        raise LineageQueryError("after must be the next_after value of the previous page") from None


# ---------------------------------------------------------------- walks


# Edges as the vocabulary names them (RELATION_ALIASES, in SQL).
_RELATION_SQL = (
    "CASE e.relation "
    + " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in RELATION_ALIASES.items())
    + " ELSE e.relation END"
)


# One node of the compact form, as JSON: `k` a walked node (id, depth), `a` its artifact, `u` its upstream ids.
COMPACT_NODE_SQL = (
    "json_build_object('id', k.id::text, 'kind', a.kind, 'uri', a.uri, 'name', a.name, 'depth', k.depth, "
    "'upstream', COALESCE(u.up, '{}'::json))"
)


def _compact_sql(edges: str, nodes: str) -> str:
    """CTEs `ups` and `up`: for each node of `nodes` (a CTE of ids), its upstream neighbours inside the
    walk (`reach`), by relation as the vocabulary names it: {"built-from": ["12", "15"], …}.

    Whatever the direction, these are the edges whose both ends the walk reached: over every page,
    the same edges as the full form's (each node's upstream ids, not the edges by which it was reached)."""
    return f"""
ups AS (
    SELECT e.target_id AS id, {_RELATION_SQL} AS relation, array_agg(DISTINCT e.source_id)::text[] AS ids
    FROM {nodes} k JOIN {edges} e ON e.target_id = k.id JOIN reach r ON r.id = e.source_id
    GROUP BY 1, 2
),
up AS (SELECT id, json_object_agg(relation, ids ORDER BY relation) AS up FROM ups GROUP BY id)"""


def _page_sql(direction: str, edges: str, *, cached: bool, as_json: bool, compact: bool = False) -> str:
    """One page of a walk, in one statement: the page's nodes (artifact columns) and the edges by
    which they are reached, deduplicated and ordered in the database.

    `cached`: the page's ids and depths come as arrays (%(page_ids)s, %(page_depths)s) sliced from
    a kept walk, and edges are checked against the kept walk in Python (`near` is returned);
    otherwise the walk runs here (%(roots)s, %(depth)s) and pages by the (depth, id) cursor.
    `as_json`: nodes and edges come back as two JSON arrays built by PostgreSQL (the API's
    shape), else as rows; the JSON's form (compact or full) is chosen in the statement by
    %(form)s and the walk's size (`_compact_sql`), and only the chosen form is built.
    `compact` (rows only): the `e` rows are the edges *into* the page's nodes (`near` is their
    source), the compact form's upstream ids, instead of the edges by which the nodes are reached."""
    near, far = ("source_id", "target_id") if direction == "downstream" else ("target_id", "source_id")
    if cached:
        head = """
WITH page AS MATERIALIZED (
    SELECT p.id, p.depth, p.ord FROM unnest(%(page_ids)s::bigint[], %(page_depths)s::int[]) WITH ORDINALITY
    AS p(id, depth, ord)
),
kept AS (SELECT id, depth FROM page)"""
        link_where = ""
    else:
        head = (
            _walk_cte(direction, edges)
            + """,
page AS MATERIALIZED (
    SELECT id, depth, row_number() OVER (ORDER BY depth, id) AS ord FROM (
        SELECT id, depth FROM reach
        WHERE depth > %(after_depth)s OR (depth = %(after_depth)s AND id > %(after_id)s)
        ORDER BY depth, id LIMIT %(limit)s + 1
    ) p
),
kept AS (SELECT id, depth FROM page WHERE ord <= %(limit)s)"""
        )
        link_where = f"JOIN reach r ON r.id = e.{near}"
    if compact:
        near, far = "source_id", "target_id"
        link_where = link_where and "JOIN reach r ON r.id = e.source_id"
    links = f"""
links AS (
    SELECT DISTINCT e.source_id, e.target_id, {_RELATION_SQL} AS relation, e.{near} AS near
    FROM kept k JOIN {edges} e ON e.{far} = k.id {link_where}
)"""
    if as_json:
        # Both forms are written out; PostgreSQL evaluates a CASE branch's subqueries only when the
        # branch is taken, so the statement builds one of them.
        return (
            head
            + ","
            + links
            + ","
            + _compact_sql(edges, "kept")
            + """,
choice AS (
    SELECT %(form)s = 'compact' OR (%(form)s = 'auto' AND count(*) > %(compact_above)s) AS compact FROM reach
)
SELECT
    (SELECT count(*) FROM page),
    (SELECT id FROM page WHERE ord = %(limit)s),
    (SELECT depth FROM page WHERE ord = %(limit)s),
    (SELECT compact FROM choice),
    CASE WHEN (SELECT compact FROM choice) THEN
        (SELECT COALESCE(json_agg(""" + COMPACT_NODE_SQL + """ ORDER BY k.depth, k.id), '[]')::text
         FROM kept k JOIN evidence_artifact a ON a.id = k.id LEFT JOIN up u ON u.id = k.id)
    ELSE
        (SELECT COALESCE(json_agg(json_build_object('id', k.id::text, 'kind', a.kind, 'uri', a.uri, 'name', a.name,
                                                    'depth', k.depth) ORDER BY k.depth, k.id), '[]')::text
         FROM kept k JOIN evidence_artifact a ON a.id = k.id)
    END,
    CASE WHEN (SELECT compact FROM choice) THEN NULL ELSE
        (SELECT COALESCE(json_agg(json_build_object('source', l.source_id::text, 'target', l.target_id::text,
                                                    'relation', l.relation)
                                  ORDER BY l.source_id, l.target_id, l.relation), '[]')::text
         FROM links l)
    END
"""
        )
    return (
        head
        + ","
        + links
        + """
SELECT 'n', k.id, k.depth, a.kind, a.uri, a.name, a.system_id, NULL::bigint
FROM page k JOIN evidence_artifact a ON a.id = k.id
UNION ALL
SELECT 'e', l.source_id, l.target_id, l.relation, NULL, NULL, NULL, l.near FROM links l
ORDER BY 1, 2, 3, 4
"""
    )


def _graph_version() -> str:
    """Lineage edges are append-only (never rewritten or deleted), so the newest edge names the
    graph's state: a new edge changes it, and kept walks of the older graph are not used. (Its
    time as well as its id: a database restored to an earlier state reuses ids.)"""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, created_at FROM evidence_lineageedge ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
    return f"{row[0]}-{row[1].timestamp():.6f}" if row else "0"


@dataclass
class _KeptWalk:
    """A whole walk, ordered by (depth, id): what later pages slice."""

    ids: array.array
    depths: bytes

    def page_after(self, after_depth: int, after_id: int, limit: int) -> tuple[list[int], list[int], bool]:
        start = bisect.bisect_right(
            range(len(self.ids)), (after_depth, after_id), key=lambda i: (self.depths[i], self.ids[i])
        )
        stop = min(start + limit, len(self.ids))
        return list(self.ids[start:stop]), list(self.depths[start:stop]), stop < len(self.ids)


def _kept_walk(artifact_id: int, direction: str, depth: int) -> _KeptWalk | None:
    """The whole walk of an unscoped user (edges: the table), from the cache or walked once and kept.

    Only unscoped walks are kept: what an auditor may walk depends on their engagements at the
    moment of the request, so their walks are computed per request (accounts.scoping)."""
    key = f"lineage-walk:v1:{artifact_id}:{direction}:{depth}:{_graph_version()}"
    try:
        kept = cache.get(key)
    except Exception:  # noqa: BLE001 - the cache (Redis) is an optimisation: walk again without it
        logger.warning("lineage walk cache unavailable; walking every page", exc_info=True)
        return None
    if kept is not None:
        return kept
    sql = (
        _walk_cte(direction, "evidence_lineageedge")
        + " SELECT id, depth FROM reach ORDER BY depth, id LIMIT %(cap)s"
    )
    with walk_work_mem(), connection.cursor() as cursor:
        cursor.execute(sql, {"roots": [artifact_id], "depth": depth, "cap": WALK_CACHE_MAX_NODES + 1})
        rows = cursor.fetchall()
    if len(rows) > WALK_CACHE_MAX_NODES:
        return None
    kept = _KeptWalk(ids=array.array("q", (r[0] for r in rows)), depths=bytes(r[1] for r in rows))
    try:
        cache.set(key, kept, WALK_CACHE_SECONDS)
    except Exception:  # noqa: BLE001 - as above: this page is served from the walk just made
        logger.warning("lineage walk cache unavailable", exc_info=True)
    return kept


def _walk_params(artifact_id: int, direction: str, depth: int, limit: int, after: str, user, window=None):
    """What a page needs: the SQL of the edges the user may walk, and either a kept walk's page
    (ids, depths, more?) or None (walk in the page's statement)."""
    _check(direction, depth)
    limit = max(1, min(limit, PAGE_LIMIT))
    after_depth, after_id = _cursor(after)
    edges, edge_params = _edges_sql(user, window)
    page = None
    reach: set[int] | None = None
    if after and not edge_params and edges == "evidence_lineageedge":
        kept = _kept_walk(artifact_id, direction, depth)
        if kept is not None:
            page = kept.page_after(after_depth, after_id, limit)
            reach = set(kept.ids)
    params = {
        "roots": [artifact_id],
        "depth": depth,
        "after_depth": after_depth,
        "after_id": after_id,
        "limit": limit,
    }
    if page is not None:
        params.update(page_ids=page[0], page_depths=page[1])
    return limit, edges, edge_params, params, page, reach


def lineage_walk(
    *,
    user,
    artifact_id: int,
    direction: str,
    depth: int = DEFAULT_DEPTH,
    limit: int = PAGE_LIMIT,
    after: str = "",
    window: Window | None = None,
) -> Walk:
    """Artifacts up- or downstream of one artifact to `depth` edges, paged by (depth, id).

    The first page walks in its own statement; a later page of an unscoped user slices the walk
    kept by `_kept_walk` (walked once per graph version), so paging through a large walk costs one
    walk, not one per page."""
    limit, edges, edge_params, params, page, reach = _walk_params(
        artifact_id, direction, depth, limit, after, user, window
    )
    sql = _page_sql(direction, edges, cached=page is not None, as_json=False)
    rows = _run(sql, params, edge_params, edges)
    walk = Walk(root=artifact_id, direction=direction, depth=depth)
    nodes = sorted(
        (Node(r[1], r[3], r[4], r[5], r[2], r[6]) for r in rows if r[0] == "n"), key=lambda n: (n.depth, n.id)
    )
    if page is not None:
        more = page[2]
    else:
        more = len(nodes) > limit
        nodes = nodes[:limit]
    if more and nodes:
        walk.next_after = f"{nodes[-1].depth}:{nodes[-1].id}"
    walk.nodes = nodes
    links = {Link(r[1], r[2], r[3]) for r in rows if r[0] == "e" and (reach is None or r[7] in reach)}
    walk.edges = sorted(links)
    return walk


@dataclass(frozen=True)
class WalkJson:
    """One page of a walk as the API sends it: nodes and edges already JSON (built by PostgreSQL).

    `form` "compact": each node carries its upstream ids and `edges` is "" (there is no edge list)."""

    nodes: str
    edges: str
    next_after: str
    form: str = "full"


def lineage_walk_json(
    *,
    user,
    artifact_id: int,
    direction: str,
    depth: int = DEFAULT_DEPTH,
    limit: int = PAGE_LIMIT,
    after: str = "",
    window: Window | None = None,
    form: str = "full",
) -> WalkJson:
    """lineage_walk() for the API: the same page (nodes by (depth, id), the edges reaching them), with
    the JSON built in the database, so a page of thousands of nodes costs no Python objects.

    `form` (FORMS): "full" as above; "compact" each node with its upstream ids inside the walk
    (`upstream`: {relation: [ids]}) and no edge list; "auto" compact for walks of more than
    COMPACT_ABOVE nodes."""
    if form not in FORMS:
        raise LineageQueryError(f"form must be one of {', '.join(FORMS)}")
    limit, edges, edge_params, params, page, reach = _walk_params(
        artifact_id, direction, depth, limit, after, user, window
    )
    if page is None:
        sql = _page_sql(direction, edges, cached=False, as_json=True)
        params.update(form=form, compact_above=COMPACT_ABOVE)
        count, last_id, last_depth, compact, nodes, links = _run(sql, params, edge_params, edges)[0]
        next_after = f"{last_depth}:{last_id}" if count > limit else ""
        if compact:
            return WalkJson(nodes=nodes, edges="", next_after=next_after, form="compact")
        return WalkJson(nodes=nodes, edges=links, next_after=next_after)
    # A page of a kept walk: edges come from `near`s inside the walk only (checked here).
    ids, depths, more = page
    compact = form == "compact" or (form == "auto" and len(reach) > COMPACT_ABOVE)
    sql = _page_sql(direction, edges, cached=True, as_json=False, compact=compact)
    rows = _run(sql, params, edge_params, edges)
    next_after = f"{depths[-1]}:{ids[-1]}" if more and ids else ""
    by_id = {r[1]: r for r in rows if r[0] == "n"}
    if compact:
        return WalkJson(nodes=_compact_nodes_json(ids, depths, by_id, rows, reach), edges="",
                        next_after=next_after, form="compact")  # fmt: skip
    nodes = json.dumps(
        [
            {"id": str(pk), "kind": by_id[pk][3], "uri": by_id[pk][4], "name": by_id[pk][5], "depth": d}
            for pk, d in zip(ids, depths, strict=True)
            if pk in by_id
        ]
    )
    # Rows come ordered (source, target, relation) and distinct: filter, no set or sort here.
    links = json.dumps(
        [
            {"source": str(r[1]), "target": str(r[2]), "relation": r[3]}
            for r in rows
            if r[0] == "e" and r[7] in reach
        ]
    )
    return WalkJson(nodes=nodes, edges=links, next_after=next_after)


def _compact_nodes_json(ids, depths, by_id: dict, rows: list[tuple], reach: set[int]) -> str:
    """A kept walk's page in the compact form, from `_page_sql(compact=True)` rows (edges into the page)."""
    upstream: dict[int, dict[str, list[str]]] = {}
    for r in rows:  # ordered by source: each list comes out in id order
        if r[0] == "e" and r[7] in reach:
            upstream.setdefault(r[2], {}).setdefault(r[3], []).append(str(r[1]))
    return json.dumps(
        [
            {"id": str(pk), "kind": by_id[pk][3], "uri": by_id[pk][4], "name": by_id[pk][5], "depth": d,
             "upstream": dict(sorted(upstream.get(pk, {}).items()))}  # fmt: skip
            for pk, d in zip(ids, depths, strict=True)
            if pk in by_id
        ]
    )


def inline_edges(sql: str, edge_params: list, edges: str) -> str:
    """`sql` with a scoped edge subquery's positional parameters inlined as literals, through
    psycopg's own quoting: mixing named and positional placeholders in one statement is not possible."""
    if not edge_params:
        return sql
    with connection.cursor() as cursor:
        literal = cursor.mogrify(edges, edge_params)
        literal = literal.decode() if isinstance(literal, bytes) else literal
    return sql.replace(edges, literal.replace("%", "%%"))


@contextmanager
def walk_work_mem() -> Iterator[None]:
    """A transaction whose work_mem is WALK_WORK_MEM, for a statement that walks: `set_config(…, true)`
    is SET LOCAL, so the session's own setting is back at its end (inside a caller's transaction,
    a savepoint: the setting then lasts until the caller's transaction ends)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', %s, true)", [WALK_WORK_MEM])
        yield


def _run(sql: str, params: dict, edge_params: list, edges: str) -> list[tuple]:
    """Run a lineage statement; a scoped edge subquery brings positional parameters of its own."""
    with connection.cursor() as cursor:
        cursor.execute(inline_edges(sql, edge_params, edges), params)
        return cursor.fetchall()


def lineage_graph(*, user, artifact_id: int, direction: str = "both", depth: int = 3, limit: int = 300) -> Walk:
    """Up- and/or downstream of an artifact, merged, for drawing (no paging: at most `limit` nodes each way)."""
    directions = DIRECTIONS if direction == "both" else (direction,)
    merged = Walk(root=artifact_id, direction=direction, depth=depth)
    seen: dict[int, Node] = {}
    links: set[Link] = set()
    for one in directions:
        walk = lineage_walk(user=user, artifact_id=artifact_id, direction=one, depth=depth, limit=limit)
        for node in walk.nodes:
            signed = node._replace(depth=node.depth if one == "downstream" else -node.depth)
            if node.id not in seen or abs(signed.depth) < abs(seen[node.id].depth):
                seen[node.id] = signed
        links.update(walk.edges)
        if walk.next_after:
            merged.next_after = walk.next_after  # more than `limit`: the drawing is cut
    merged.nodes = sorted(seen.values(), key=lambda n: (n.depth, n.id))
    merged.edges = sorted(
        (e for e in links if e.source in seen and e.target in seen), key=lambda e: (e.source, e.target)
    )
    return merged


def lineage_path(*, user, from_id: int, to_id: int, depth: int = 20, window: Window | None = None) -> list[Link]:
    """A shortest path of edges between two artifacts (either way round); [] when none within `depth`."""
    for start, end in ((from_id, to_id), (to_id, from_id)):
        path = _shortest_path(user, start, end, depth, window)
        if path:
            return path
    return []


def _shortest_path(user, start: int, end: int, depth: int, window: Window | None = None) -> list[Link]:
    if not 1 <= depth <= MAX_DEPTH:
        raise LineageQueryError(f"depth must be between 1 and {MAX_DEPTH}")
    if start == end:
        return []
    edges, edge_params = _edges_sql(user, window)
    # Distances from the start (downstream) and to the end (upstream) meet on the shortest paths:
    # an edge u -> v lies on one when dist(start, u) + 1 + dist(v, end) is the shortest length.
    sql = f"""
WITH RECURSIVE fa(id, depth) AS (
    SELECT %(start)s::bigint, 0
    UNION
    SELECT e.target_id, f.depth + 1 FROM fa f JOIN {edges} e ON e.source_id = f.id WHERE f.depth < %(depth)s
),
fb(id, depth) AS (
    SELECT %(end)s::bigint, 0
    UNION
    SELECT e.source_id, f.depth + 1 FROM fb f JOIN {edges} e ON e.target_id = f.id WHERE f.depth < %(depth)s
),
da AS MATERIALIZED (SELECT id, min(depth) AS d FROM fa GROUP BY id),
db AS MATERIALIZED (SELECT id, min(depth) AS d FROM fb GROUP BY id),
best AS (SELECT min(da.d + db.d) AS l FROM da JOIN db USING (id))
SELECT e.source_id, e.target_id, e.relation, da.d
FROM {edges} e JOIN da ON da.id = e.source_id JOIN db ON db.id = e.target_id, best
WHERE da.d + 1 + db.d = best.l AND best.l <= %(depth)s
ORDER BY da.d, e.source_id, e.target_id
"""
    rows = _run(sql, {"start": start, "end": end, "depth": depth}, edge_params, edges)
    if not rows:
        return []
    by_step: dict[int, list[tuple]] = {}
    for source, target, relation, step in rows:
        by_step.setdefault(step, []).append((source, target, relation))
    # Every edge here lies on a shortest path; chain one from the start.
    path, at = [], start
    for step in sorted(by_step):
        edge = next((e for e in by_step[step] if e[0] == at), None)
        if edge is None:
            return []
        path.append(Link(source=edge[0], target=edge[1], relation=canonical_relation(edge[2])))
        at = edge[1]
    return path if at == end else []
