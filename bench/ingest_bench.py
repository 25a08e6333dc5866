"""Evidence ingestion: accepts per second through gunicorn, and parse throughput per format.

``run()`` returns rows ``{"name", "value", "unit", "baseline", "baseline_unit", "ratio"}``:

- ``ingest: signed GitHub deliveries accepted``: 202s per second for signed
  ``workflow_run`` deliveries (each body unique, so each is a new blob: hashed and committed
  with its Receipt and ledger entry in one statement, as a PendingBody, since it is under
  PORTAL_INLINE_BODY_MAX_BYTES; the parse task handed to Redis), through
  gunicorn in the production configuration (compliance_portal/gunicorn.conf.py: gthread
  workers, batched parse messages; DEBUG=false) on 127.0.0.1, from CLIENTS keep-alive client
  processes for a bounded time — enough clients that the server, not the clients' round
  trips, sets the rate (INGEST_BENCH_CLIENTS, INGEST_BENCH_WORKERS, INGEST_BENCH_THREADS
  override). Baseline, same run, same PostgreSQL: durable single-row INSERT commits per second
  from 4 connections (psycopg, autocommit), no web stack at all. The issue's target: ratio
  >= 0.25 and >= 1,000 accepts/s on 2 cores.
- ``ingest: accepts/s against the bare view`` (issue 25's target: >= 0.4) and ``CPU per accept``
  (gunicorn workers, the bench PostgreSQL's backends, and every process of the run: those two,
  the bench Redis and the load clients; psutil and getrusage around the timed runs), each against
  the same for a bare-view request: where the CPU of an accept goes, and so what bounds the rate
  on 2 cores. Only the run's own processes are counted: the machine may be shared.
- ``ingest: CPU per durable blob write``: one blob_store() of a delivery's body in this process
  (temporary file, fsync, rename, directory fsync), against a bare request's CPU: what an accept
  paid before the 202 when every body went to the blob store first (PORTAL_INLINE_BODY_MAX_BYTES=0,
  or a body above it); the parse pays it now for small bodies.
- ``ingest: CPU per accept in-process``: the WSGI application called directly, against the bare
  view called the same way; and the same accept with every body written to the blob store first.
- ``ingest: accept latency p50/p99``: of the saturated run above, against the bare Django view's
  in the same gunicorn with the same clients; and at 80% of that rate, with paced clients (open
  loop, latency from each request's due time; issue 25's target: p99 < 50 ms).
- ``ingest: parse ... via receipt_parse``: items per second through the whole worker path
  (blob read, parser, artifacts, evidence, COPY of the detail rows, ledger, commit) for a
  10,000-component CycloneDX SBOM and a 50,000-result SARIF log, against the bare parser on
  the same bytes in the same run.
- ``ingest: CPU per item ... via receipt_parse``: CPU microseconds per parsed item of the worker
  process and its PostgreSQL backend together (commit included), against the bare parser's CPU
  per item: the machine's cost of a parsed item, which other load on the machine does not inflate
  as it does wall time (here the ratio is a cost: lower is better, 2.0 means "0.5x"). The parse's
  after-commit tasks (policy evaluation, search index) are queued to the bench Redis and dropped.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import hmac
import io
import json
import multiprocessing as mp
import os
import time
from pathlib import Path

from bench.common import backend_cpu, bench_env, django_setup, gunicorn, load, row
from bench.parsers_bench import make_cyclonedx, make_sarif

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "ingest" / "parsers" / "data" / "github" / "workflow_run.completed.json"
SECONDS = float(os.environ.get("INGEST_BENCH_SECONDS", "8"))
# INGEST_BENCH_PARSE=false: the accept rows only (the parse rows take a minute more);
# INGEST_BENCH_ACCEPT=false: the parse rows only (`make bench ARGS=ingest INGEST_BENCH_ACCEPT=false`).
PARSE = os.environ.get("INGEST_BENCH_PARSE", "true").lower() not in ("0", "false", "no")
ACCEPT = os.environ.get("INGEST_BENCH_ACCEPT", "true").lower() not in ("0", "false", "no")
# INGEST_BENCH_STORM=false: without the storm rows (a real worker parsing paced deliveries).
STORM = os.environ.get("INGEST_BENCH_STORM", "true").lower() not in ("0", "false", "no")
STORM_RATE = float(os.environ.get("INGEST_BENCH_STORM_RATE", "14"))  # issue 25: webhooks/s to keep up with
STORM_SECONDS = float(os.environ.get("INGEST_BENCH_STORM_SECONDS", "40"))
STORM_DRAIN_SECONDS = 180
# The latency target is a p99 at this share of the saturation rate (paced clients).
PACED_SHARE = 0.8
CLIENTS = int(os.environ.get("INGEST_BENCH_CLIENTS", "16"))
MAX_REQUESTS = 60_000
GUNICORN_CONF = "compliance_portal/gunicorn.conf.py"


def _production_server() -> dict:
    """Workers and threads as compliance_portal/gunicorn.conf.py sets them on this machine, and its
    hooks (batched parse messages): bench.common.gunicorn passes workers and threads itself."""
    import runpy

    conf = runpy.run_path(str(ROOT / GUNICORN_CONF))
    return {
        "workers": int(os.environ.get("INGEST_BENCH_WORKERS") or conf["workers"]),
        "threads": int(os.environ.get("INGEST_BENCH_THREADS") or conf["threads"]),
    }


def _insert_worker(args) -> int:
    url, seconds = args
    import psycopg

    count = 0
    with psycopg.connect(url, autocommit=True) as conn:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            conn.execute("INSERT INTO bench_ingest_baseline (payload) VALUES (%s)", [f"row {os.getpid()} {count}"])
            count += 1
    return count


def insert_commits_per_second(seconds: float = SECONDS, connections: int = 4) -> float:
    """Durable single-row INSERT commits/s into the bench PostgreSQL (the floor of any accept)."""
    import psycopg

    url = bench_env()["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_ingest_baseline (id bigserial PRIMARY KEY, payload text)")
    start = time.perf_counter()
    with mp.get_context("fork").Pool(connections) as pool:
        counts = pool.map(_insert_worker, [(url, seconds)] * connections)
    elapsed = time.perf_counter() - start
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_ingest_baseline")
    return sum(counts) / elapsed


class _Deliveries:
    """Unique signed deliveries, built inside each client process (pid + request number)."""

    def __init__(self, template: bytes, secret: str):
        self.head, self.tail = template.rsplit(b"}", 1)
        self.secret = secret.encode()

    def body(self, n: int) -> bytes:
        return self.head + b',"bench_nonce":"%d-%d"}' % (os.getpid(), n) + self.tail

    def headers(self, n: int) -> dict:
        body = self.body(n)
        return {
            "Content-Type": "application/json",
            "X-GitHub-Event": "workflow_run",
            "X-GitHub-Delivery": f"bench-{os.getpid()}-{n}-{time.time_ns()}",
            "X-Hub-Signature-256": "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest(),
            "User-Agent": "GitHub-Hookshot/bench",
        }


def _own_services() -> tuple[int | None, str]:
    """The bench PostgreSQL's postmaster pid and the bench Redis's "host:port" (scripts/services.sh)."""
    from urllib.parse import urlsplit

    pidfile = Path(os.environ.get("PORTAL_VAR_DIR", ROOT / "var")) / "pg" / "data" / "postmaster.pid"
    try:
        postmaster = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        postmaster = None
    redis_url = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    return postmaster, f"{redis_url.hostname}:{redis_url.port or 6379}"


def _cpu_seconds(port: int) -> dict[str, float]:
    """CPU seconds used so far by the processes of this run: the server under test (gunicorn master
    and workers), the bench PostgreSQL (its postmaster's backends), and all of them together with
    the bench Redis and the load clients (this process's finished children). Counted per process,
    not for the whole machine: on a machine shared with other work, the machine's CPU time says
    more about the others than about an accept."""
    import resource

    import psutil

    server = postgres = redis_cpu = 0.0
    bind = f"127.0.0.1:{port}"
    postmaster, redis_bind = _own_services()
    for proc in psutil.process_iter(["pid", "ppid", "name", "cmdline", "cpu_times"]):
        info = proc.info
        cmdline, times = info["cmdline"] or [], info["cpu_times"]
        if times is None:
            continue
        used = times.user + times.system
        if "gunicorn" in " ".join(cmdline) and bind in cmdline:  # the master and its forked workers
            server += used
        elif postmaster is not None and postmaster in (info["pid"], info["ppid"]):
            postgres += used
        elif info["name"] == "redis-server" and redis_bind in " ".join(cmdline):
            redis_cpu += used
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the load clients, once their pool is done
    clients = children.ru_utime + children.ru_stime
    return {"server": server, "postgres": postgres, "machine": server + postgres + redis_cpu + clients}


def _cpu_per_request(before: dict, after: dict, requests: int) -> dict[str, float]:
    return {k: 1000 * (after[k] - before[k]) / max(requests, 1) for k in before}


def bench_accepts() -> list[dict]:
    from apps.ingest.models import Receipt
    from apps.ingest.services import source_create

    creds = source_create(actor="system:bench", kind="github", name=f"bench github {time.time_ns()}")
    deliveries = _Deliveries(json.dumps(json.loads(FIXTURE.read_bytes())).encode(), creds.secret)
    path = f"/api/v1/ingest/github?source={creds.source.pk}"
    # A rate far above what the bench can send: it measures accepting, not the limiter saying no.
    server = _production_server()
    env = {"PORTAL_INGEST_RATE": "10000000/min", "GUNICORN_CMD_ARGS": f"-c {GUNICORN_CONF}"}
    with gunicorn(**server, extra_env=env) as url:
        load(
            url, path, method="POST", headers=deliveries.headers, body=deliveries.body, clients=CLIENTS, seconds=1
        )  # warm-up: connections, imports, the source's secret cache
        port = int(url.rsplit(":", 1)[1])
        cpu, idle = _cpu_seconds(port), _machine_idle()
        bare = load(url, "/bench/bare", clients=CLIENTS, seconds=SECONDS / 2)
        bare_cpu = _cpu_per_request(cpu, _cpu_seconds(port), bare["ok"])
        bare_idle = _idle_share(idle, _machine_idle())
        before = Receipt.objects.filter(source=creds.source).count()
        cpu, idle = _cpu_seconds(port), _machine_idle()
        accepted = load(
            url,
            path,
            method="POST",
            headers=deliveries.headers,
            body=deliveries.body,
            clients=CLIENTS,
            seconds=SECONDS,
            max_requests=MAX_REQUESTS,
        )
        accept_cpu = _cpu_per_request(cpu, _cpu_seconds(port), accepted["ok"])
        accept_idle = _idle_share(idle, _machine_idle())
        pace = PACED_SHARE * accepted["rps"]
        # The same deliveries sent on a schedule at 80% of the rate just measured: the latency a
        # sender sees when the server is busy but not saturated (latency from each due time).
        paced = load(
            url,
            path,
            method="POST",
            headers=deliveries.headers,
            body=deliveries.body,
            clients=CLIENTS,
            seconds=SECONDS,
            max_requests=MAX_REQUESTS,
            rate=pace,
        )
    inserts = insert_commits_per_second()
    if accepted["errors"] or paced["errors"]:
        raise RuntimeError(f"{accepted['errors'] + paced['errors']} deliveries were not accepted")
    committed = Receipt.objects.filter(source=creds.source).count() - before
    inproc = _inprocess_cpu(creds.source.pk, deliveries)
    _purge_queue()
    config = f"{server['workers']}x{server['threads']} gthread, {CLIENTS} clients"
    return [
        row(
            f"ingest: signed GitHub deliveries accepted (gunicorn {config})",
            accepted["rps"],
            "accepts/s",
            inserts,
            "single-row INSERT commits/s",
        ),
        row("ingest: accepts/s against the bare view through the same server", accepted["rps"], "accepts/s",
            bare["rps"], "bare-view req/s"),
        # Whether "saturation" saturated the machine: with 16 clients each waiting on an fsync, a slow
        # disk leaves the CPU idle and the rate is the disk's, not the server's (docs/BENCHMARKS.md,
        # "Fourth pass"). Near 0 % when the run was CPU-bound.
        row("ingest: machine CPU idle or waiting on I/O while accepting at saturation", accept_idle, "%",
            bare_idle, "% during the bare view"),
        # Where an accept's CPU goes (2 cores = 2,000 ms of CPU a second, clients included): the
        # gap to 1,000/s explained. "machine" is every process of the run, the load clients included.
        row("ingest: CPU per accept, gunicorn workers", accept_cpu["server"], "ms CPU", bare_cpu["server"],
            "ms CPU per bare-view request"),
        row("ingest: CPU per accept, PostgreSQL", accept_cpu["postgres"], "ms CPU", bare_cpu["postgres"],
            "ms CPU per bare-view request"),
        row("ingest: CPU per accept, all processes of the run (server, PostgreSQL, Redis, load clients)",
            accept_cpu["machine"], "ms CPU", bare_cpu["machine"], "ms CPU per bare-view request"),
        # The floor under an accept here: the raw body is durable before the 202 (a temporary file,
        # its fsync, the rename, the directory's fsync). Its CPU alone is about a bare request's.
        row("ingest: CPU per durable blob write of a delivery's body (in-process, blob_store)", _blob_cpu(), "ms CPU",
            bare_cpu["machine"], "ms CPU per bare-view request"),
        # The same accept without any HTTP server: the WSGI application called directly in this
        # process (parse messages batched as in gunicorn's workers), against the bare view called
        # the same way. What gunicorn adds per request is then the same for both (the rows above
        # minus these); what is left is the accept's own work.
        row("ingest: CPU per accept in-process (WSGI application called directly; this process and its "
            "PostgreSQL backend)", inproc["accept"], "ms CPU", inproc["bare"], "ms CPU per bare-view request"),
        row("ingest: CPU per accept in-process, of it this process's PostgreSQL backend", inproc["accept_postgres"],
            "ms CPU", inproc["commit_postgres"], "ms backend CPU per durable single-row INSERT commit"),
        # What committing a small body with its receipt saves against writing it to the blob store
        # before the 202 (PORTAL_INLINE_BODY_MAX_BYTES=0): more than blob_store()'s own CPU (the row
        # above), since on this VM a request that waits for the fsyncs runs its remaining code slower
        # afterwards (docs/BENCHMARKS.md, "Ingestion accept at line rate").
        row("ingest: CPU per accept in-process with every body written to the blob store before the 202 "
            "(PORTAL_INLINE_BODY_MAX_BYTES=0)", inproc["file_first"], "ms CPU",
            inproc["accept"], "ms CPU per accept in-process, the body committed with its receipt"),
        row("ingest: accept latency p50", accepted["p50_ms"], "ms", bare["p50_ms"], "ms bare view"),
        row("ingest: accept latency p99", accepted["p99_ms"], "ms", bare["p99_ms"], "ms bare view"),
        row(f"ingest: accept latency p50 at 80% of saturation ({pace:.0f}/s paced, {paced['rps']:.0f}/s answered)",
            paced["p50_ms"], "ms", 50, "ms target (p99)"),
        row(f"ingest: accept latency p99 at 80% of saturation ({pace:.0f}/s paced, {paced['rps']:.0f}/s answered)",
            paced["p99_ms"], "ms", 50, "ms target"),
        # Every 202 must stand for a committed receipt (ratio 1.0).
        row("ingest: receipts committed during the timed runs", committed, "receipts",
            accepted["ok"] + paced["ok"], "202 answers"),
    ]


def _wsgi_environ(path: str, query: str = "", body: bytes = b"", headers: dict | None = None) -> dict:
    environ = {
        "REQUEST_METHOD": "POST" if body else "GET", "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
    }  # fmt: skip
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return environ


def _machine_idle() -> tuple[int, int]:
    """(idle + I/O-wait ticks, all ticks) of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])


