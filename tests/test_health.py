import subprocess
import sys
from pathlib import Path

import pytest
from django.db import transaction

from apps.ledger.models import PendingEntry
from apps.ledger.services import ledger_record
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db


def test_healthz_is_503_and_names_redis_when_redis_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error:")
    assert body["checks"]["worker"] == "error: Redis is down"


def test_healthz_is_503_when_no_worker_answers(client, no_celery_worker):
    # No worker (the session's is stopped): Redis is up but nobody consumes the ping.
    body = client.get("/healthz").json()
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["worker"].startswith("error: no Celery worker answered")
    assert body["status"] == "degraded"


# ---------------------------------------------------------------- issue 23: the ledger, the checkpoint, the heavy queue
@pytest.fixture
def sequencer(django_db_blocker):
    """A real `manage.py ledger_sequencer` process on the test database; the test may stop it."""
    from django.db import connection

    from tests.conftest import _worker_env

    with django_db_blocker.unblock():
        env = _worker_env(connection.settings_dict["NAME"])
    proc = subprocess.Popen([sys.executable, "manage.py", "ledger_sequencer"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)


def _record(action: str) -> None:
    with transaction.atomic():
        ledger_record(actor=None, action=action, data={"why": "health test"})


@pytest.mark.django_db(transaction=True)
def test_healthz_turns_503_when_the_sequencer_stops(client, settings, sequencer):
    settings.PORTAL_HEALTH_LEDGER_LAG_SECONDS = 1
    _record("health.first")
    wait_until(lambda: not PendingEntry.objects.exists())  # the running sequencer integrated it
    body = client.get("/healthz").json()
    assert body["checks"]["ledger"] == "ok"
    assert body["ledger"]["sequencer_lag_seconds"] is None

    sequencer.terminate()
    assert sequencer.wait(timeout=30) == 0
    _record("health.second")
    # Nobody integrates it now. Rather than wait out the limit, move the limit below the entry's age.
    settings.PORTAL_HEALTH_LEDGER_LAG_SECONDS = 0
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503 and body["status"] == "degraded"
    assert body["checks"]["ledger"].startswith("error: the ledger has not integrated for ")
    assert body["checks"]["ledger"].endswith("(oldest pending entry; limit 0s)")
    assert body["ledger"]["sequencer_lag_seconds"] > 0
    assert body["checks"]["database"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_a_checkpoint_that_lags_the_sequenced_entries(client, settings):
    from django.core.management import call_command

    _record("health.entry")
    call_command("ledger_sequencer", "--once")  # sequenced, no checkpoint covers it yet
    settings.PORTAL_HEALTH_CHECKPOINT_LAG_SECONDS = 0
    body = client.get("/healthz").json()
    assert body["checks"]["checkpoint"].startswith("error: entries sequenced ")
    assert "have no checkpoint" in body["checks"]["checkpoint"]
    assert body["ledger"]["checkpoint_age_seconds"] is None

    call_command("ledger_checkpoint")
    body = client.get("/healthz").json()
    assert body["checks"]["checkpoint"] == "ok"
    assert body["ledger"]["checkpoint_age_seconds"] >= 0


@pytest.mark.worker
def test_healthz_names_the_heavy_queue_when_no_worker_consumes_it(client, django_db_blocker, no_celery_worker):
    from django.db import connection

    from tests.conftest import _worker_env, running_celery_worker

    with django_db_blocker.unblock():
        env = _worker_env(connection.settings_dict["NAME"])
    with running_celery_worker(env, name="default-only", queues="default"):
        response = client.get("/healthz")
    body = response.json()
    assert body["checks"]["worker"] == "ok"
    assert body["checks"]["worker_heavy"] == "error: no Celery worker consumes the heavy queue (1 answered)"
    assert response.status_code == 503
