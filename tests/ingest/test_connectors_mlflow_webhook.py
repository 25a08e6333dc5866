"""MLflow webhook signatures, computed as MLflow 3 computes them (mlflow.webhooks.delivery)."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from apps.ingest.services import source_create

pytestmark = pytest.mark.django_db


def _post(client, source_id: int, secret: str, body: bytes, *, stamp: int | None = None, delivery=None, sig=None):
    from mlflow.webhooks.delivery import _generate_hmac_signature

    delivery = delivery or str(uuid.uuid4())
    stamp = str(stamp or int(time.time()))
    signature = sig if sig is not None else _generate_hmac_signature(secret, delivery, stamp, body.decode())
    return client.post(
        f"/api/v1/ingest/mlflow?source={source_id}",
        data=body,
        content_type="application/json",
        headers={"X-MLflow-Signature": signature, "X-MLflow-Delivery-Id": delivery, "X-MLflow-Timestamp": stamp},
    )


def test_signed_deliveries_are_accepted_once_and_forgeries_refused(client):
    creds = source_create(actor="system:test", kind="mlflow", name="mlflow hooks")
    assert creds.secret  # MLflow is a webhook kind: create_source prints a signing secret
    body = json.dumps(
        {
            "entity": "model_version_alias",
            "action": "created",
            "timestamp": "2024-05-01T12:00:00Z",
            "data": {"name": "scorer", "alias": "champion", "version": "3"},
        }
    ).encode()
    delivery = str(uuid.uuid4())
    first = _post(client, creds.source.pk, creds.secret, body, delivery=delivery)
    assert first.status_code == 202, first.content
    assert _post(client, creds.source.pk, creds.secret, body, delivery=delivery).json()["duplicate"] is True
    assert _post(client, creds.source.pk, "wrong-secret", body).status_code == 401
    assert _post(client, creds.source.pk, creds.secret, body, stamp=int(time.time()) - 3600).status_code == 401
    assert _post(client, creds.source.pk, creds.secret, body, sig="").status_code == 401