def _idle_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Per cent of the machine's CPU time between two `_machine_idle()` readings spent idle or waiting on I/O."""
    ticks = after[1] - before[1]
    return 100 * (after[0] - before[0]) / ticks if ticks else 0.0


def _inprocess_cpu(source_id: int, deliveries: _Deliveries, count: int = 1000) -> dict[str, float]:
    """Milliseconds of CPU per request, this process and its PostgreSQL backend together, with the
    WSGI application called directly (no HTTP server, no threads): the bare view; an accept; an
    accept with its body written to the blob store first; and the backend's share. Each the best of three alternated
    runs of `count` requests. Also the backend's CPU per durable single-row INSERT commit."""
    from django.db import connection
    from django.test import override_settings

    from apps.ingest.dispatch import dispatch_batching_start, dispatch_batching_stop
    from bench.wsgi import application

    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    numbers = iter(range(10**9, 2 * 10**9))  # delivery numbers none of the load clients used

    def environs(bare: bool) -> list[dict]:
        if bare:
            return [_wsgi_environ("/bench/bare") for _ in range(count)]
        query = f"source={source_id}"
        return [
            _wsgi_environ("/api/v1/ingest/github", query, deliveries.body(n), deliveries.headers(n))
            for n in (next(numbers) for _ in range(count))
        ]

    def timed(bare: bool) -> tuple[float, float]:
        requests = environs(bare)
        statuses.clear()
        # One backend for the whole run: past PORTAL_DB_CONN_MAX_AGE, Django would close the
        # connection at the end of a request and the next one would count a new backend's CPU.
        connection.ensure_connection()
        connection.close_at = None
        cpu, backend = time.process_time(), backend_cpu()
        for environ in requests:
            for _ in application(environ, start_response):
                pass
        cpu, backend = time.process_time() - cpu, backend_cpu() - backend
        if any(not s.startswith("20") for s in statuses):
            raise RuntimeError(f"in-process accept answered {sorted(set(statuses))}")
        return 1000 * (cpu + backend) / count, 1000 * backend / count

    def file_first():
        return override_settings(PORTAL_INLINE_BODY_MAX_BYTES=0)

    best: dict[str, float] = {}
    dispatch_batching_start()
    try:
        with override_settings(PORTAL_INGEST_RATE="10000000/min"):
            timed(bare=True)  # warm-up, both paths
            timed(bare=False)
            for _ in range(3):
                variants = (("bare", True, None), ("accept", False, None), ("file_first", False, file_first))
                for name, bare, patch in variants:
                    with patch() if patch else contextlib.nullcontext():
                        total, backend = timed(bare)
                    best[name] = min(best.get(name, total), total)
                    if name == "accept":
                        best["accept_postgres"] = min(best.get("accept_postgres", backend), backend)
    finally:
        dispatch_batching_stop()
    best["commit_postgres"] = _commit_backend_cpu()
    return best


