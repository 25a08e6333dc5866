"""Shared fixtures: users per role, a real Celery worker process, a real headless Chromium."""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import current_app

from apps.accounts.roles import Role
from compliance_portal.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
# Playwright's sync API runs an event loop in the test thread; Django's ORM calls made by
# the test around it are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TEST_PASSWORD = "correct-horse-battery-staple-42"
# The queues the test worker consumes (CELERY_TASK_DEFAULT_QUEUE and the heavy route).
QUEUES = ("default", "heavy")
_OTHER_SESSIONS = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"


def pytest_configure(config):
    from tests import flush, templatedb

    flush.install()  # the flush between transactional tests skips post_migrate when it can (tests/flush.py)
    templatedb.install()  # one migrate per PostgreSQL cluster, copies for the other processes (tests/templatedb.py)


def pytest_collection_finish(session):
    """Move what collection built (Django, the apps, every test module and item) out of the collector's reach,
    and collect the young generation every 10,000 allocations instead of 700.

    A pytest process holds millions of long-lived objects, and CPython's full collections walked them all
    again and again: 5-6 s of an 80-second run of the authorization matrix and the policy tests went to the
    collector, 1.2-1.4 s with this (docs/operations.md, "The test suite"). The same idea as the Celery
    worker's `freeze_start_up_objects`; objects made by tests are collected as before."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 10)


# ---------------------------------------------------------------- the fast lane and the slow lane
# A test is in the slow lane (marker `slow`) when it runs real processes or servers: a Celery worker, Chromium,
# Django's live server, the fault stack, a registry or MLflow server; or says so with @pytest.mark.slow.
SLOW_FIXTURES = {"celery_worker", "heavy_workers", "live_server", "browser", "page", "fault_stack", "stack",
                 "s3_worker", "registry", "mlflow_url", "sequencer", "dev_static_root"}
SLOW_MARKERS = ("worker", "browser")
SLOW_DIRS = ("tests/faults/",)


def _is_slow(item: pytest.Item) -> bool:
    return (
        item.get_closest_marker("slow") is not None
        or any(item.get_closest_marker(name) for name in SLOW_MARKERS)
        or not SLOW_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))
        or item.nodeid.startswith(SLOW_DIRS)
    )


def _module_of(item: pytest.Item) -> str:
    module = getattr(item, "module", None)
    return module.__name__ if module is not None else item.nodeid


def pytest_collection_modifyitems(config, items):
    """Mark the slow lane, then run the fast lane first: the modules with no slow test, then the others.
    A module stays whole in one lane (its module-scoped fixtures, a worker or a world, are not set up
    twice for it) and the order within a lane is pytest-django's (this hook runs after its own)."""
    slow_modules = set()
    for item in items:
        if _is_slow(item):
            item.add_marker(pytest.mark.slow)
            slow_modules.add(_module_of(item))
    items.sort(key=lambda item: _module_of(item) in slow_modules)


@pytest.fixture
def make_user(db):
    """make_user(role, username=None) creates a user through the accounts service."""
    from apps.accounts.services import user_create

    counter = {"n": 0}

    def _make(*roles: str, username: str | None = None, **fields):
        counter["n"] += 1
        name = username or f"{'-'.join(roles) or 'norole'}-{counter['n']}"
        return user_create(username=name, password=TEST_PASSWORD, roles=roles, **fields)

    return _make


@pytest.fixture
def admin_user(make_user):
    return make_user(Role.ADMIN)


@pytest.fixture
def compliance_officer(make_user):
    return make_user(Role.COMPLIANCE_OFFICER)


@pytest.fixture
def risk_owner(make_user):
    return make_user(Role.RISK_OWNER)


@pytest.fixture
def engineer(make_user):
    return make_user(Role.ENGINEER)


@pytest.fixture
def auditor(make_user):
    return make_user(Role.AUDITOR)


def _worker_env(db_name: str) -> dict[str, str]:
    import dj_database_url

    env = dict(os.environ)
    url = dj_database_url.parse(os.environ["DATABASE_URL"])
    # The worker must see the test database that pytest-django created, not the dev one.
    env["DATABASE_URL"] = (
        f"postgres://{url['USER']}@{url['HOST']}:{url['PORT']}/{db_name}"
    )
    env["PORTAL_DB_CONN_MAX_AGE"] = "0"
    return env


# The worker while a module that asked for it runs: it serves every later test of the module, including
# those that do not ask for it (their uploads are queued and it parses them too).
_module_workers: list[subprocess.Popen] = []
# A queue nobody sends to: the session worker consumes only this one while it is parked.
PARKED_QUEUE = f"test-parked-{os.getpid()}"


