"""Real servers on loopback for the connector tests: an MLflow tracking server and a Distribution registry.

Nothing is skipped: a missing tool fails the test with the install line (.ci/run has it).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REGISTRY_BIN = "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(port: int, path: str, proc: subprocess.Popen, log: Path, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; see {log}:\n{log.read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer on 127.0.0.1:{port} within {timeout} s; see {log}")


@contextlib.contextmanager
def _process(cmd: list[str], *, env: dict, cwd: Path, log: Path):
    """Run `cmd` in a process group of its own, stopped as a group: `mlflow server` starts uvicorn and a job
    runner, and stopped alone it waits for them (12-20 s); the whole group stops in about 3 s."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc
        finally:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


@contextlib.contextmanager
def mlflow_server(tmp: Path):
    """`mlflow server` (SQLite backend, proxied artifacts) on 127.0.0.1; yields its URL."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        pytest.fail("the mlflow package is missing: pip install -r requirements-dev.txt (it pins mlflow)")
    port = free_port()
    env = dict(os.environ)
    # Deliver webhooks to the test's live server: plain http on a loopback address.
    env.update(MLFLOW_WEBHOOK_ALLOWED_SCHEMES="http,https", MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS="true",
               MLFLOW_WEBHOOK_CACHE_TTL="1")
    # No job runner: it starts huey consumers that import most of MLflow's dependencies (a minute of CPU per
    # server on this machine), for jobs (trace scorers, prompt optimisation) the portal never asks for.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}", "--artifacts-destination", str(tmp / "artifacts"),
           "--workers", "1"]
    with _process(cmd, env=env, cwd=tmp, log=tmp / "mlflow.log") as proc:
        _wait_http(port, "/health", proc, tmp / "mlflow.log", "mlflow server")
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def registry_server(tmp: Path, *, notify_url: str = "", notify_token: str = ""):
    """Debian's docker-registry (Distribution 2.8) on 127.0.0.1 with filesystem storage; yields host:port.

    `notify_url`: the registry sends its notifications there (with `notify_token` as bearer token)."""
    if not os.path.exists(REGISTRY_BIN):
        pytest.fail(f"{REGISTRY_BIN} is missing: apt-get install docker-registry (.ci/run does)")
    port = free_port()
    config = tmp / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp / 'storage'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    if notify_url:
        with open(config, "a") as out:
            out.write(
                "notifications:\n  endpoints:\n    - name: portal\n"
                f"      url: {notify_url}\n"
                f"      headers:\n        Authorization: [\"Bearer {notify_token}\"]\n"
                "      timeout: 5s\n      threshold: 3\n      backoff: 1s\n"
            )
    cmd = [REGISTRY_BIN, "serve", str(config)]
    with _process(cmd, env=dict(os.environ), cwd=tmp, log=tmp / "registry.log") as proc:
        _wait_http(port, "/v2/", proc, tmp / "registry.log", "docker-registry")
        yield f"127.0.0.1:{port}"


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: apt-get install {package} (.ci/run does)")
    return path
