"""End to end with a real Celery worker process: POST, 202, the worker parses, the receipt says so."""

import pytest

from apps.evidence.models import Evidence
from apps.ingest.models import Receipt
from apps.ingest.services import source_create
from tests.conftest import wait_until
from tests.ingest.conftest import COMMIT, fixture_bytes, post_github, upload

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_github_delivery_is_parsed_by_the_worker(client, celery_worker):
    creds = source_create(actor="system:test", kind="github", name="gh-worker")
    response = post_github(client, creds, "workflow_run", fixture_bytes("github/workflow_run.completed.json"))
    assert response.status_code == 202
    url = f"/api/v1/receipts/{response.json()['receipt']}"
    auth = {"Authorization": f"Bearer {creds.token}"}
    body = wait_until(lambda: (b := client.get(url, headers=auth).json())["state"] != "queued" and b, timeout=60)
    assert body["state"] == "parsed" and len(body["evidence"]) == 1
    assert Evidence.objects.get(pk=body["evidence"][0]).subject.uri == COMMIT


def test_a_broken_upload_fails_in_the_worker_with_its_reason(client, celery_worker):
    creds = source_create(actor="system:test", kind="generic-ci", name="ci-worker")
    response = upload(client, creds.token, b'{"version": "2.1.0", "runs": 7}', name="x.sarif", kind="sarif")
    receipt_id = int(response.json()["receipt"])
    receipt = wait_until(lambda: (r := Receipt.objects.get(pk=receipt_id)).state == "failed" and r, timeout=60)
    assert "runs" in receipt.error
