"""Fixtures of the pack tests: a governed system with evidence pushed through the real ingestion
services (tests, scan, SBOM, a GitHub release and deployment with lineage), policy results, an
approved and a rejected exception; a compliance officer; heavy workers as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from tests.conftest import ROOT, _redis_emptied, _worker_env
from tests.exceptions.conftest import control, make_request, owners, system  # noqa: F401 - fixtures
from tests.ingest.conftest import COMMIT, fixture_bytes

GITHUB_EVENTS = ["workflow_run.completed", "release.published", "deployment.created", "deployment_status.created"]


@pytest.fixture(autouse=True)
def _pack_root(settings, tmp_path):
    settings.PORTAL_PACK_ROOT = tmp_path / "packs"


@pytest.fixture
def officer(make_user):
    return make_user(Role.COMPLIANCE_OFFICER, username="officer", first_name="Olivia", last_name="Officer",
                     email="olivia@example.org")


@pytest.fixture
def scenario(system, owners, make_request):  # noqa: F811 - pytest fixtures
    """The Credit system's evidence, results and exceptions; returns a dict of what tests look for."""
    from apps.evidence.models import Artifact, Evidence
    from apps.exceptions.services import exception_approve, exception_reject
    from apps.ingest.services import receipt_accept, receipt_parse, source_create
    from apps.ledger.services import ledger_integrate_all
    from apps.policy.services import policy_evaluate

    ci = source_create(actor="system:test", kind="generic-ci", name="ci credit", system=system)
    gh = source_create(actor="system:test", kind="github", name="github credit", system=system)
    for name in ("junit_pytest.xml", "ruff_check.sarif", "cyclonedx_py_env.cdx.json"):
        receipt, _ = receipt_accept(source=ci.source, channel="upload", body=fixture_bytes(name), subject=COMMIT,
                                    filename=name, enqueue=False)
        receipt_parse(receipt_id=receipt.pk)
    for event in GITHUB_EVENTS:
        receipt, _ = receipt_accept(source=gh.source, channel="github", event=event.split(".")[0], enqueue=False,
                                    body=fixture_bytes(f"github/{event}.json"))
        receipt_parse(receipt_id=receipt.pk)
    policy_evaluate(system_ids=[system.pk])
    rejected = make_request("high", days=30, justification="We would rather not write a DPIA at all.")
    rejected = exception_reject(request_id=rejected.pk, approver=owners["risk_owner"], comment="No: write it.",
                                reauthenticated_at=timezone.now())
    approved = make_request("low", justification="The DPIA is being rewritten; approved for one quarter.")
    approved = exception_approve(request_id=approved.pk, approver=owners["risk_owner"],
                                 comment="Accepted until the DPIA lands.", reauthenticated_at=timezone.now())
    ledger_integrate_all()
    release = Artifact.objects.filter(kind=Artifact.Kind.RELEASE).order_by("id").first()
    deployment = Artifact.objects.filter(kind=Artifact.Kind.DEPLOYMENT).order_by("id").first()
    return {
        "system": system,
        "release": release,
        "deployment": deployment,
        "evidence": list(Evidence.objects.filter(system=system)),
        "exceptions": [approved, rejected],
        "period": {"start": "2000-01-01",
                   "end": (timezone.now() + timedelta(days=1)).date().isoformat()},
    }


# One built system pack per process for the modules that only read its ZIP (the verifiers and the result
# messages: tests/parallel.py keeps them in one process), so the scenario is built into a pack once instead of
# once per module.
_BUILT: dict[str, bytes] = {}


@pytest.fixture
def pack_zip(request, tmp_path) -> Path:
    """A copy (the test's own, free to tamper with) of the ZIP of a system pack of the scenario, built in-process."""
    if "zip" not in _BUILT:
        from apps.packs.models import Pack
        from apps.packs.services import pack_build, pack_request

        scenario = request.getfixturevalue("scenario")
        officer = request.getfixturevalue("officer")
        settings = request.getfixturevalue("settings")
        with request.getfixturevalue("django_capture_on_commit_callbacks")(execute=False):
            pack = pack_request(user=officer, kind="system", params={"system": scenario["system"].slug,
                                                                      **scenario["period"]})
        pack_build(pack_id=pack.pk)
        pack.refresh_from_db()
        assert pack.status == Pack.Status.BUILT, pack.error
        _BUILT["zip"] = (settings.PORTAL_PACK_ROOT / pack.file).read_bytes()
    path = tmp_path / "pack.zip"
    path.write_bytes(_BUILT["zip"])
    return path


# ---------------------------------------------------------------- heavy workers as real processes


class HeavyWorker:
    """A `celery worker` on the heavy queue exactly as deployed: prefork, one task per child process."""

    def __init__(self, db_name: str, pack_root, name: str, extra_env: dict | None = None) -> None:
        env = _worker_env(db_name)
        env["PORTAL_PACK_ROOT"] = str(pack_root)
        env.update(extra_env or {})
        self.log_path = ROOT / "var" / f"celery-heavy-{name}-{os.getpid()}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "compliance_portal", "worker", "--pool", "prefork",
             "--concurrency", "1", "--max-tasks-per-child", "1", "--queues", "heavy,default", "--loglevel", "INFO",
             "--without-mingle", "--without-gossip", "--hostname", f"{name}-{os.getpid()}@%h"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        from compliance_portal.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"heavy worker exited with {self.proc.returncode}; see {self.log_path}")
            replies = app.control.ping(timeout=0.5) or []
            if any(self.proc.args[-1].split("@")[0] in name for reply in replies for name in reply):
                return
        raise RuntimeError(f"heavy worker did not answer in {timeout} s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children: no clean shutdown, no acknowledgement."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


@pytest.fixture
def heavy_workers(transactional_db, settings):
    """start(name, **env) starts a heavy worker on the test database and Redis; all stop at the end."""
    import redis
    from django.db import connection

    _redis_emptied(redis.Redis.from_url(settings.REDIS_URL))  # kombu's bindings stay: see SessionWorker
    started: list[HeavyWorker] = []

    def start(name: str, **extra_env) -> HeavyWorker:
        worker = HeavyWorker(connection.settings_dict["NAME"], settings.PORTAL_PACK_ROOT, name, extra_env)
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()
