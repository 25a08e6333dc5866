"""Lineage walks on layered graphs of 100,000 artifacts and ~380,000 edges (LINEAGE_BENCH_NODES).

Two graphs, each 20 layers of 5,000 nodes where every node has 4 edges into the next layer:
"local" (edges go to nodes within ±16 positions, as lineage has locality: a model's data, runs and
images are its own), where a depth-10 walk returns up to a few thousand nodes, and "random" (edges go
anywhere in the next layer), where every depth-10 walk saturates beyond 5,000 nodes: the worst case.
Written once with COPY (reused when present). Measured, in one run:
- the API: GET /api/v1/artifacts/{id}/lineage?direction=…&depth=10 under gunicorn (first page,
  at most 5,000 nodes), p50 and p95, for random roots in every layer;
- the bare SQL: the same recursive CTE straight on a connection (the baseline of the API rows);
- networkx: single_source_shortest_path_length with cutoff 10 on the graph held in memory;
- the worst case: a whole walk (every page) from a root that reaches the most nodes (pages after the
  first slice the walk kept once, apps/evidence/lineage/walk.py).
Issue 20 (speed) adds, in the same run and from the same roots: the first page in the compact form
(`form=compact`, each node with its upstream ids) next to the full form (`form=full`, the edge list)
and the bare CTE; the whole walk paged in the compact form, and in one NDJSON stream
(`Accept: application/x-ndjson`), next to the paged full form and to the bare CTE of the whole walk.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import time

from bench.common import django_setup, gunicorn, percentile, row

NODES = int(os.environ.get("LINEAGE_BENCH_NODES", "100000"))
LAYERS = 20
FANOUT = 4
DEPTH = 10
SAMPLES = int(os.environ.get("LINEAGE_BENCH_SAMPLES", "150"))
WINDOW = 16
SHAPES = ("local", "random")


def _edges(n: int, shape: str) -> list[tuple[int, int]]:
    rng = random.Random(42)
    width = n // LAYERS
    out = []
    for layer in range(LAYERS - 1):
        for i in range(width):
            node = layer * width + i
            if shape == "random":
                targets = rng.sample(range(width), FANOUT)
            else:
                targets = [(i + d) % width for d in rng.sample(range(-WINDOW, WINDOW + 1), FANOUT)]
            for target in targets:
                out.append((node, (layer + 1) * width + target))
    return out


def _build(shape: str) -> dict[int, int]:
    """The graph in the bench database; returns index -> artifact id."""
    from django.db import connection, transaction
    from django.utils import timezone

    from apps.evidence.models import Artifact, Evidence
    from apps.ingest.services import receipt_accept, source_create

    prefix = f"bench:lineage-{shape}/"
    existing = dict(Artifact.objects.filter(uri__startswith=prefix).values_list("uri", "id"))
    if len(existing) == NODES:
        return {int(uri[len(prefix) :]): pk for uri, pk in existing.items()}
    if existing:
        raise RuntimeError("a partial lineage bench graph exists; drop the bench database (make stop) and rerun")
    now = timezone.now()
    with transaction.atomic():
        source = source_create(actor="system:bench", kind="generic-ci", name=f"bench lineage {now:%s}").source
        receipt, _ = receipt_accept(source=source, channel="upload", body=b"bench lineage graph", enqueue=False)
        evidence = Evidence.objects.create(
            receipt=receipt,
            source=source,
            kind="generic",
            format="generic",
            title="bench graph",
            verdict="info",
            received_at=now,
            effective_at=now,
            effective_basis="received",
            sha256=receipt.sha256,
        )
        cursor = connection.cursor()
        with cursor.cursor.copy("COPY evidence_artifact (kind, uri, digest, name, first_seen) FROM STDIN") as copy:
            for i in range(NODES):
                copy.write_row(("other", f"{prefix}{i}", "", f"node {i}", now))
        ids = dict(Artifact.objects.filter(uri__startswith=prefix).values_list("uri", "id"))
        ids = {int(uri[len(prefix) :]): pk for uri, pk in ids.items()}
        with cursor.cursor.copy(
            "COPY evidence_lineageedge (source_id, target_id, relation, evidence_id, created_at) FROM STDIN"
        ) as copy:
            for a, b in _edges(NODES, shape):
                copy.write_row((ids[a], ids[b], "derived-from", evidence.pk, now))
    with connection.cursor() as c:
        c.execute("ANALYZE evidence_artifact; ANALYZE evidence_lineageedge")
    return ids


def _session_cookie() -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from apps.accounts.models import User
    from apps.accounts.services import user_create

    user = User.objects.filter(username="bench-lineage").first() or user_create(
        username="bench-lineage",
        password="bench-lineage-password-42",  # noqa: S106 - the bench database's own user
        roles=["compliance_officer"],
    )
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"sessionid={session.session_key}"


def _bare_sql(root: int, direction: str) -> int:
    from django.db import connection

    near, far = ("source_id", "target_id") if direction == "downstream" else ("target_id", "source_id")
    with connection.cursor() as c:
        c.execute(
            f"""WITH RECURSIVE walk(id, depth) AS (SELECT %s::bigint, 0 UNION
                SELECT e.{far}, w.depth + 1 FROM walk w JOIN evidence_lineageedge e ON e.{near} = w.id
                WHERE w.depth < %s)
            SELECT id, min(depth) FROM walk GROUP BY id ORDER BY 2, 1 LIMIT 5001""",  # noqa: S608 - our columns
            [root, DEPTH],
        )
        return len(c.fetchall())


def _bare_whole(root: int) -> int:
    """The bare CTE of the whole downstream walk (every node, ordered): the NDJSON rows' baseline."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute(
            """WITH RECURSIVE walk(id, depth) AS (SELECT %s::bigint, 0 UNION
                SELECT e.target_id, w.depth + 1 FROM walk w JOIN evidence_lineageedge e ON e.source_id = w.id
                WHERE w.depth < %s)
            SELECT id, min(depth) FROM walk GROUP BY id ORDER BY 2, 1""",
            [root, LAYERS],
        )
        return len(c.fetchall())


