"""Shared plumbing for benchmarks: the bench database, a gunicorn server, a loopback load client.

Every benchmark module `bench/<name>_bench.py` exposes `run() -> list[dict]`, each row
{"name", "value", "unit", "baseline", "baseline_unit", "ratio"}: what was measured, the
figure, the baseline measured in the same run, and their ratio. `bench/run.py` collects them.
"""

from __future__ import annotations

import contextlib
import http.client
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def bench_env(**extra: str) -> dict[str, str]:
    """Environment for processes that talk to the bench database and Redis (set by scripts/bench.sh)."""
    env = dict(os.environ)
    env.setdefault("PORTAL_PROFILE", "dev")
    env["DEBUG"] = "false"
    env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    env.update(extra)
    return env


def django_setup() -> None:
    """Configure Django in this process against the bench database (already migrated by bench.sh)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    os.environ.setdefault("PORTAL_PROFILE", "dev")
    os.environ["DEBUG"] = "false"
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(port: int | None = None, *, workers: int = 3, threads: int = 1, extra_env: dict | None = None):
    """Run the portal under gunicorn on 127.0.0.1 (production server) until the block ends.

    Yields the base URL. Waits until /healthz answers (any status) before returning."""
    port = port or free_port()
    cmd = [
        PYTHON, "-m", "gunicorn", "bench.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--threads", str(threads), "--log-level", "warning",
        "--backlog", "2048", "--keep-alive", "5",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=bench_env(**(extra_env or {})))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/bench/bare")
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not answer within 60 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _client(args) -> tuple[int, int, list[float]]:
    port, method, path, headers, body, seconds, max_requests, interval = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    ok = errors = 0
    latencies: list[float] = []
    end = time.monotonic() + seconds
    # Paced (open loop, `interval` seconds between sends): request k is due at first + k * interval
    # and its latency counts from then, so a server that falls behind shows in the latencies (no
    # coordinated omission). Clients start at staggered offsets within one interval.
    first = time.perf_counter() + (interval * (os.getpid() % 97) / 97 if interval else 0)
    while time.monotonic() < end and ok + errors < max_requests:
        payload = body(ok + errors) if callable(body) else body
        req_headers = headers(ok + errors) if callable(headers) else headers
        if interval:
            start = first + (ok + errors) * interval
            pause = start - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        else:
            start = time.perf_counter()
        try:
            conn.request(method, path, body=payload, headers=req_headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status = 0
        latencies.append(time.perf_counter() - start)
        if 200 <= status < 300:
            ok += 1
        else:
            errors += 1
    conn.close()
    return ok, errors, latencies


def load(
    base_url: str,
    path: str,
    *,
    method: str = "GET",
    headers=None,
    body=None,
    clients: int = 4,
    seconds: float = 5.0,
    max_requests: int = 200_000,
    rate: float | None = None,
) -> dict:
    """Bounded loopback load: `clients` processes with keep-alive connections for `seconds`.

    `headers` and `body` may be callables of the request number (per client) for unique bodies.
    Without `rate` each client sends its next request when the last is answered (closed loop: the
    server's saturation rate); with `rate` (requests/s in all) the clients send on a schedule and
    latencies count from each request's due time.
    Returns requests/s of 2xx answers, error count and latency percentiles in ms."""
    port = int(base_url.rsplit(":", 1)[1])
    interval = clients / rate if rate else 0.0
    args = [(port, method, path, headers or {}, body, seconds, max_requests // clients, interval)] * clients
    start = time.perf_counter()
    with mp.get_context("fork").Pool(clients) as pool:
        results = pool.map(_client, args)
    elapsed = time.perf_counter() - start
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    latencies = sorted(lat for r in results for lat in r[2])
    return {
        "rps": ok / elapsed,
        "ok": ok,
        "errors": errors,
        "p50_ms": 1000 * percentile(latencies, 50),
        "p95_ms": 1000 * percentile(latencies, 95),
        "p99_ms": 1000 * percentile(latencies, 99),
    }


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(pct / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def row(name: str, value: float, unit: str, baseline: float | None = None, baseline_unit: str = "") -> dict:
    ratio = (value / baseline) if baseline else None
    return {"name": name, "value": value, "unit": unit, "baseline": baseline, "baseline_unit": baseline_unit,
            "ratio": ratio}


def median_of(fn, repeats: int = 3) -> float:
    return statistics.median(fn() for _ in range(repeats))


def backend_cpu() -> float:
    """CPU seconds used so far by this process's PostgreSQL backend (same machine): with
    time.process_time(), what one in-process step costs the machine, commit included."""
    import psutil
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        times = psutil.Process(cursor.fetchone()[0]).cpu_times()
    return times.user + times.system
