"""The webhook hot path: a plain Django view with the DRF endpoints' contract, durable blob writes,
and parse messages batched in web processes without losing a receipt."""

from __future__ import annotations

import os

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.ingest import dispatch
from apps.ingest.blobs import blob_name, blob_read, blob_storage, blob_store
from apps.ingest.models import Receipt
from apps.ingest.services import source_create
from tests.conftest import wait_until
from tests.ingest.conftest import fixture_bytes, post_github, post_gitlab


@pytest.mark.django_db
def test_webhook_endpoints_refuse_other_methods_with_the_json_error_body(client, github):
    response = client.get(f"/api/v1/ingest/github?source={github.source.pk}")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert "GET" in response.json()["error"]
    assert not Receipt.objects.exists()


@pytest.mark.django_db
def test_401_names_the_credential_scheme_and_429_says_when_to_retry(client, github, settings):
    import redis

    response = post_github(client, github, "ping", fixture_bytes("github/ping.json"), signature="sha256=" + "0" * 64)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("X-Hub-Signature-256")
    conn = redis.Redis.from_url(settings.REDIS_URL)
    for key in conn.scan_iter(f"portal:ingest-rate:{github.source.pk}:*"):
        conn.delete(key)
    settings.PORTAL_INGEST_RATE = "1/hour"
    assert post_github(client, github, "ping", fixture_bytes("github/ping.json")).status_code == 202
    throttled = post_github(client, github, "ping", fixture_bytes("github/ping.json"))
    assert throttled.status_code == 429 and 0 < int(throttled["Retry-After"]) <= 3600


@pytest.mark.django_db
def test_a_disabled_source_gets_the_same_401_with_or_without_its_credential(client, gitlab):
    # Issue 23: refused before the body is read, and the answer does not say the source exists.
    from apps.ingest.services import source_disable

    source_disable(actor="system:test", source_id=gitlab.source.pk)
    body = fixture_bytes("gitlab/push_hook.json")
    wrong = post_gitlab(client, gitlab, "Push Hook", body, token="x")
    right = post_gitlab(client, gitlab, "Push Hook", body)
    assert wrong.status_code == right.status_code == 401 and wrong.json() == right.json()
    assert not Receipt.objects.exists()


def test_the_openapi_schema_still_documents_the_webhook_endpoints():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path, operation_id in (("/api/v1/ingest/github", "ingest_github"), ("/api/v1/ingest/gitlab", "ingest_gitlab")):
        post = paths[path]["post"]
        assert post["operationId"] == operation_id
        assert {"202", "200", "400", "401", "403", "413", "429"} <= set(post["responses"])
        assert any(p["name"] == "source" for p in post["parameters"])


def test_the_webhook_endpoints_are_implemented_once_by_the_plain_views():
    from apps.ingest import api

    # No second (DRF) implementation that no URL serves: the schema views only describe the endpoints.
    assert not hasattr(api, "GitHubWebhookApi") and not hasattr(api, "GitLabWebhookApi")
    for view in (api.github_webhook, api.gitlab_webhook):
        assert view.cls.__name__.endswith("WebhookSchema") and not issubclass(view.cls, api._IngestApi)


@pytest.mark.django_db
def test_a_blob_is_written_once_durably_and_never_rewritten(settings, tmp_path):
    settings.PORTAL_BLOB_FSYNC = True
    digest = blob_store(b"first bytes " + os.urandom(8))
    path = blob_storage().path(blob_name(digest))
    before = os.stat(path)
    assert blob_store(blob_read(digest)) == digest  # the same bytes again: nothing is written
    assert os.stat(path).st_mtime_ns == before.st_mtime_ns and os.stat(path).st_ino == before.st_ino
    leftovers = [name for name in os.listdir(os.path.dirname(path)) if name.startswith(".tmp-")]
    assert not leftovers, "no temporary file is left next to the blob"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_batched_dispatch_hands_every_accepted_receipt_to_the_worker_once(client, celery_worker):
    creds = source_create(actor="system:test", kind="github", name="gh-batched")
    dispatch.dispatch_batching_start(linger=0.2)  # long enough that deliveries share messages
    try:
        receipts = []
        for n in range(12):
            body = fixture_bytes("github/workflow_run.completed.json").replace(b"{", b'{"n": %d, ' % n, 1)
            response = post_github(client, creds, "workflow_run", body, delivery=f"batched-{n}")
            assert response.status_code == 202
            receipts.append(int(response.json()["receipt"]))
        # A replay still answers with the original receipt and queues nothing new.
        again = post_github(client, creds, "workflow_run", body, delivery="batched-11")
        assert again.status_code == 200 and again.json()["receipt"] == str(receipts[-1])
    finally:
        dispatch.dispatch_batching_stop()
    parsed = wait_until(
        lambda: (qs := Receipt.objects.filter(pk__in=receipts, state=Receipt.State.PARSED)).count() == 12 and qs,
        timeout=90,
    )
    assert {r.attempts for r in parsed} == {1}, "each receipt was claimed exactly once"