def _raw(conn, path: str, cookie: str, accept: str = "application/json") -> bytes:
    conn.request("GET", path, headers={"Cookie": cookie, "Accept": accept})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"lineage API answered {response.status}: {body[:200]!r}")
    return body


def _get(conn, path: str, cookie: str) -> dict:
    return json.loads(_raw(conn, path, cookie))


def _whole_paged(conn, port: int, cookie: str, path: str) -> tuple[float, int, int, int]:
    """Every page of a walk: (seconds, pages, nodes, bytes)."""
    t = time.perf_counter()
    pages = nodes = size = 0
    while path:
        raw = _raw(conn, path, cookie)
        body = json.loads(raw)
        pages, nodes, size = pages + 1, nodes + len(body["nodes"]), size + len(raw)
        path = body["next"].split(str(port), 1)[1] if body["next"] else ""
    return time.perf_counter() - t, pages, nodes, size


def _shape_rows(shape: str, conn, port: int, cookie: str) -> list[dict]:
    import networkx as nx

    started = time.perf_counter()
    ids = _build(shape)
    rows = [row(f"[{shape}] graph ready (built or reused)", time.perf_counter() - started, "s")]
    graph = nx.DiGraph()
    graph.add_edges_from(_edges(NODES, shape))
    reverse = graph.reverse(copy=True)
    rng = random.Random(7)
    roots = [rng.randrange(NODES) for _ in range(SAMPLES)]
    for direction in ("upstream", "downstream"):
        api, compact, sql, memory, sizes = [], [], [], [], []
        for index in roots:
            root = ids[index]
            t = time.perf_counter()
            _get(conn, f"/api/v1/artifacts/{root}/lineage?direction={direction}&depth={DEPTH}&form=full", cookie)
            api.append(time.perf_counter() - t)
            t = time.perf_counter()
            _get(conn, f"/api/v1/artifacts/{root}/lineage?direction={direction}&depth={DEPTH}&form=compact", cookie)
            compact.append(time.perf_counter() - t)
            t = time.perf_counter()
            sizes.append(_bare_sql(root, direction))
            sql.append(time.perf_counter() - t)
            t = time.perf_counter()
            nx.single_source_shortest_path_length(reverse if direction == "upstream" else graph, index, cutoff=DEPTH)
            memory.append(time.perf_counter() - t)
        api.sort()
        compact.sort()
        sql.sort()
        memory.sort()
        bare_p50 = percentile(sql, 50) * 1000
        rows += [
            row(
                f"[{shape}] API {direction} depth {DEPTH} p50 (first page, ≤5,000 nodes)",
                percentile(api, 50) * 1000,
                "ms",
                bare_p50,
                "ms bare SQL p50",
            ),
            row(
                f"[{shape}] API {direction} depth {DEPTH} p95",
                percentile(api, 95) * 1000,
                "ms",
                percentile(sql, 95) * 1000,
                "ms bare SQL p95",
            ),
            row(
                f"[{shape}] API {direction} depth {DEPTH} p50, compact form",
                percentile(compact, 50) * 1000,
                "ms",
                bare_p50,
                "ms bare SQL p50",
            ),
            row(
                f"[{shape}] API {direction} depth {DEPTH} p95, compact form",
                percentile(compact, 95) * 1000,
                "ms",
                percentile(sql, 95) * 1000,
                "ms bare SQL p95",
            ),
            row(
                f"[{shape}] API {direction} depth {DEPTH} p95, compact ÷ full form",
                percentile(compact, 95) * 1000,
                "ms",
                percentile(api, 95) * 1000,
                "ms full form p95",
            ),
            row(
                f"[{shape}] networkx {direction} depth {DEPTH} p50",
                percentile(memory, 50) * 1000,
                "ms",
                bare_p50,
                "ms bare SQL p50",
            ),
            row(
                f"[{shape}] nodes per {direction} walk (median; bare SQL capped at 5,001)",
                statistics.median(sizes),
                "nodes",
            ),
        ]
    # The whole downstream walk of a first-layer node, to the last layer: every page (full, then compact),
    # then one NDJSON stream; each from a cold start (no walk kept from the run before).
    base = f"/api/v1/artifacts/{ids[0]}/lineage?direction=downstream&depth={LAYERS}"
    _forget_kept_walks()
    whole, pages, nodes, size = _whole_paged(conn, port, cookie, base + "&form=full")
    t = time.perf_counter()
    reach = len(nx.single_source_shortest_path_length(graph, 0, cutoff=LAYERS))
    in_memory = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    bare_nodes = _bare_whole(ids[0])
    bare = (time.perf_counter() - t) * 1000
    _forget_kept_walks()
    whole_c, pages_c, nodes_c, size_c = _whole_paged(conn, port, cookie, base + "&form=compact")
    _forget_kept_walks()
    t = time.perf_counter()
    stream = _raw(conn, base, cookie, accept="application/x-ndjson")
    streamed = time.perf_counter() - t
    lines = stream.count(b"\n")
    if not nodes == nodes_c == lines == bare_nodes:
        raise RuntimeError(f"whole walks disagree: full {nodes}, compact {nodes_c}, NDJSON {lines}, CTE {bare_nodes}")
    mb = 1024 * 1024
    rows += [
        row(
            f"[{shape}] whole downstream walk via API, full form ({nodes} nodes, {pages} pages, {size / mb:.1f} MB)",
            whole * 1000,
            "ms",
            in_memory,
            f"ms networkx ({reach} nodes)",
        ),
        row(
            f"[{shape}] whole downstream walk via API, full form, against the bare CTE",
            whole * 1000,
            "ms",
            bare,
            f"ms bare CTE ({bare_nodes} nodes)",
        ),
        row(
            f"[{shape}] whole downstream walk via API, compact form ({pages_c} pages, {size_c / mb:.1f} MB)",
            whole_c * 1000,
            "ms",
            bare,
            "ms bare CTE",
        ),
        row(
            f"[{shape}] whole downstream walk, one NDJSON stream ({lines} lines, {len(stream) / mb:.1f} MB)",
            streamed * 1000,
            "ms",
            bare,
            "ms bare CTE",
        ),
        row(f"[{shape}] whole walk: NDJSON stream ÷ paged full form", streamed * 1000, "ms", whole * 1000, "ms paged"),
    ]
    return rows


def _forget_kept_walks() -> None:
    """Drop kept walks (apps.evidence.lineage.walk._kept_walk), so each whole walk starts cold."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter("*lineage-walk:*"))
    if keys:
        client.delete(*keys)


def run() -> list[dict]:
    django_setup()
    cookie = _session_cookie()
    rows = []
    with gunicorn(workers=2) as base:
        port = int(base.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for shape in SHAPES:
            rows += _shape_rows(shape, conn, port, cookie)
        conn.close()
    return rows