def _commit_backend_cpu(count: int = 2000) -> float:
    """PostgreSQL backend CPU (ms) per durable single-row INSERT commit (autocommit; a logged table, so
    each commit flushes the WAL as an accept's does)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_commit_floor (id bigserial PRIMARY KEY, payload text)")
        before = backend_cpu()
        for n in range(count):
            cursor.execute("INSERT INTO bench_commit_floor (payload) VALUES (%s)", [f"row {n}"])
        used = backend_cpu() - before
        cursor.execute("DROP TABLE bench_commit_floor")
    return 1000 * used / count


def _blob_cpu(count: int = 300) -> float:
    """Milliseconds of this process's CPU (user and system) per blob_store() of a unique ~5 KB body."""
    from apps.ingest.blobs import blob_store

    template = FIXTURE.read_bytes()
    start = time.process_time()
    for n in range(count):
        blob_store(template + b"\n" + f"{os.getpid()}-{time.time_ns()}-{n}".encode())
    return 1000 * (time.process_time() - start) / count


def _purge_queue() -> None:
    """No worker runs during the bench: drop the parse messages it queued."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).delete("default")


def _parse_rate(fmt: str, body: bytes, items: int, bare_parser) -> dict:
    """Wall and CPU seconds of the bare parser and of receipt_parse (commit included) on `body`.

    CPU is what the worker process and its PostgreSQL backend used (process_time and the backend's
    /proc counters): unlike wall time, it does not grow when other work shares the machine."""
    from apps.ingest.models import Receipt
    from apps.ingest.services import receipt_accept, receipt_parse, source_create

    source = source_create(actor="system:bench", kind="generic-ci", name=f"bench {fmt} {time.time_ns()}").source
    bare_s = bare_cpu = float("inf")
    for _ in range(2):  # the better of two: the first also warms the parser's caches
        start, cpu = time.perf_counter(), time.process_time()
        bare_parser(body)
        bare_s = min(bare_s, time.perf_counter() - start)
        bare_cpu = min(bare_cpu, time.process_time() - cpu)
    receipt, _ = receipt_accept(
        source=source, channel="upload", body=body, subject="pkg:generic/bench@1", format_hint=fmt, enqueue=False
    )
    backend = backend_cpu()
    start, cpu = time.perf_counter(), time.process_time()
    parsed = receipt_parse(receipt_id=receipt.pk)
    full_s, worker_cpu = time.perf_counter() - start, time.process_time() - cpu
    postgres_cpu = backend_cpu() - backend
    if parsed is None or parsed.state != Receipt.State.PARSED:
        raise RuntimeError(f"{fmt}: receipt not parsed: {parsed and parsed.error}")
    return {"items": items, "full_s": full_s, "bare_s": bare_s, "bare_cpu": bare_cpu, "worker_cpu": worker_cpu,
            "postgres_cpu": postgres_cpu}  # fmt: skip


def _broker_connect() -> None:
    """Open the broker connection the parse's after-commit tasks go out on, as a worker process has it open
    after its first task: measured inside the first parse, it added ~0.2 s CPU to the CycloneDX row."""
    from compliance_portal.celery import app

    with app.producer_or_acquire() as producer:
        producer.connection.ensure_connection()


def bench_parse() -> list[dict]:
    from apps.formats import parse_cyclonedx, parse_sarif

    _broker_connect()
    # As each worker pool process does once it is set up (compliance_portal/celery.py): the collector's
    # full passes skip the ~150,000 objects of Django and the apps, for the bare parser and receipt_parse
    # alike (before, both paid for walking them: ~0.1 s of the bare CycloneDX parser's ~0.29 s CPU).
    gc.freeze()
    rows = []
    for fmt, label, body, items, parser, unit in (
        ("cyclonedx", "10,000-component CycloneDX", make_cyclonedx(), 10_000, parse_cyclonedx, "components/s"),
        ("sarif", "50,000-result SARIF", make_sarif(), 50_000, parse_sarif, "results/s"),
    ):
        result = _parse_rate(fmt, body, items, parser)
        rows.append(
            row(
                f"ingest: parse {label} via receipt_parse ({result['full_s']:.1f} s)",
                items / result["full_s"],
                unit,
                items / result["bare_s"],
                f"{unit} bare parser",
            )
        )
        per_item = 1e6 / items
        rows.append(
            row(
                f"ingest: CPU per item, {label} via receipt_parse (worker {result['worker_cpu']:.2f} s + "
                f"PostgreSQL {result['postgres_cpu']:.2f} s)",
                (result["worker_cpu"] + result["postgres_cpu"]) * per_item,
                "µs CPU",
                result["bare_cpu"] * per_item,
                "µs CPU bare parser",
            )
        )
    _purge_queue()  # no worker runs during the bench: drop the tasks the parses queued after commit
    return rows


class _StormDeliveries(_Deliveries):
    """Deliveries about a fresh commit each (workflow_run head_sha and head_commit id), as a busy CI
    sends them: every parse makes a new commit artifact, and every evaluation judges new subjects."""

    def __init__(self, template: bytes, secret: str, sha: str):
        super().__init__(template, secret)
        self.template, self.sha = template, sha.encode()

    def body(self, n: int) -> bytes:
        commit = hashlib.sha1(b"%d-%d" % (os.getpid(), n)).hexdigest().encode()  # noqa: S324 - an id, not a digest
        return self.template.replace(self.sha, commit)


def _worker_cpu(proc) -> float:
    """CPU seconds of a celery worker so far: its main process and the pool processes it forked."""
    import psutil

    total = 0.0
    main = psutil.Process(proc.pid)
    for p in [main, *main.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def _postgres_cpu() -> float:
    """CPU seconds used so far by the bench PostgreSQL's postmaster and its backends."""
    return _cpu_seconds(port=0)["postgres"]  # no server listens on port 0: only PostgreSQL's share counts


