"""Overview and system pages at each scale, through gunicorn, against a bare Django view.

Run ``make bench ARGS="policy_pages"`` (or ``python -m bench.run --scales 100k policy_pages``). The
data set is the scale's, made by ``manage.py generate_scale`` (devtools/scale/generator.py: at 1M,
1,000,000 evidence, 10,000 releases, 100,000 lineage nodes, results of every current rule on every
release, deployment and model version with their history, 5,000 exceptions, 90 days of rollups).
4 keep-alive clients load each page for ``POLICY_BENCH_SECONDS`` through gunicorn (3 sync workers),
signed in as the demo compliance officer; the system page is that of payments-api, the busiest
system (the most releases and results). The bare view in the same run is the baseline. Rows report
p95 latency in ms (what the issue bounds: under 150 ms at 1M) and requests/s, plus the queries and
in-process time of one request (django test client, after a warm-up).

Nothing on those pages may aggregate evidence or results per request: they read rollups and
a bounded slice of results, so the figures should not move with the scale.

One row is not a page: the coverage step of one evaluation batch (issue 22), the failing and
missing results of up to COVERAGE_KEYS results asked of the coverage providers in one call (one
query), against the same keys asked one query per result (the contract before).
"""

from __future__ import annotations

import os
import statistics
import time

from bench.common import django_setup, gunicorn, load, row

SCALED = True
SECONDS = float(os.environ.get("POLICY_BENCH_SECONDS", "8"))
SYSTEM = "payments-api"
COVERAGE_KEYS = int(os.environ.get("POLICY_BENCH_COVERAGE_KEYS", "1000"))


def _session_cookie(username: str) -> str:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from apps.accounts.models import User

    user = User.objects.get(username=username)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def _in_process(path: str, username: str, repeats: int = 15) -> tuple[int, float, float]:
    """Queries, median CPU and median wall time of one request, in this process (test client, warm caches).

    CPU time is what a request costs the machine; on a shared, busy machine it moves far less than
    wall time, so it is the figure to compare between scales and runs."""
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import User

    client = Client()
    client.force_login(User.objects.get(username=username))
    for _ in range(2):
        assert client.get(path).status_code == 200
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        client.get(path)
    queries = len(ctx.captured_queries)
    cpu, wall = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        client.get(path)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
    return queries, 1000 * statistics.median(cpu), 1000 * statistics.median(wall)


def _uncached(repeats: int = 5) -> tuple[tuple[float, float], tuple[float, float]]:
    """(wall ms, CPU ms) of what the pages compute on a cache miss (the selectors and charts, no cache, no template):
    what every request cost before the pages cached it, and what a request costs after a rollup run."""
    from apps.accounts.models import User
    from apps.dashboard.pages import overview_charts
    from apps.inventory.models import System
    from apps.policy.selectors import overview_for_user, system_controls_for_user

    user = User.objects.get(username="compliance")
    system = System.objects.get(slug=SYSTEM)

    def cpu(fn) -> tuple[float, float]:
        fn()
        wall, cpu = [], []
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        return 1000 * statistics.median(wall), 1000 * statistics.median(cpu)

    return (cpu(lambda: overview_charts(overview_for_user(user=user))),
            cpu(lambda: system_controls_for_user(user=user, system=system)))  # fmt: skip


def _coverage(repeats: int = 5) -> tuple[float, float, int]:
    """Median ms to cover a batch's failing results in one provider call, and one query per result."""
    from django.utils import timezone

    from apps.exceptions.selectors import exception_covering
    from apps.policy.models import ControlResult, ResultStatus
    from apps.policy.providers import covering_exception_ids

    statuses = [ResultStatus.FAIL, ResultStatus.MISSING, ResultStatus.EXCEPTED]
    keys = list(
        ControlResult.objects.filter(status__in=statuses)
        .order_by("pk")
        .values_list("control_id", "system_id", "artifact_id")[:COVERAGE_KEYS]
    )
    now = timezone.now()

    def batched() -> float:
        started = time.perf_counter()
        covering_exception_ids(keys, now)
        return (time.perf_counter() - started) * 1000

    def one_by_one() -> float:
        started = time.perf_counter()
        for control, system, artifact in keys:
            exception_covering(control_id=control, system_id=system, artifact_id=artifact, at=now)
        return (time.perf_counter() - started) * 1000

    batched()  # warm up
    return (
        statistics.median(batched() for _ in range(repeats)),
        statistics.median(one_by_one() for _ in range(repeats)),
        len(keys),
    )


def run(scale: str = "") -> list[dict]:
    django_setup()
    coverage_ms, coverage_baseline_ms, coverage_keys = _coverage()
    cookie = _session_cookie("compliance")
    headers = {"Cookie": cookie}
    system_path = f"/systems/{SYSTEM}/"
    q_overview, cpu_overview, wall_overview = _in_process("/", "compliance")
    q_system, cpu_system, wall_system = _in_process(system_path, "compliance")
    miss_overview, miss_system = _uncached()
    with gunicorn(workers=3) as url:
        load(url, "/bench/bare", seconds=1)
        load(url, "/", headers=headers, seconds=1)  # warm up workers, connections and caches
        load(url, system_path, headers=headers, seconds=1)
        bare = load(url, "/bench/bare", seconds=SECONDS)
        overview = load(url, "/", headers=headers, seconds=SECONDS)
        system = load(url, system_path, headers=headers, seconds=SECONDS)
    for name, result in (("overview", overview), ("system", system), ("bare", bare)):
        if result["errors"]:
            raise RuntimeError(f"{result['errors']} errors loading the {name} page")
    return [
        row("pages: overview p95, 4 clients", overview["p95_ms"], "ms", bare["p95_ms"], "ms bare view p95"),
        row("pages: system page p95, 4 clients", system["p95_ms"], "ms", bare["p95_ms"], "ms bare view p95"),
        row("pages: overview throughput, 4 clients", overview["rps"], "req/s", bare["rps"], "req/s bare view"),
        row("pages: system page throughput, 4 clients", system["rps"], "req/s", bare["rps"], "req/s bare view"),
        {
            **row(
                "pages: overview CPU per request, in-process", cpu_overview, "ms CPU", wall_overview, "ms wall median"
            ),
            "detail": f"{q_overview} queries",
        },
        {
            **row(
                "pages: system page CPU per request, in-process", cpu_system, "ms CPU", wall_system, "ms wall median"
            ),
            "detail": f"{q_system} queries",
        },
        {
            **row("pages: overview data on a cache miss (selector + charts)", miss_overview[0], "ms"),
            "detail": f"{miss_overview[1]:.1f} ms CPU",
        },
        {
            **row("pages: system page data on a cache miss (selector)", miss_system[0], "ms"),
            "detail": f"{miss_system[1]:.1f} ms CPU",
        },
        {
            **row(
                "policy: coverage of one evaluation batch's failing results",
                coverage_ms,
                "ms",
                coverage_baseline_ms,
                "ms one query per result",
            ),
            "detail": f"{coverage_keys} results",
        },
    ]


if __name__ == "__main__":
    for r in run(os.environ.get("PORTAL_BENCH_SCALE", "")):
        print(r)
