"""The load test (`make load`): the production stack on loopback under mixed traffic from locust.

    python -m bench.load.driver      (scripts/load.sh sets DATABASE_URL, REDIS_URL, PORTAL_VAR_DIR)

1. Production settings (PORTAL_PROFILE=prod) with generated secrets kept under
   $PORTAL_VAR_DIR/load/ (git-ignored), PORTAL_BEHIND_PROXY=true: locust plays the TLS proxy.
2. migrate, collectstatic, then seed (bench/load/seed.py: demo data, this run's sources,
   auditors, an open engagement).
3. Start every process of the Procfile exactly as written there (the web line names the
   production gunicorn configuration): web, worker (default queue), worker-heavy (packs),
   beat, sequencer.
4. locust headless on 127.0.0.1 only, LOAD_USERS users for LOAD_SECONDS (default 12 and 180).
5. Let the queued work drain (up to LOAD_DRAIN_SECONDS, 600), count what became of it, and check
   that every accepted request has exactly one receipt.
6. Print a table, write bench/results/load.json; exit 1 on any failed request, failed receipt or
   failed pack, or a count that does not match.
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import platform
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
PYTHON = str(BIN / "python") if (BIN / "python").exists() else sys.executable
RESULTS = ROOT / "bench" / "results" / "load.json"
PROCESSES = ("web", "worker", "worker-heavy", "beat", "sequencer")


def log(message: str) -> None:
    print(f"load: {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


def load_secrets(directory: Path) -> dict[str, str]:
    """Production secrets for this bench database, generated once and kept under var/ (git-ignored)."""
    path = directory / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    from cryptography.fernet import Fernet

    keygen = subprocess.run(
        [PYTHON, "manage.py", "ledger_keygen", "load.compliance-portal.local"],
        cwd=ROOT, env={**os.environ, "PORTAL_PROFILE": "dev"}, check=True, capture_output=True, text=True,
    ).stdout
    signing_key = keygen.split("PORTAL_LEDGER_SIGNING_KEY=", 1)[1].split()[0]
    values = {
        "SECRET_KEY": secrets.token_urlsafe(60),
        "PORTAL_SECRETS_KEY": Fernet.generate_key().decode(),
        "PORTAL_LEDGER_SIGNING_KEY": signing_key,
    }
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def static_stale(static_root: Path) -> bool:
    """collectstatic is needed (prod serves the manifest's hashed files) unless nothing changed since."""
    manifest = static_root / "staticfiles.json"
    if not manifest.exists():
        return True
    sources = [p for d in [ROOT / "static", *ROOT.glob("apps/*/static")] for p in d.rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > manifest.stat().st_mtime for p in sources)


def prod_env(var: Path, port: int, keys: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DJANGO_SETTINGS_MODULE", "DEBUG"):
        env.pop(name, None)
    env.update(keys)
    env.update(
        PATH=f"{BIN}:{env.get('PATH', '')}",
        PORT=str(port),
        DJANGO_SETTINGS_MODULE="compliance_portal.settings",
        PORTAL_PROFILE="prod",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        # TLS ends at the (pretend) proxy: X-Forwarded-Proto: https on every request.
        PORTAL_BEHIND_PROXY="true",
        PORTAL_VAR_DIR=str(var),
        PORTAL_STATIC_ROOT=str(var / "static"),
        PORTAL_MEDIA_ROOT=str(var / "media"),
        PORTAL_EVIDENCE_ROOT=str(var / "blobs"),
        PORTAL_PACK_ROOT=str(var / "packs"),
        PORTAL_LEDGER_WITNESS_FILE=str(var / "ledger-checkpoints.jsonl"),
        PORTAL_BASE_URL=f"https://127.0.0.1:{port}",
        # No SMTP server here: notifications (engagement opened, pack built) go to memory.
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        PORTAL_LOG_LEVEL="WARNING",
    )
    return env


def run(cmd: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=env, check=True, **kwargs)


def start_processes(env: dict[str, str], logs: Path) -> dict[str, subprocess.Popen]:
    commands = procfile()
    started = {}
    for name in PROCESSES:
        command = commands[name].strip()
        out = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        # Each process in its own session (process group), so stopping it stops its children too.
        started[name] = subprocess.Popen(
            ["bash", "-c", f"exec {command}"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log(f"started {name} (pid {started[name].pid}): {command}")
    return started


def stop_processes(started: dict[str, subprocess.Popen]) -> None:
    for proc in started.values():
        if proc.poll() is None:
            # The main process only: gunicorn and celery stop their children gracefully themselves
            # (a SIGTERM to a pool child directly would be a lost worker, redelivered work).
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for name, proc in started.items():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"{name} did not stop within 20 s: SIGKILL")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_healthy(base: str, started: dict[str, subprocess.Popen], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        for name, proc in started.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} during start-up (see its log)")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=5)
            conn.request("GET", "/healthz", headers={"X-Forwarded-Proto": "https"})
            response = conn.getresponse()
            body = response.read()
            if response.status == 200:
                return json.loads(body)
            last = f"HTTP {response.status} {body[:200]!r}"
            time.sleep(1)
        except OSError as exc:
            last = exc
            time.sleep(1)
    raise RuntimeError(f"/healthz did not answer 200 within {timeout:.0f} s: {last}")


def count(env: dict[str, str], fixture: Path) -> dict:
    out = run([PYTHON, "-m", "bench.load.seed", "count", str(fixture)], env, capture_output=True, text=True)
    return json.loads(out.stdout)


def drained(counts: dict) -> bool:
    pending = sum(n for key, n in counts["receipts"].items() if key.split(":")[1] in ("queued", "parsing"))
    pending += sum(n for status, n in counts["packs"].items() if status in ("queued", "building"))
    return pending == 0


def parsed(counts: dict) -> int:
    return sum(n for key, n in counts["receipts"].items() if key.endswith(":parsed"))


def read_stats(prefix: Path) -> list[dict]:
    rows = []
    with open(f"{prefix}_stats.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            rows.append({
                "name": row["Name"],
                "method": row["Type"],
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "rps": round(float(row["Requests/s"]), 2),
                "p50_ms": float(row["50%"]),
                "p90_ms": float(row["90%"]),
                "p95_ms": float(row["95%"]),
                "p99_ms": float(row["99%"]),
                "max_ms": round(float(row["Max Response Time"]), 1),
                "mean_ms": round(float(row["Average Response Time"]), 1),
            })
    return rows


def read_failures(prefix: Path) -> list[dict]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return [dict(row) for row in csv.DictReader(fh)]


def table(rows: list[dict]) -> str:
    head = "| request | method | requests | failures | req/s | p50 ms | p90 ms | p95 ms | p99 ms | max ms |"
    lines = [head, "|" + " --- |" * 10]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['method']} | {r['requests']} | {r['failures']} | {r['rps']} | {r['p50_ms']:.0f} | "
            f"{r['p90_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_ms']:.0f} |"
        )
    return "\n".join(lines)