def _storm_source():
    """A GitHub source bound to a system of its own, which the default rule set judges (SOC 2, GDPR)."""
    from apps.ingest.services import source_create
    from apps.inventory.models import Environment, System

    stamp = time.time_ns()
    system = System.objects.create(
        slug=f"bench-storm-{stamp}", name=f"Bench storm {stamp}", kind="service", risk_tier="high",
        data_classes=["pii"], frameworks=["soc2", "gdpr"],
    )  # fmt: skip
    Environment.objects.create(system=system, name="prod", region="eu-west-1")
    return source_create(actor="system:bench", kind="github", name=f"bench storm {stamp}", system=system)


@contextlib.contextmanager
def _default_worker(concurrency: str):
    """The Procfile's default-queue worker, on the bench database and Redis, until the block ends."""
    import subprocess

    from bench.common import PYTHON, bench_env

    worker = subprocess.Popen(
        [PYTHON, "-m", "celery", "-A", "compliance_portal", "--quiet", "worker", "--loglevel", "WARNING",
         "--concurrency", concurrency, "--queues", "default", "--hostname", f"bench-storm-{time.time_ns()}@%h"],
        cwd=ROOT, env=bench_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()


def bench_storm() -> list[dict]:
    """Paced signed deliveries through gunicorn while a real worker (the Procfile's default-queue
    worker: concurrency 2) parses them and evaluates policy after: does parsing keep up?"""
    import threading

    from django.db.models import Count

    from apps.ingest.models import Receipt
    from apps.policy.models import PendingEvaluation

    _purge_queue()
    creds = _storm_source()
    template = json.dumps(json.loads(FIXTURE.read_bytes())).encode()
    deliveries = _StormDeliveries(template, creds.secret, json.loads(template)["workflow_run"]["head_sha"])
    path = f"/api/v1/ingest/github?source={creds.source.pk}"
    mine = Receipt.objects.filter(source=creds.source)

    def counts() -> dict:
        return dict(mine.values_list("state").annotate(n=Count("id")))

    env = {"PORTAL_INGEST_RATE": "10000000/min", "GUNICORN_CMD_ARGS": f"-c {GUNICORN_CONF}"}
    concurrency = os.environ.get("WORKER_CONCURRENCY", "2")
    samples: list[tuple[float, dict]] = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append((time.perf_counter(), counts()))
            stop.wait(1.0)

    with _default_worker(concurrency) as worker, gunicorn(**_production_server(), extra_env=env) as url:
        time.sleep(3)  # the worker's pool processes are up
        cpu_worker, cpu_postgres = _worker_cpu(worker), _postgres_cpu()
        sampler = threading.Thread(target=sample, daemon=True)
        started = time.perf_counter()
        sampler.start()
        storm = load(
            url, path, method="POST", headers=deliveries.headers, body=deliveries.body,
            clients=4, seconds=STORM_SECONDS, rate=STORM_RATE,
        )  # fmt: skip
        stopped = time.perf_counter()
        at_stop = counts()
        # Then until every receipt is parsed and every evaluation it asked for has run.
        deadline = stopped + STORM_DRAIN_SECONDS
        while time.perf_counter() < deadline and (
            counts().get("parsed", 0) < storm["ok"] or PendingEvaluation.objects.exists()
        ):
            time.sleep(0.25)
        drained = time.perf_counter()
        stop.set()
        sampler.join()
        worker_cpu, pg_cpu = _worker_cpu(worker) - cpu_worker, _postgres_cpu() - cpu_postgres
    final = counts()
    if storm["errors"] or final.get("failed"):
        raise RuntimeError(f"storm: {storm['errors']} deliveries refused, {final.get('failed', 0)} receipts failed")
    duration = stopped - started
    # Backlog (accepted, not yet parsed) a third of the way in and at the end: a queue that keeps
    # growing means parsing does not keep up.
    third = min(samples, key=lambda s: abs(s[0] - (started + duration / 3)))[1]
    backlog_third = sum(n for k, n in third.items() if k != "parsed")
    backlog_end = sum(n for k, n in at_stop.items() if k != "parsed")
    label = f"{STORM_RATE:.0f} webhooks/s paced for {STORM_SECONDS:.0f} s, worker concurrency {concurrency}"
    return [
        row(f"ingest: storm ({label}): receipts parsed/s during the storm", at_stop.get("parsed", 0) / duration,
            "receipts/s", storm["ok"] / duration, "accepted/s"),
        row(f"ingest: storm ({label}): receipts not yet parsed at the end (a third of the way in: {backlog_third})",
            backlog_end, "receipts", storm["ok"], "accepted"),
        row(f"ingest: storm ({label}): seconds after the storm until all is parsed and evaluated", drained - stopped,
            "s", duration, "s of storm"),
        row(f"ingest: storm ({label}): CPU per receipt, worker (parse, evaluation, index) + PostgreSQL "
            f"(worker {worker_cpu:.1f} s, PostgreSQL {pg_cpu:.1f} s)", 1000 * (worker_cpu + pg_cpu) / storm["ok"],
            "ms CPU", 1000 / STORM_RATE, "ms between deliveries"),
    ]  # fmt: skip


def run() -> list[dict]:
    django_setup()
    return (bench_accepts() if ACCEPT else []) + (bench_parse() if PARSE else []) + (bench_storm() if STORM else [])


if __name__ == "__main__":
    for r in run():
        print(r)
