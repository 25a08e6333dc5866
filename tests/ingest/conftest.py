"""Sources built through the services, and helpers that send requests exactly like the senders do."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.ingest.blobs import blob_exists
from apps.ingest.services import source_create
from apps.inventory.models import System

DATA = Path(__file__).resolve().parent / "parsers" / "data"
COMMIT = "git+https://github.com/octo-org/octo-repo@3484a3fb816e0859fd6e1cea078d76385ff50625"


def fixture_bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


def body_stored(body: bytes) -> bool:
    """Whether these bytes are stored: in the blob store, or pending with a receipt (apps.ingest.blobs)."""
    return blob_exists(hashlib.sha256(body).hexdigest())


def github_signature(secret: str, body: bytes) -> str:
    """What GitHub sends in X-Hub-Signature-256: HMAC-SHA256 of the raw body, hex, 'sha256=' prefix."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture(scope="session")
def mlflow_url(tmp_path_factory):
    """One real `mlflow server` for the MLflow modules (the "mlflow" group of tests/parallel.py runs them in one
    process): each start cost ~10 s of CPU. They share no experiment, model or webhook."""
    from tests.ingest.servers import mlflow_server

    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


@pytest.fixture
def system(db):
    return System.objects.create(name="Payments API", slug="payments-api", risk_tier="high")


@pytest.fixture
def github(db, system):
    return source_create(actor="system:test", kind="github", name="github payments", system=system)


@pytest.fixture
def gitlab(db, system):
    return source_create(actor="system:test", kind="gitlab", name="gitlab payments", system=system)


@pytest.fixture
def ci(db, system):
    return source_create(actor="system:test", kind="generic-ci", name="ci payments", system=system)


def post_github(
    client,
    creds,
    event: str,
    body: bytes,
    *,
    delivery: str | None = None,
    secret: str | None = None,
    signature: str | None = None,
    query: str | None = None,
    content_type="application/json",
):
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "User-Agent": "GitHub-Hookshot/abc123",
    }
    sig = signature if signature is not None else github_signature(secret or creds.secret, body)
    if sig:
        headers["X-Hub-Signature-256"] = sig
    url = f"/api/v1/ingest/github?{query if query is not None else f'source={creds.source.pk}'}"
    return client.post(url, data=body, content_type=content_type, headers=headers)


def post_gitlab(client, creds, event: str, body: bytes, *, uuid_: str | None = None, token: str | None = None):
    headers = {"X-Gitlab-Event": event, "X-Gitlab-Event-UUID": uuid_ or str(uuid.uuid4())}
    if token != "":
        headers["X-Gitlab-Token"] = token or creds.secret
    return client.post(
        f"/api/v1/ingest/gitlab?source={creds.source.pk}", data=body, content_type="application/json", headers=headers
    )


def upload(client, token: str | None, body: bytes, *, name="report.xml", subject=COMMIT, key=None, **fields):
    data = {"file": SimpleUploadedFile(name, body, content_type="application/octet-stream"), **fields}
    if subject is not None:
        data["subject"] = subject
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    return client.post("/api/v1/evidence", data=data, headers=headers)
