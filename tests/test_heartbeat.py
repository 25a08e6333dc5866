"""Beat and the ledger sequencer answer no request: their container health checks read heartbeat files."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery
from django.core.management import call_command

from compliance_portal.celery import HeartbeatScheduler
from compliance_portal.heartbeat import heartbeat_age, heartbeat_path

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def var_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    return tmp_path


def _check(name: str, max_age: int, var_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compliance_portal.heartbeat", name, str(max_age)], cwd=ROOT,
                          env={**os.environ, "PORTAL_VAR_DIR": str(var_dir)}, capture_output=True, text=True,
                          check=False)


@pytest.mark.django_db(transaction=True)
def test_the_sequencer_loop_writes_the_heartbeat_its_health_check_reads(var_dir):
    assert _check("sequencer", 60, var_dir).returncode == 1  # never ran: unhealthy
    call_command("ledger_sequencer", "--once")
    assert heartbeat_age("sequencer") is not None
    result = _check("sequencer", 60, var_dir)
    assert result.returncode == 0, result.stdout


def test_a_beat_tick_writes_the_heartbeat(var_dir, tmp_path):
    # An empty schedule: the tick sends nothing. Not current: shared tasks would publish through it after.
    app = Celery("heartbeat-test", broker="memory://", set_as_current=False)
    scheduler = HeartbeatScheduler(app=app, schedule_filename=str(tmp_path / "schedule"), lazy=True)
    scheduler.setup_schedule()
    scheduler.tick()
    scheduler.close()
    assert _check("beat", 120, var_dir).returncode == 0


def test_a_stale_heartbeat_fails_the_health_check_and_says_how_stale(var_dir):
    path = heartbeat_path("beat")
    path.parent.mkdir(parents=True)
    path.touch()
    old = time.time() - 3600
    os.utime(path, (old, old))
    result = _check("beat", 120, var_dir)
    assert result.returncode == 1
    assert re.fullmatch(r"beat: last heartbeat 360\ds ago \(limit 120s\)\n", result.stdout)
    assert result.stderr == ""
