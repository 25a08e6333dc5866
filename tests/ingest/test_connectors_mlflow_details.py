"""MLflow details (issue 20, hole 8) against a real `mlflow server`: metric history, the run's dataset
inputs, and MLflow's own webhook test delivery (`MlflowClient.test_webhook`)."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from apps.connectors.models import SyncRun
from apps.connectors.services import source_connector_configure, source_sync
from apps.evidence.models import Artifact, Evidence, LineageEdge
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_parse, source_create
from apps.inventory.models import System

MODEL = "churn-scorer"
SOURCE_URI = "s3://datasets/churn/2024q4.parquet"



def _train(url: str) -> tuple[str, str, str]:
    """A run logging accuracy at five steps and a training dataset with a source; registers version 1."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.data.pandas_dataset import from_pandas

    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("churn")
    frame = pd.DataFrame({"tenure": [1, 24, 60], "churned": [1, 0, 0]})
    dataset = from_pandas(frame, source=SOURCE_URI, name="churn-2024q4")
    with mlflow.start_run(run_name="train") as run:
        for step, value in enumerate([0.61, 0.72, 0.80, 0.84, 0.86]):
            mlflow.log_metric("accuracy", value, step=step)
        mlflow.log_input(dataset, context="training")
    client = MlflowClient(url)
    client.create_registered_model(MODEL)
    version = client.create_model_version(MODEL, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    return run.info.run_id, version.version, dataset.digest


@pytest.mark.django_db
def test_metric_history_and_dataset_inputs_arrive_from_a_real_mlflow_server(mlflow_url):
    system = System.objects.create(name="Churn", slug="churn", risk_tier="high")
    creds = source_create(actor="system:test", kind="mlflow", name="mlflow churn", system=system)
    source_connector_configure(actor="system:test", source_id=creds.source.pk, endpoint_url=mlflow_url)
    run_id, version, digest = _train(mlflow_url)

    sync = source_sync(source_id=creds.source.pk, trigger=SyncRun.Trigger.COMMAND)
    assert sync.status == SyncRun.Status.SUCCEEDED, sync.error
    for receipt in Receipt.objects.filter(source=creds.source):
        parsed = receipt_parse(receipt_id=receipt.pk)
        assert parsed.state == "parsed", parsed.error
    mv = Artifact.objects.get(uri=f"mlflow://{MODEL}/{version}")

    # Every logged value of the metric, in step order, not only the last one.
    metrics = Evidence.objects.get(kind="metrics", subject=mv, format="mlflow")
    assert metrics.summary["metrics"]["accuracy"] == pytest.approx(0.86)
    history = metrics.summary["history"]["accuracy"]
    assert [step for step, _ in history["series"]] == [0, 1, 2, 3, 4]
    assert [value for _, value in history["series"]] == pytest.approx([0.61, 0.72, 0.80, 0.84, 0.86])
    assert (history["points"], history["min"], history["max"]) == (5, pytest.approx(0.61), pytest.approx(0.86))
    assert metrics.records.count() == 5

    # The dataset input: a node with MLflow's digest and its source, drawn into the model version.
    dataset = Artifact.objects.get(uri=f"mlflow-dataset:churn-2024q4@{digest}")
    assert (dataset.kind, dataset.digest) == ("dataset", digest)
    assert LineageEdge.objects.filter(source=dataset, target=mv, relation="trained-on").exists()
    assert LineageEdge.objects.filter(source=dataset, target__uri=f"mlflow-run:{run_id}").exists()
    entry = Evidence.objects.get(kind="model-version", subject=mv).summary["datasets"][0]
    assert (entry["digest"], entry["source_type"], entry["context"]) == (digest, "s3", "training")
    assert entry["source"] == SOURCE_URI


@pytest.mark.django_db(transaction=True)
def test_mlflow_test_webhook_gets_test_received_and_creates_nothing(mlflow_url, live_server):
    from mlflow import MlflowClient
    from mlflow.entities.webhook import WebhookEvent

    creds = source_create(actor="system:test", kind="mlflow", name="mlflow hooks")
    client = MlflowClient(mlflow_url)
    hook = client.create_webhook(
        name="portal-test",
        url=f"{live_server.url}/api/v1/ingest/mlflow?source={creds.source.pk}",
        events=[WebhookEvent("model_version", "created"), WebhookEvent("model_version_alias", "created")],
        secret=creds.secret,
    )
    try:
        for event in (None, WebhookEvent("model_version_alias", "created")):
            result = client.test_webhook(hook.webhook_id, event=event)
            assert result.success, result.error_message
            assert result.response_status == 200
            assert json.loads(result.response_body)["status"] == "test received"
    finally:
        client.delete_webhook(hook.webhook_id)
    assert Receipt.objects.filter(source=creds.source).count() == 0
    assert not Artifact.objects.filter(uri__startswith="mlflow://example_model").exists()


@pytest.mark.django_db
def test_a_test_delivery_queues_no_sync_and_a_real_one_still_counts(client, django_capture_on_commit_callbacks):
    from mlflow.webhooks.delivery import _generate_hmac_signature
    from mlflow.webhooks.types import ModelVersionCreatedPayload

    creds = source_create(actor="system:test", kind="mlflow", name="mlflow hooks")
    source_connector_configure(actor="system:test", source_id=creds.source.pk, endpoint_url="http://127.0.0.1:9")

    def post(data: dict):
        body = json.dumps({"entity": "model_version", "action": "created", "timestamp": "2026-12-06T03:00:00+00:00",
                           "data": data})
        delivery, stamp = str(uuid.uuid4()), str(int(time.time()))
        return client.post(
            f"/api/v1/ingest/mlflow?source={creds.source.pk}", data=body.encode(), content_type="application/json",
            headers={"X-MLflow-Signature": _generate_hmac_signature(creds.secret, delivery, stamp, body),
                     "X-MLflow-Delivery-Id": delivery, "X-MLflow-Timestamp": stamp},
        )

    with django_capture_on_commit_callbacks() as queued:
        answer = post(dict(ModelVersionCreatedPayload.example()))
    assert answer.status_code == 200 and answer.json()["status"] == "test received"
    assert queued == [] and Receipt.objects.count() == 0

    # A real model named example_model with other content is not a test.
    real = post({**ModelVersionCreatedPayload.example(), "run_id": "0a1b2c3d4e5f", "source": "models:/m-77"})
    assert real.status_code == 202 and Receipt.objects.count() == 1
