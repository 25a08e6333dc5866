"""OpenLineage events sent by the real openlineage-python client (HTTP transport) to the live portal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from apps.evidence.lineage import lineage_walk
from apps.evidence.models import Artifact, Evidence
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_parse, source_create

pytestmark = pytest.mark.django_db(transaction=True)


def _client(url: str, token: str):
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

    config = HttpConfig(
        url=url,
        endpoint="api/v1/ingest/openlineage",
        timeout=10,
        auth=ApiKeyTokenProvider({"apiKey": token}),
        retry={"total": 0},
    )
    return OpenLineageClient(transport=HttpTransport(config))


def test_run_events_become_jobs_runs_datasets_and_edges(live_server, admin_user):
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState

    creds = source_create(actor="system:test", kind="openlineage", name="airflow")
    client = _client(live_server.url, creds.token)
    run_id = str(uuid.uuid4())
    job = Job(namespace="airflow://prod", name="features.build_transactions")
    inputs = [InputDataset(namespace="postgres://db:5432", name="bank.public.transactions")]
    outputs = [OutputDataset(namespace="s3://features", name="transactions_2024q4")]
    now = datetime.now(UTC).isoformat()
    for state in (RunState.START, RunState.COMPLETE):
        client.emit(
            RunEvent(
                eventType=state,
                eventTime=now,
                run=Run(runId=run_id),
                job=job,
                producer="https://github.com/acme/pipelines",
                inputs=inputs,
                outputs=outputs,
            )
        )
    failed_run = str(uuid.uuid4())
    client.emit(
        RunEvent(
            eventType=RunState.FAIL,
            eventTime=now,
            run=Run(runId=failed_run),
            job=job,
            producer="https://github.com/acme/pipelines",
            inputs=inputs,
            outputs=[],
        )
    )
    receipts = list(Receipt.objects.filter(source=creds.source, channel="openlineage").order_by("id"))
    assert [r.event for r in receipts] == ["START", "COMPLETE", "FAIL"]
    for receipt in receipts:
        assert receipt_parse(receipt_id=receipt.pk).state == "parsed"
    verdicts = list(Evidence.objects.filter(source=creds.source).order_by("id").values_list("verdict", flat=True))
    assert verdicts == ["info", "pass", "fail"]
    run = Artifact.objects.get(uri=f"openlineage-run:{run_id}")
    assert run.kind == "run"
    walk = lineage_walk(user=admin_user, artifact_id=run.pk, direction="upstream", depth=1)
    assert {n.uri for n in walk.nodes} >= {
        "openlineage-job:airflow://prod/features.build_transactions",
        "openlineage-dataset:postgres://db:5432/bank.public.transactions",
    }
    down = lineage_walk(user=admin_user, artifact_id=run.pk, direction="downstream", depth=1)
    assert "openlineage-dataset:s3://features/transactions_2024q4" in {n.uri for n in down.nodes}


def test_openlineage_needs_an_openlineage_token(client):
    other = source_create(actor="system:test", kind="generic-ci", name="ci")
    body = b'{"eventType": "START", "run": {"runId": "x"}, "job": {"namespace": "n", "name": "j"}}'
    assert client.post("/api/v1/ingest/openlineage", data=body, content_type="application/json").status_code == 401
    response = client.post(
        "/api/v1/ingest/openlineage",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {other.token}"},
    )
    assert response.status_code == 401
    assert "OpenLineage" in response.json()["error"]
