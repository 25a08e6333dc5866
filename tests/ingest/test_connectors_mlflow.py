"""The MLflow connector against a real `mlflow server`: the test logs a run, registers and promotes a
model version with the real MLflow client, then syncs; MLflow's own webhook delivery signs and sends
the alias change to the live portal."""

from __future__ import annotations

import hashlib

import pytest

from apps.connectors.models import SyncRun
from apps.connectors.services import source_connector_configure, source_sync, sources_due
from apps.evidence.lineage import lineage_walk
from apps.evidence.models import Artifact, Evidence
from apps.ingest.models import Receipt, Source
from apps.ingest.services import source_create
from apps.inventory.models import System
from apps.ledger.models import LedgerEntry, PendingEntry
from tests.conftest import wait_until, worker_settled

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REPO = "https://github.com/acme/fraud-model"
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
CSV = b"amount,merchant,label\n12.5,groceries,0\n980.0,electronics,1\n"



def _train_and_register(url: str, *, model: str, accuracy: float) -> tuple[str, str]:
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("fraud")
    frame = pd.DataFrame({"amount": [12.5, 980.0], "merchant": ["groceries", "electronics"], "label": [0, 1]})
    with mlflow.start_run(run_name="train-gbm") as run:
        mlflow.log_params({"max_depth": 6, "learning_rate": 0.1})
        mlflow.log_metrics({"accuracy": accuracy, "auc": 0.93, "demographic_parity_difference": 0.04,
                            "equalized_odds_difference": 0.07})
        mlflow.set_tags({"mlflow.source.git.commit": SHA, "mlflow.source.git.repoURL": REPO,
                         "dataset.sha256": hashlib.sha256(CSV).hexdigest()})
        mlflow.log_input(mlflow.data.from_pandas(frame, name="transactions-2024q4"), context="training")
        mlflow.log_dict({"model": model, "metrics": {"accuracy": accuracy}, "thresholds": {"accuracy": {"min": 0.8}}},
                        "validation/metrics_report.json")
        mlflow.log_dict({"model_details": {"name": model}, "quantitative_analysis": {"performance_metrics": []}},
                        "model_card.json")
    client = MlflowClient(url)
    if not client.search_registered_models(filter_string=f"name='{model}'"):
        client.create_registered_model(model)
    version = client.create_model_version(model, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_model_version_tag(model, version.version, "approved_by", "riley.okafor")
    return run.info.run_id, version.version


def _parsed(source: Source) -> list[Receipt]:
    def done():
        receipts = list(Receipt.objects.filter(source=source))
        return receipts if receipts and all(r.state in ("parsed", "failed") for r in receipts) else None

    return wait_until(done, timeout=90)


def test_a_promoted_model_version_arrives_with_metrics_fairness_approval_and_lineage(
    mlflow_url, live_server, celery_worker
):
    from mlflow import MlflowClient
    from mlflow.entities.webhook import WebhookEvent

    system = System.objects.create(name="Fraud detection", slug="fraud-detection", risk_tier="high")
    creds = source_create(actor="system:test", kind="mlflow", name="mlflow fraud", system=system)
    source_connector_configure(actor="system:test", source_id=creds.source.pk, endpoint_url=mlflow_url)
    client = MlflowClient(mlflow_url)
    hook = client.create_webhook(
        name="portal", url=f"{live_server.url}/api/v1/ingest/mlflow?source={creds.source.pk}",
        events=[WebhookEvent("model_version_alias", "created")], secret=creds.secret,
    )
    run_id, version = _train_and_register(mlflow_url, model="fraud-detector", accuracy=0.91)
    client.set_registered_model_alias("fraud-detector", "champion", version)

    # MLflow's signed webhook reaches the portal at once and the worker parses it.
    webhook = wait_until(lambda: Receipt.objects.filter(source=creds.source, channel="mlflow",
                                                        event="model_version_alias.created").first(), timeout=60)
    assert webhook.delivery_key  # X-MLflow-Delivery-Id

    # The webhook also queued a sync on the worker: it pulls the version, its run and its alias.
    assert worker_settled(timeout=90)
    run = SyncRun.objects.get(source=creds.source, trigger=SyncRun.Trigger.WEBHOOK)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.items > 0
    receipts = _parsed(creds.source)
    assert [r.error for r in receipts if r.state == "failed"] == []
    mv = Artifact.objects.get(uri=f"mlflow://fraud-detector/{version}")
    kinds = set(Evidence.objects.filter(subject_links__artifact=mv).values_list("kind", flat=True))
    assert {"model-version", "metrics", "fairness", "approval", "model-card"} <= kinds
    fairness = Evidence.objects.get(subject=mv, kind="fairness")
    assert fairness.summary["fairness"]["demographic_parity_difference"] == pytest.approx(0.04)
    approvals = Evidence.objects.filter(subject=mv, kind="approval")
    assert {a.summary["via"] for a in approvals} == {"sync", "webhook"}
    assert any(a.summary["approver"] == "riley.okafor" for a in approvals)
    report = Evidence.objects.get(subject=mv, kind="metrics", format="metrics")
    assert report.verdict == "pass"  # accuracy 0.91 against the report's own minimum 0.8

    upstream = lineage_walk(user=_admin(), artifact_id=mv.pk, direction="upstream", depth=3)
    up = {n.uri for n in upstream.nodes}
    assert f"mlflow-run:{run_id}" in up
    assert f"git+{REPO}@{SHA}" in up
    assert "dataset:sha256:" + hashlib.sha256(CSV).hexdigest() in up
    downstream = lineage_walk(user=_admin(), artifact_id=mv.pk, direction="downstream", depth=1)
    assert f"deployment:mlflow/fraud-detector/champion/{version}" in {n.uri for n in downstream.nodes}

    # Incremental: nothing changed, nothing fetched again.
    again = source_sync(source_id=creds.source.pk, trigger=SyncRun.Trigger.COMMAND)
    assert (again.status, again.items) == (SyncRun.Status.SUCCEEDED, 0)
    # A new version moves the alias: one new version document and one alias change. The webhook is
    # deleted first, so that no delivery (and no sync it queues) races the pull below.
    client.delete_webhook(hook.webhook_id)
    _, version2 = _train_and_register(mlflow_url, model="fraud-detector", accuracy=0.94)
    client.set_registered_model_alias("fraud-detector", "champion", version2)
    third = source_sync(source_id=creds.source.pk, trigger=SyncRun.Trigger.COMMAND)
    events = list(
        Receipt.objects.filter(source=creds.source, headers__sync_run=third.pk).values_list("event", flat=True)
    )
    assert events.count("sync.alias_change") == 1 and events.count("sync.model_version") == 1
    _parsed(creds.source)
    change = Evidence.objects.get(kind="approval", subject__uri=f"mlflow://fraud-detector/{version2}",
                                  summary__via="sync")
    assert change.summary["previous"] == version
    # Every sync is in the ledger: the webhook's, the unchanged one and the new version's.
    assert SyncRun.objects.filter(source=creds.source, status="succeeded").count() == 3
    synced = PendingEntry.objects.filter(action="source.synced").count()
    synced += LedgerEntry.objects.filter(action="source.synced").count()
    assert synced == 3


def _admin():
    from apps.accounts.models import User
    from apps.accounts.services import user_create

    return User.objects.filter(username="lineage-admin").first() or user_create(
        username="lineage-admin", password="correct-horse-battery-staple-42", roles=["admin"]
    )


def test_a_failing_endpoint_backs_off_and_says_why(db):
    creds = source_create(actor="system:test", kind="mlflow", name="mlflow down")
    source_connector_configure(actor="system:test", source_id=creds.source.pk, endpoint_url="http://127.0.0.1:9")
    first = source_sync(source_id=creds.source.pk, trigger=SyncRun.Trigger.SCHEDULE)
    source = Source.objects.get(pk=creds.source.pk)
    assert first.status == SyncRun.Status.FAILED and "127.0.0.1:9" in first.error
    assert source.consecutive_failures == 1 and source.last_error == first.error
    assert creds.source.pk not in sources_due()  # in backoff
    second = source_sync(source_id=creds.source.pk, trigger=SyncRun.Trigger.MANUAL)
    source.refresh_from_db()
    assert second.status == SyncRun.Status.FAILED and source.consecutive_failures == 2
    assert (source.backoff_until - second.finished_at).total_seconds() == pytest.approx(120, abs=2)
