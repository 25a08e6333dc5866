"""The connector app's doors after the move: the source page's "Sync now", its view, the command."""

from __future__ import annotations

import base64
import json
from io import StringIO

import pytest
import redis
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.connectors.models import SyncRun
from apps.connectors.services import source_connector_configure
from apps.ingest.services import source_create

pytestmark = pytest.mark.django_db

CLOSED_PORT = "http://127.0.0.1:9"  # nothing listens: connection refused at once


@pytest.fixture
def mlflow_source():
    creds = source_create(actor="system:test", kind="mlflow", name="mlflow down")
    source_connector_configure(actor="system:test", source_id=creds.source.pk, endpoint_url=CLOSED_PORT)
    return creds.source


def test_the_source_page_offers_sync_now_at_the_unchanged_path(client, admin_user, mlflow_source):
    client.force_login(admin_user)
    page = client.get(f"/sources/{mlflow_source.pk}/")
    assert page.status_code == 200
    assert f'action="/sources/{mlflow_source.pk}/sync/"' in page.content.decode()


def _messages_for(broker, task: str) -> list[tuple[bytes, list]]:
    """(raw message, task args) of every message for `task` waiting in the default queue."""
    found = []
    for raw in broker.lrange(settings.CELERY_TASK_DEFAULT_QUEUE, 0, -1):
        message = json.loads(raw)
        if message["headers"].get("task") == task:
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            found.append((raw, args))
    return found


def test_sync_now_queues_the_persisted_task_name_after_commit(
    client, admin_user, mlflow_source, django_capture_on_commit_callbacks
):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        answer = client.post(f"/sources/{mlflow_source.pk}/sync/")
    assert answer.status_code == 302 and len(callbacks) == 1

    def ours():
        return [m for m in _messages_for(broker, "apps.ingest.tasks.source_sync") if m[1][0] == mlflow_source.pk]

    assert ours() == []  # nothing is sent before the commit
    callbacks[0]()  # the commit: the message goes to the real broker
    waiting = ours()
    for raw, _args in waiting:  # no worker runs here: take our message back out of the queue
        broker.lrem(settings.CELERY_TASK_DEFAULT_QUEUE, 0, raw)
    assert [args for _raw, args in waiting] == [[mlflow_source.pk, "manual"]]


def test_the_sync_source_command_records_a_failed_run_and_says_why(mlflow_source):
    out = StringIO()
    with pytest.raises(CommandError, match="sync failed: .*127.0.0.1:9"):
        call_command("sync_source", str(mlflow_source.pk), stdout=out)
    printed = json.loads(out.getvalue())
    run = SyncRun.objects.get(pk=printed["sync_run"])
    assert (run.source_id, run.trigger, run.status) == (mlflow_source.pk, SyncRun.Trigger.COMMAND, "failed")
