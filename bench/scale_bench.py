"""Scale-dependent reads on the generated data set (devtools/scale), once per scale.

- `verify_ledger` over the whole generated ledger (every evidence, receipt, result change and
  exception entry), database to verdict, in entries/s; baseline: bare sha256 over the same bytes.
- Lineage walks on the generated graph through the API (GET /api/v1/artifacts/{id}/lineage,
  depth 10): upstream from production deployments (the deepest walks: deployment → release →
  image → model version → dataset chain), downstream from the most depended-on package (the widest
  fan-out); p95 over samples, in-process (test client); baseline: the bare recursive CTE.
- The evidence browser (first page, and filtered to the busiest system) and full-text search, as
  the compliance officer, p95 in-process.

In-process figures (django test client) leave gunicorn and the network out: they are the page's
own cost, comparable between scales.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time

from bench.common import django_setup, percentile, row

SCALED = True
SAMPLES = int(os.environ.get("SCALE_BENCH_SAMPLES", "20"))


def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return sorted(out)


def _verify_rows() -> list[dict]:
    from django.core.management import call_command

    from apps.ledger.services import read_entries_with_leaves, tree_size

    size = tree_size()
    t = time.perf_counter()
    call_command("verify_ledger", stdout=open(os.devnull, "w"))  # noqa: SIM115 - closed at exit
    verify_s = time.perf_counter() - t
    blobs = [c for _i, c, _l in read_entries_with_leaves()]
    t = time.perf_counter()
    for b in blobs:
        hashlib.sha256(b"\x00" + b).digest()
    sha_s = time.perf_counter() - t
    r = row("scale: verify_ledger over the generated ledger", size / verify_s, "entries/s", size / sha_s,
            "sha256/s, same bytes")
    r["detail"] = f"{size:,} entries"
    return [r]


def _lineage_rows(client) -> list[dict]:
    from django.db import connection
    from django.db.models import Count

    from apps.evidence.models import Artifact, LineageEdge

    deployments = list(
        Artifact.objects.filter(kind="deployment", uri__contains="/prod/", system__kind="ml_model")
        .order_by("-id").values_list("id", flat=True)[:SAMPLES]
    )  # fmt: skip
    popular = (
        LineageEdge.objects.filter(relation="depends-on").values("source_id")
        .annotate(n=Count("id")).order_by("-n").first()
    )  # fmt: skip
    rows = []

    def walk(artifact_id: int, direction: str):
        response = client.get(f"/api/v1/artifacts/{artifact_id}/lineage?direction={direction}&depth=10")
        assert response.status_code == 200, response.status_code
        return response

    if deployments:
        for d in deployments[:2]:
            walk(d, "upstream")  # warm up
        api = [t for d in deployments for t in _timed(lambda d=d: walk(d, "upstream"), 1)]
        sql = (
            "WITH RECURSIVE up(id, depth) AS (SELECT %s::bigint, 0 UNION "
            "SELECT e.source_id, up.depth + 1 FROM up JOIN evidence_lineageedge e ON e.target_id = up.id "
            "WHERE up.depth < 10) SELECT count(DISTINCT id), max(depth) FROM up"
        )
        bare = []
        depth = 0
        with connection.cursor() as cursor:
            for d in deployments:
                t = time.perf_counter()
                cursor.execute(sql, [d])
                _n, deepest = cursor.fetchone()
                bare.append(time.perf_counter() - t)
                depth = max(depth, deepest or 0)
        bare.sort()
        rows.append(row("scale: lineage upstream walk from a production deployment, API p95",
                        1000 * percentile(sorted(api), 95), "ms",
                        1000 * percentile(bare, 95), "ms bare CTE p95"))  # fmt: skip
        rows[-1]["detail"] = f"depth {depth}"
    if popular:
        walk(popular["source_id"], "downstream")
        api = _timed(lambda: walk(popular["source_id"], "downstream"), max(3, SAMPLES // 4))
        rows.append(row("scale: lineage downstream walk from the most used package, API p95",
                        1000 * percentile(api, 95), "ms"))  # fmt: skip
        rows[-1]["detail"] = f"{popular['n']} dependants"
    return rows


def _page_rows(client) -> list[dict]:
    rows = []
    for label, path in (
        ("evidence browser, first page", "/evidence/"),
        ("evidence browser, one system", "/evidence/?system=payments-api"),
        ("search 'payments'", "/search/?q=payments"),
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        times = _timed(lambda path=path: client.get(path), SAMPLES)
        rows.append(row(f"scale: {label}, in-process p95", 1000 * percentile(times, 95), "ms",
                        1000 * statistics.median(times), "ms median"))  # fmt: skip
    return rows


def run(scale: str = "") -> list[dict]:
    django_setup()
    from django.test import Client

    from apps.accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username="compliance"))
    return _verify_rows() + _lineage_rows(client) + _page_rows(client)


if __name__ == "__main__":
    for r in run(os.environ.get("PORTAL_BENCH_SCALE", "")):
        print(r)