class SessionWorker:
    """The session's real `celery worker` process: `celery_worker` starts it, or wakes it, for a module, and parks it
    at the module's end (it stops consuming the test queues once what it took has finished). Parked, it consumes
    only a queue nobody sends to and answers control commands, so the next module that asks for a worker wakes it
    with `add_consumer` instead of starting another (a start costs seconds of CPU: Django, Celery and every task
    module imported again). Between modules Redis is emptied but for kombu's bindings (_redis_emptied), which the
    parked worker needs to receive that wake-up."""

    def __init__(self, db_name: str, db_blocker) -> None:
        self.env = _worker_env(db_name)
        self._db_blocker = db_blocker
        self.proc: subprocess.Popen | None = None
        self._running: contextlib.ExitStack | None = None

    @property
    def hostname(self) -> str:
        return f"test-{os.getpid()}@{socket.gethostname()}"

    def _control(self, method: str, queue: str) -> None:
        from compliance_portal.celery import app

        # The solo pool answers a control command only between tasks: the reply means the task that
        # was running has returned. No reply in time: stop the worker (the next module starts one).
        replies = getattr(app.control, method)(queue, destination=[self.hostname], reply=True, timeout=60)
        if not replies:
            self.stop()
            raise RuntimeError(f"{self.hostname} did not answer {method}({queue!r}) within 60 s")

    def consume(self) -> subprocess.Popen:
        """Wake the parked worker, or start one: from now on it consumes the test queues."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                for queue in QUEUES:
                    self._control("add_consumer", queue)
                return self.proc
            except RuntimeError as exc:  # _control stopped it; a fresh one follows
                sys.stderr.write(f"\nthe parked test worker did not wake ({exc}); starting another\n")
        self._running = contextlib.ExitStack()
        self.proc = self._running.enter_context(
            running_celery_worker(self.env, name="test", queues=",".join((*QUEUES, PARKED_QUEUE))))
        return self.proc

    def park(self) -> None:
        """Stop consuming the test queues once the current task returned, and wait until what the worker
        had already taken has finished (nothing unacknowledged, no open transaction)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for queue in QUEUES:
            self._control("cancel_consumer", queue)
        with self._db_blocker.unblock():
            settled = worker_settled(include_queued=False)
        if not settled:
            self.stop()

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
        self.proc, self._running = None, None


@pytest.fixture(scope="session")
def _session_worker(django_db_setup, django_db_blocker):
    """The session's SessionWorker (not started until a module asks for `celery_worker`)."""
    from django.db import connection

    with django_db_blocker.unblock():
        db_name = connection.settings_dict["NAME"]
    worker = SessionWorker(db_name, django_db_blocker)
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def celery_worker(_session_worker):
    """A real `celery worker` process on the test Redis and the test database, consuming the test
    queues for this module's tests (the session's worker: see SessionWorker)."""
    import redis
    from django.conf import settings

    # What earlier tests queued, cached or rate-limited goes: the module starts from an empty Redis.
    _redis_emptied(redis.Redis.from_url(settings.REDIS_URL))
    proc = _session_worker.consume()
    _assert_the_worker_receives(_session_worker.hostname)
    _module_workers.append(proc)
    try:
        yield proc
    finally:
        _module_workers.remove(proc)
        _session_worker.park()  # drained; the next module that asks for a worker wakes it


# kombu's Redis transport keeps each exchange's queue bindings in keys of this prefix: without them a parked
# worker gets no control command (the pidbox fanout) and a woken one no task.
KOMBU_BINDINGS = b"_kombu.binding."


def _redis_emptied(client) -> None:
    """Delete every key of the test Redis database but kombu's bindings: queued and unacknowledged messages,
    the cache, rate limits and results go; a parked worker can still be woken."""
    doomed = [key for key in client.scan_iter(count=1000) if not key.startswith(KOMBU_BINDINGS)]
    for start in range(0, len(doomed), 1000):
        client.delete(*doomed[start:start + 1000])