def _reconciliation(counts: dict, at_stop: dict, by_name: dict, drain_took: float, elapsed: float) -> dict:
    """What was acknowledged against what was stored and processed, after the drain."""
    replays = by_name.get("webhook github (replay)", {})
    received_at_stop = sum(at_stop["receipts"].values())
    return {
        # Does parsing keep up while the traffic lasts (issue 25)? Receipts stored and parsed by the time
        # locust stopped, per second of traffic; a queue that grows shows as parsed/s below stored/s.
        "receipts_stored_per_second_during_traffic": round(received_at_stop / elapsed, 1),
        "receipts_parsed_per_second_during_traffic": round(parsed(at_stop) / elapsed, 1),
        "webhooks_acknowledged": counts["acknowledged"].get("github", 0),
        "uploads_acknowledged": counts["acknowledged"].get("upload", 0),
        "replays_answered_with_the_original_receipt": replays.get("requests", 0) - replays.get("failures", 0),
        "acknowledged_but_missing": counts["acknowledged_missing"],
        "same_receipt_acknowledged_twice": counts["acknowledged_duplicates"],
        "receipts_in_flight_at_stop": counts["unacknowledged_receipts"],
        "receipts_by_state": counts["receipts"],
        "packs_by_status": counts["packs"],
        "pack_build_seconds": counts["pack_build_seconds"],
        "drained": drained(counts),
        "drain_seconds": round(drain_took, 1),
        "queued_at_stop": sum(n for k, n in at_stop["receipts"].items() if k.split(":")[1] in ("queued", "parsing")),
        "parsed_per_second_while_draining": round(
            (parsed(counts) - parsed(at_stop)) / drain_took, 1) if drain_took > 1 else None,
    }


