"""A whole portal of its own for the fault tests: PostgreSQL and Redis of the "fault" profile of
scripts/services.sh (never the shared test services), migrated from scratch, a real gunicorn on
a free loopback port, and real Celery workers: one prefork worker on the default queue and one
heavy worker exactly as the Procfile runs them. The tests stop, start and kill these.

The test process never opens the fault database through Django (pytest-django owns Django's
connection): it reads it with plain psycopg, and runs management commands as subprocesses.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg
import redis
import requests
from celery import Celery
from redis.backoff import NoBackoff
from redis.retry import Retry

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "scripts" / "services.sh"

OFFICER_PASSWORD = "fault-officer-password-42"  # noqa: S105 - a test user's password on a throw-away database
# One source per test, so that each test's reconciliation counts only what it sent; the pack test's
# evidence belongs to a system of its own, so that its pack holds only that.
SOURCES = {
    "gh-redis": ("github", "fault-payments"),
    "gh-aof": ("github", "fault-payments"),
    "gh-postgres": ("github", "fault-payments"),
    "gh-replay": ("github", "fault-payments"),
    "ci-kill": ("generic-ci", "fault-payments"),
    "gh-pack": ("github", "fault-packs"),
}
# One Django start-up instead of two: migrate, then what every fault test sends with.
_MIGRATE_AND_SETUP = f"""
import json
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
from apps.accounts.roles import Role
from apps.accounts.services import user_create
from apps.ingest.services import source_create
from apps.inventory.models import System

systems = {{slug: System.objects.create(name=slug.replace("-", " ").title(), slug=slug, risk_tier="high")
           for slug in ("fault-payments", "fault-packs")}}
officer = user_create(username="officer", password={OFFICER_PASSWORD!r}, roles=[Role.COMPLIANCE_OFFICER])
sources = {{}}
for name, (kind, slug) in {SOURCES!r}.items():
    sources[name] = source_create(actor="system:fault-tests", kind=kind, name=name, system=systems[slug]).as_json()