def _assert_the_worker_receives(hostname: str, timeout: float = 30.0) -> None:
    """Send a no-op task (Celery's own `celery.accumulate`) to each test queue from this process and wait
    until the worker has run them: a module whose messages go nowhere fails here, naming why, instead of
    in a test waiting for a parse that never comes."""
    import threading

    import redis
    from django.conf import settings

    from compliance_portal.celery import app

    def ran() -> int:
        stats = app.control.inspect(destination=[hostname], timeout=1.0).stats() or {}
        return stats.get(hostname, {}).get("total", {}).get("celery.accumulate", 0)

    before = ran()
    errors = []
    for queue in QUEUES:
        try:
            app.send_task("celery.accumulate", args=(queue,), queue=queue, retry=False)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(f"{queue}: {exc!r}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not errors:
        if ran() >= before + len(QUEUES):
            return
        time.sleep(0.2)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    pool = app.pool
    raise RuntimeError(
        f"the test worker did not run what this process sent: publish errors {errors}, ran {ran() - before}; "
        f"broker keys {sorted(k.decode() for k in broker.keys('*'))[:20]}, "
        f"queue lengths { {q: broker.llen(q) for q in QUEUES} }, eager {app.conf.task_always_eager}, "
        f"broker {app.conf.broker_url!r}, pool {type(pool).__name__} limit {getattr(pool, 'limit', '?')}, "
        f"threads {[t.name for t in threading.enumerate()]}"
    )


@pytest.fixture
def no_celery_worker(_session_worker):
    """Stops the session's parked worker: for tests that count the workers answering a ping."""
    _session_worker.stop()


def worker_settled(*, timeout: float = 30.0, quiet_polls: int = 3, interval: float = 0.2,
                   include_queued: bool = True) -> bool:
    """Wait until nothing is queued (unless include_queued is false), nothing is running (acks_late: a
    running task stays in kombu's `unacked` hash until it returns) and no other session of the test
    database is inside a statement or a transaction, for `quiet_polls` polls in a row. False when
    `timeout` passed first."""
    import redis
    from django.conf import settings
    from django.db import connection

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    deadline, quiet = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        pipe = broker.pipeline(transaction=True)
        for queue in QUEUES if include_queued else ():
            pipe.llen(queue)
        pipe.hlen("unacked")
        broker_busy = any(pipe.execute())
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) {_OTHER_SESSIONS} AND state IN ('active', 'idle in transaction')")
            db_busy = cursor.fetchone()[0] > 0
        quiet = 0 if broker_busy or db_busy else quiet + 1
        if quiet >= quiet_polls:
            return True
        time.sleep(interval)
    return False


@pytest.fixture(autouse=True)
def _worker_settles_before_flush(request):
    """A module's worker outlives each test: let what a test set going finish before pytest-django
    truncates every table, or a task still inside a transaction deadlocks with the TRUNCATE."""
    yield
    marker = request.node.get_closest_marker("django_db")
    flushes = "transactional_db" in request.fixturenames or (marker is not None and marker.kwargs.get("transaction"))
    if not _module_workers or not flushes:
        return
    if worker_settled():
        return
    # Still busy after 30 s (a task retrying with a countdown, say): end the other sessions so the
    # flush cannot deadlock; the worker reconnects for its next task.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_terminate_backend(pid) {_OTHER_SESSIONS}")
    sys.stderr.write(f"\n{request.node.nodeid}: worker still busy at teardown; its sessions were ended\n")


@contextlib.contextmanager
def running_celery_worker(env: dict, *, name: str, queues: str):
    """Start `celery worker` (solo pool) with `env`, wait until it answers a ping, stop it after."""
    from compliance_portal.celery import app

    log = open(ROOT / "var" / f"celery-worker-{name}-{os.getpid()}.log", "a")  # noqa: SIM115
    hostname = f"{name}-{os.getpid()}@{socket.gethostname()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "compliance_portal", "worker", "--pool", "solo",
         "--loglevel", "INFO", "--queues", queues, "--without-mingle", "--without-gossip",
         "--hostname", hostname],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"celery worker exited with {proc.returncode}; see {log.name}")
            # Its own pong: another worker (the session's, parked) may answer a ping too.
            if app.control.ping(destination=[hostname], timeout=0.5):
                break
        else:
            raise RuntimeError(f"celery worker did not answer a ping in 60 s; see {log.name}")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def collect_static(profile: str, root: Path) -> subprocess.CompletedProcess:
    """`manage.py collectstatic` into `root` in the dev or prod profile, as `make run` or the image runs it
    (compression included: brotli and gzip copies of every file)."""
    from tests.test_settings import PROD_ENV

    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_") and k not in PROD_ENV}
    env.update(PROD_ENV if profile == "prod" else {"PORTAL_PROFILE": "dev"})
    env["PORTAL_STATIC_ROOT"] = str(root)
    return subprocess.run([sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="session")
def dev_static_root(tmp_path_factory) -> Path:
    """Static files collected once per session in the dev profile (seconds of compression), for the tests
    that check what collectstatic writes and the one that serves them."""
    root = tmp_path_factory.mktemp("static-dev")
    result = collect_static("dev", root)
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (its own browser download cannot work here)."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def wait_until(predicate, *, timeout: float = 30.0, interval: float = 0.1):
    """Poll until predicate() is truthy; returns its value or fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


@pytest.fixture(autouse=True)
def _project_celery_app_stays_current():
    """Fail the test that leaves another Celery app current: every shared task publishes through the current
    app, so each later task of this process went to that app's broker (a memory:// one loses it silently)."""
    yield
    current = current_app._get_current_object()
    if current is not celery_app:
        celery_app.set_current()
        pytest.fail(f"this test left the Celery app {current.main!r} current; build it with set_as_current=False")


@pytest.fixture(autouse=True)
def _ledger_witness_file(request, tmp_path):
    """Each test gets its own checkpoint witness file (the real one lives under var/)."""
    if "settings" not in request.fixturenames and not request.node.get_closest_marker("django_db"):
        yield
        return
    settings = request.getfixturevalue("settings")
    settings.PORTAL_LEDGER_WITNESS_FILE = tmp_path / "ledger-checkpoints.jsonl"
    yield