def _problems(total: dict, counts: dict, locust_returncode: int, earlier: list[str]) -> list[str]:
    """Why the run fails: failed requests, lost or duplicated receipts, failed work; locust's own exit last."""
    problems = []
    if total["failures"]:
        problems.append(f"{total['failures']} of {total['requests']} requests failed")
    if counts["acknowledged_missing"]:
        problems.append(f"202 answered but no receipt stored: {counts['acknowledged_missing']}")
    if counts["acknowledged_duplicates"]:
        problems.append(f"{counts['acknowledged_duplicates']} fresh deliveries answered with an existing receipt")
    if not counts["acknowledged"]:
        problems.append("locust wrote no accepted receipts (LOAD_ACCEPTED_OUT)")
    failed_receipts = sum(n for key, n in counts["receipts"].items() if key.endswith(":failed"))
    if failed_receipts:
        problems.append(f"{failed_receipts} receipts failed: {counts['receipt_errors']}")
    if counts["packs"].get("failed"):
        problems.append(f"{counts['packs']['failed']} packs failed: {counts['pack_errors']}")
    if locust_returncode and not (earlier or problems):
        problems.append(f"locust exited {locust_returncode}")
    return problems


def main() -> int:
    seconds = int(os.environ.get("LOAD_SECONDS", "180"))
    users = int(os.environ.get("LOAD_USERS", "12"))
    drain_seconds = int(os.environ.get("LOAD_DRAIN_SECONDS", "600"))
    var = Path(os.environ["PORTAL_VAR_DIR"]) / "load"
    logs = var / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    keys = load_secrets(var)
    env = prod_env(var, port, keys)
    # Seeding runs in the dev profile (seed_demo is not installed in prod) with the same secrets and database.
    seed_env = {**env, "PORTAL_PROFILE": "dev", "DEBUG": "false"}
    fixture = var / "fixture.json"
    accepted = var / "accepted.json"
    accepted.unlink(missing_ok=True)
    seed_env["LOAD_ACCEPTED_OUT"] = str(accepted)

    log("migrate, collectstatic, seed")
    run([PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], env)
    if static_stale(var / "static"):
        run([PYTHON, "manage.py", "collectstatic", "--no-input", "-v", "0"], env)
    run([PYTHON, "-m", "bench.load.seed", "seed", str(fixture)], {**seed_env, "LOAD_FIXTURE": str(fixture)})

    started = start_processes(env, logs)
    problems: list[str] = []
    try:
        health = wait_healthy(base, started)
        log(f"healthy: {health}")
        load_before = os.getloadavg()
        prefix = var / "locust"
        cmd = [
            str(BIN / "locust"), "-f", str(ROOT / "bench" / "load" / "locustfile.py"), "--headless",
            "--host", base, "--users", str(users), "--spawn-rate", str(max(1, users // 4)),
            "--run-time", f"{seconds}s", "--stop-timeout", "15", "--csv", str(prefix), "--only-summary",
            "--loglevel", "WARNING",
        ]
        log(f"locust: {shlex.join(cmd)}")
        started_at = time.monotonic()
        locust = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "LOAD_FIXTURE": str(fixture),
                                                            "LOAD_ACCEPTED_OUT": str(accepted)})
        elapsed = time.monotonic() - started_at
        load_after = os.getloadavg()
        rows = read_stats(prefix)
        failures = read_failures(prefix)
        for name, proc in started.items():
            if proc.poll() is not None:
                problems.append(f"{name} exited with {proc.returncode} during the run")

        log(f"locust exited {locust.returncode}; waiting up to {drain_seconds} s for queued work to drain")
        deadline = time.monotonic() + drain_seconds
        drain_started = time.monotonic()
        counts = at_stop = count(seed_env, fixture)
        while not drained(counts) and time.monotonic() < deadline:
            time.sleep(5)
            counts = count(seed_env, fixture)
        drain_took = time.monotonic() - drain_started
    finally:
        stop_processes(started)

    by_name = {r["name"]: r for r in rows}
    total = by_name.get("Aggregated", {"requests": 0, "failures": 0})
    reconciliation = _reconciliation(counts, at_stop, by_name, drain_took, elapsed)
    problems += _problems(total, counts, locust.returncode, problems)

    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {
            "seconds": seconds,
            "measured_seconds": round(elapsed, 1),
            "users": users,
            "profile": "prod (PORTAL_BEHIND_PROXY=true, X-Forwarded-Proto: https)",
            "processes": {name: procfile()[name].strip() for name in PROCESSES},
            "gunicorn_conf": next((c for c in ("compliance_portal/gunicorn.conf.py", "gunicorn.conf.py")
                                   if c in procfile()["web"] or (ROOT / c).exists()), None),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "loadavg_before": load_before, "loadavg_after": load_after},
        },
        "requests": [r for r in rows if r["name"] != "Aggregated"],
        "total": total,
        "failures": failures,
        "reconciliation": reconciliation,
        "problems": problems,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(table(rows))
    print(json.dumps(reconciliation, indent=1))
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    for problem in problems:
        log(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