print(json.dumps({{"officer": officer.pk, "sources": sources}}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll until predicate() is truthy and return it; AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout} s")
        time.sleep(interval)


class Process:
    """A child process in its own process group, logging to a file."""

    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def children(self) -> list[int]:
        """PIDs of this process's direct children (a prefork worker's pool processes)."""
        return [child.pid for child in psutil.Process(self.pid).children()]

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean shutdown, no acknowledgement."""
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class FaultStack:
    """Services, schema, web server and workers of the fault tests; see the module docstring."""

    def __init__(self) -> None:
        self.slot = os.environ.get("PORTAL_SLOT", "")
        self._service_env = {k: v for k, v in os.environ.items()}
        out = self._services("env", capture=True)
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.database_url = values["DATABASE_URL"]
        self.redis_url = values["REDIS_URL"]
        self.var = Path(values["PORTAL_VAR_DIR"])
        self.app_var = self.var / "app"  # blobs, packs, witness file: wiped at every start
        self.logs = self.var / "logs"
        self.pg_port = int(self.database_url.rsplit(":", 1)[1].split("/")[0])
        self.redis_port = int(self.redis_url.rsplit(":", 1)[1].split("/")[0])
        self.dsn = f"postgresql://portal@127.0.0.1:{self.pg_port}/portal"
        self.web_port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.redis_url,
            "PORTAL_PROFILE": "test",
            "PORTAL_VAR_DIR": str(self.app_var),
            "PORTAL_LEDGER_WITNESS_FILE": str(self.app_var / "ledger-checkpoints.jsonl"),
            # Persistent connections as in production: they must survive a PostgreSQL restart.
            "PORTAL_DB_CONN_MAX_AGE": "60",
            # The sweep re-queues receipts queued longer than this (the minimum the setting allows).
            "PORTAL_RECEIPT_SWEEP_SECONDS": "10",
            # A killed pack build's lease lapses in seconds, and a pack of a few hundred rows has chunks.
            "PORTAL_PACK_LEASE_SECONDS": "3",
            "PORTAL_PACK_CHUNK_ROWS": "20",
            "PORTAL_LOG_LEVEL": "INFO",
        }
        for name in ("PORTAL_EVIDENCE_ROOT", "PORTAL_PACK_ROOT", "PORTAL_MEDIA_ROOT", "PORTAL_EVIDENCE_STORAGE"):
            self.env.pop(name, None)
        self.processes: dict[str, Process] = {}
        self.worker_restarts = 0
        self._t0 = time.monotonic()
        # Not the process's current app: every shared task publishes through the current app, so later tests
        # in this process would send their tasks to this stack's Redis (tests/test_fault_stack_client.py).
        self.celery = Celery("fault-client", broker=self.redis_url, set_as_current=False)
        self.celery.conf.update(
            task_serializer="json", accept_content=["json"], task_default_queue="default",
            broker_connection_retry_on_startup=True,
        )

    # ---------------------------------------------------------------- services

    def _services(self, command: str, *, capture: bool = False) -> str:
        result = subprocess.run(
            [str(SERVICES), command, "fault"], cwd=ROOT, env=self._service_env, check=True,
            capture_output=True, text=True,
        )
        return result.stdout if capture else ""

    def _pg(self, *args: str) -> list[str]:
        bin_dir = next(d for d in ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin",
                                   "/usr/lib/postgresql/15/bin") if Path(d, "pg_ctl").exists())
        command = [f"{bin_dir}/{args[0]}", *args[1:]]
        # PostgreSQL refuses to run as root; services.sh runs it as the postgres user then.
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def services_start(self) -> None:
        self._services("start")

    def services_stop(self) -> None:
        self._services("stop")

    def postgres_stop(self) -> None:
        """Fast shutdown: open sessions are terminated (clients see 57P01), nothing is lost."""
        subprocess.run(self._pg("pg_ctl", "-D", str(self.var / "pg" / "data"), "-m", "fast", "-w", "stop"),
                       check=True, capture_output=True)

    def postgres_start(self) -> None:
        self._services("start")  # starts only what is not running

    def redis_stop(self) -> None:
        """SHUTDOWN: Redis flushes its append-only file and exits (what a restart or upgrade does)."""
        # NOSAVE skips an RDB snapshot; the AOF is still fsynced. Redis closes the connection as it exits.
        with contextlib.suppress(redis.ConnectionError):
            self.redis().shutdown(nosave=True)
        wait_for(lambda: not self.redis_alive(), timeout=10, what="redis stopped")

    def redis_start(self) -> None:
        """Start Redis and wait until it has loaded its append-only file and answers commands.

        Between accepting connections and finishing the load Redis answers LOADING (redis-py raises
        BusyLoadingError), so a test reading a queue right after the start would race the load.
        """
        self._services("start")
        wait_for(self.redis_loaded, timeout=30, what="redis loaded its data")

    def redis_loaded(self) -> bool:
        try:
            return self.redis().info("persistence").get("loading") == 0
        except redis.RedisError:  # includes BusyLoadingError while the AOF is replayed
            return False

    def redis_alive(self) -> bool:
        try:
            return bool(self.redis().ping())
        except redis.RedisError:
            return False

    def redis(self) -> redis.Redis:
        # No client-side retries (redis-py retries 3 times with backoff by default): a refusal is the answer.
        return redis.Redis(port=self.redis_port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))

    # ---------------------------------------------------------------- database

    def reset_database(self) -> None:
        with psycopg.connect(f"postgresql://portal@127.0.0.1:{self.pg_port}/postgres", autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS portal WITH (FORCE)")
            conn.execute("CREATE DATABASE portal")

    def sql(self, query: str, params=None) -> list[tuple]:
        """One query on the fault database, on a fresh connection (it survives restarts in between)."""
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()

    def scalar(self, query: str, params=None):
        return self.sql(query, params)[0][0]

    # ---------------------------------------------------------------- Django, as subprocesses

    def manage(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def django(self, code: str) -> dict:
        """Run Python in the portal's Django (fault database); the code prints one JSON object."""
        return json.loads(self.manage("shell", "-c", code).stdout.strip().splitlines()[-1])

    def reconcile(self, *sources: str, sent: int | None = None, accepted: int | None = None) -> dict:
        args = ["ingest_reconcile", "--json", "--settled"]
        for source in sources:
            args += ["--source", source]
        if sent is not None:
            args += ["--sent", str(sent)]
        if accepted is not None:
            args += ["--accepted", str(accepted)]
        result = self.manage(*args, check=False)
        report = json.loads(result.stdout)
        report["exit_code"] = result.returncode
        return report

    # ---------------------------------------------------------------- processes

    def start_web(self) -> None:
        """gunicorn as production runs it (Procfile: its config file), two workers for two cores."""
        config = ROOT / "compliance_portal" / "gunicorn.conf.py"
        app = ["-c", str(config)] if config.exists() else ["compliance_portal.wsgi:application", "--workers", "3"]
        self.processes["web"] = Process("web", [
            sys.executable, "-m", "gunicorn", *app, "--bind", f"127.0.0.1:{self.web_port}",
            "--access-logfile", "-", "--no-control-socket",
        ], {**self.env, "WEB_CONCURRENCY": "2"}, self.logs)

    def start_worker(self, name: str, *, queues: str, concurrency: int, heavy: bool = False) -> Process:
        args = [sys.executable, "-m", "celery", "-A", "compliance_portal", "worker", "--pool", "prefork",
                "--concurrency", str(concurrency), "--queues", queues, "--loglevel", "INFO",
                "--without-mingle", "--without-gossip", "--hostname", f"{name}@fault"]
        if heavy:
            args += ["--max-tasks-per-child", "1"]
        self.processes[name] = Process(name, args, self.env, self.logs)
        return self.processes[name]

    WORKERS = {"default": {"queues": "default", "concurrency": 2}, "heavy": {"queues": "heavy", "concurrency": 1,
                                                                            "heavy": True}}

    def supervise(self) -> None:
        """Start again a worker that exited, as production's process manager does (docker-compose
        `restart: unless-stopped`). Celery 5.7 / kombu 5.7 workers can exit with "Unrecoverable error:
        AttributeError('NoneType' object has no attribute 'hostname')" when the broker connection drops
        while they hold unacknowledged messages; counted in `worker_restarts`."""
        for name, options in self.WORKERS.items():
            process = self.processes.get(name)
            if process is not None and not process.alive():
                self._mark(f"worker {name} exited with {process.proc.returncode}; starting it again")
                process.stop()
                self.worker_restarts += 1
                self.start_worker(name, **options)

    def wait_web(self, timeout: float = 60) -> None:
        def answers() -> bool:
            if not self.processes["web"].alive():
                raise AssertionError(f"gunicorn exited; see {self.processes['web'].log_path}")
            try:  # any answer of the application will do (the first one imports Django: slow)
                return requests.get(f"{self.base_url}/api/v1/receipts/0", timeout=30).status_code < 500
            except (requests.ConnectionError, requests.Timeout):
                return False

        wait_for(answers, timeout=timeout, interval=0.2, what="gunicorn answering")

    def wait_worker(self, name: str, timeout: float = 60, *, restart: bool = True) -> None:
        def pongs() -> bool:
            if not self.processes[name].alive():
                if not restart:
                    raise AssertionError(f"worker {name} exited; see {self.processes[name].log_path}")
                self.supervise()
            try:
                with self.celery.connection_for_write() as conn:
                    return bool(self.celery.control.ping(destination=[f"{name}@fault"], timeout=0.5, connection=conn))
            except (OSError, redis.RedisError):  # Redis restarting
                return False

        wait_for(pongs, timeout=timeout, interval=0.2, what=f"worker {name} answering a ping")

    def active_task_pid(self, worker: str, task_name: str, timeout: float = 20) -> int:
        """The pool process that runs `task_name` on `worker` right now (Celery's own report)."""

        def find():
            with self.celery.connection_for_write() as conn:
                inspect = self.celery.control.inspect(destination=[f"{worker}@fault"], timeout=1, connection=conn)
                replies = inspect.active() or {}
            for tasks in replies.values():
                for task in tasks:
                    if task["name"] == task_name:
                        return task["worker_pid"]
            return None

        return wait_for(find, timeout=timeout, interval=0.05, what=f"{task_name} active on {worker}")

    def send_task(self, name: str, args=(), queue: str = "default") -> None:
        # A new connection each time: a pooled one may have died with a Redis restart.
        with self.celery.connection_for_write() as conn:
            self.celery.send_task(name, args=list(args), queue=queue, connection=conn)

    def control(self, method: str, *args, **kwargs):
        with self.celery.connection_for_write() as conn:
            return getattr(self.celery.control, method)(*args, connection=conn, **kwargs)

    def stop_processes(self) -> None:
        """SIGTERM to all at once (warm shutdown), SIGKILL to what is left after a few seconds."""
        for process in self.processes.values():
            if process.alive():
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 8
        for process in self.processes.values():
            process.stop(timeout=max(0.1, deadline - time.monotonic()))

    # ---------------------------------------------------------------- whole stack

    def _mark(self, what: str) -> None:
        with open(self.logs / "stack.log", "a") as log:
            log.write(f"{time.strftime('%H:%M:%S')} {time.monotonic() - self._t0:7.2f}s {what}\n")

    def start(self) -> None:
        self._t0 = time.monotonic()
        for path in (self.app_var, self.logs):
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
        self.services_start()
        self.reset_database()
        self.redis().flushall()
        self._mark("services up, database empty")
        # The server and workers boot (imports: seconds) while migrate runs; neither touches the
        # database before its first request or task.
        self.start_web()
        for name, options in self.WORKERS.items():
            self.start_worker(name, **options)
        self.setup = self.django(_MIGRATE_AND_SETUP)
        self._mark("migrated, sources created")
        self.wait_web()
        self._mark("gunicorn answers")
        self.wait_worker("default", restart=False)
        self.wait_worker("heavy", restart=False)
        self._mark("workers answer")

    def stop(self) -> None:
        try:
            self.stop_processes()
        finally:
            self.services_stop()
