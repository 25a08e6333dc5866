"""OpenLineage facets (issue 20, hole 7): data quality, schema, statistics, SQL and the parent run.

The events are built with the real openlineage-python client's facet classes (the spec's shapes:
`inputs[].inputFacets.dataQualityMetrics`/`dataQualityAssertions`, `outputs[].outputFacets.
outputStatistics`, `facets.schema`, `job.facets.sql`, `run.facets.parent`) and sent by its HTTP
transport to the live portal; a real worker is not needed, the receipt is parsed in the test."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from apps.evidence.lineage import lineage_walk
from apps.evidence.models import Artifact, Evidence, LineageEdge
from apps.ingest.models import Receipt
from apps.ingest.services import receipt_parse, source_create
from apps.inventory.models import System
from apps.policy.engine import compile_rule, evaluate
from apps.policy.facts import subject_facts_batch
from tests.ingest.test_connectors_openlineage import _client

INPUT = "openlineage-dataset:postgres://db:5432/bank.public.transactions"
OUTPUT = "openlineage-dataset:s3://features/transactions_2024q4"


def _event(run_id: str, parent_run_id: str):
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import (
        data_quality_assertions_dataset as dqa,
    )
    from openlineage.client.facet_v2 import (
        data_quality_metrics_input_dataset as dqm,
    )
    from openlineage.client.facet_v2 import (
        output_statistics_output_dataset,
        parent_run,
        schema_dataset,
        sql_job,
    )

    schema = schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(name="amount", type="NUMERIC"),
            schema_dataset.SchemaDatasetFacetFields(name="merchant", type="VARCHAR", description="shop name"),
        ]
    )
    metrics = dqm.DataQualityMetricsInputDatasetFacet(
        rowCount=1200,
        bytes=48000,
        columnMetrics={
            "amount": dqm.ColumnMetrics(nullCount=0, distinctCount=1100, min=0.5, max=980.0),
            "merchant": dqm.ColumnMetrics(nullCount=7, distinctCount=40),
        },
    )
    assertions = dqa.DataQualityAssertionsDatasetFacet(
        assertions=[
            dqa.Assertion(assertion="not_null", success=True, column="amount"),
            dqa.Assertion(assertion="not_null", success=False, column="merchant", severity="error"),
            dqa.Assertion(assertion="row_count_between", success=True),
        ]
    )
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(
            runId=run_id,
            facets={
                "parent": parent_run.ParentRunFacet(
                    run=parent_run.Run(runId=parent_run_id),
                    job=parent_run.Job(namespace="airflow://prod", name="features"),
                )
            },
        ),
        job=Job(
            namespace="airflow://prod",
            name="features.build_transactions",
            facets={"sql": sql_job.SQLJobFacet(query="INSERT INTO t SELECT * FROM transactions", dialect="postgres")},
        ),
        producer="https://github.com/acme/pipelines",
        inputs=[
            InputDataset(
                namespace="postgres://db:5432",
                name="bank.public.transactions",
                facets={"schema": schema},
                inputFacets={"dataQualityMetrics": metrics, "dataQualityAssertions": assertions},
            )
        ],
        outputs=[
            OutputDataset(
                namespace="s3://features",
                name="transactions_2024q4",
                facets={"schema": schema_dataset.SchemaDatasetFacet(fields=[
                    schema_dataset.SchemaDatasetFacetFields(name="amount", type="DOUBLE")])},
                outputFacets={
                    "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                        rowCount=1193, size=30000, fileCount=2
                    )
                },
            )
        ],
    )


@pytest.mark.django_db(transaction=True)
def test_openlineage_facets_become_data_quality_schema_statistics_sql_and_parent_edge(live_server, admin_user):
    system = System.objects.create(name="Features", slug="features", risk_tier="high")
    creds = source_create(actor="system:test", kind="openlineage", name="airflow", system=system)
    run_id, parent_id = str(uuid.uuid4()), str(uuid.uuid4())
    _client(live_server.url, creds.token).emit(_event(run_id, parent_id))
    receipt = Receipt.objects.get(source=creds.source, channel="openlineage")
    assert receipt_parse(receipt_id=receipt.pk).state == "parsed"

    # Assertions and metrics: data-quality evidence about the input dataset; one assertion failed.
    dataset = Artifact.objects.get(uri=INPUT)
    quality = Evidence.objects.get(kind="data-quality", subject=dataset)
    assert quality.verdict == "fail"
    assert quality.summary["success"] is False
    assert (quality.summary["evaluated_expectations"], quality.summary["unsuccessful_expectations"]) == (3, 1)
    assert quality.summary["failed_expectations"][0]["expectation_type"] == "not_null"
    assert quality.summary["failed_expectations"][0]["column"] == "merchant"
    assert quality.summary["row_count"] == 1200
    assert quality.summary["null_counts"] == {"amount": 0, "merchant": 7}
    assert quality.records.count() == 3

    # A rule reads the failure like any data-quality evidence.
    facts = subject_facts_batch([dataset], now=timezone.now())[dataset.pk]
    outcome = evaluate(compile_rule("evidence.data_quality.summary.success", requires=["data-quality"]), facts)
    assert outcome.status == "fail"

    # The schema is a fact of the dataset version; the output's statistics are kept with its schema.
    version = Evidence.objects.get(kind="dataset-version", subject=dataset)
    assert [f["name"] for f in version.summary["schema"]] == ["amount", "merchant"]
    assert version.summary["schema"][1] == {"name": "merchant", "type": "VARCHAR", "description": "shop name"}
    written = Evidence.objects.get(kind="dataset-version", subject__uri=OUTPUT)
    assert written.summary["statistics"] == {"row_count": 1193, "size": 30000, "file_count": 2}
    assert written.summary["schema"] == [{"name": "amount", "type": "DOUBLE", "description": ""}]

    # The SQL is kept on the run's evidence.
    run_evidence = Evidence.objects.get(kind="lineage-run", source=creds.source)
    assert run_evidence.summary["sql"] == {"query": "INSERT INTO t SELECT * FROM transactions", "dialect": "postgres"}

    # The parent run is drawn: parent run -> child run.
    child = Artifact.objects.get(uri=f"openlineage-run:{run_id}")
    assert LineageEdge.objects.filter(source__uri=f"openlineage-run:{parent_id}", target=child).exists()
    up = lineage_walk(user=admin_user, artifact_id=child.pk, direction="upstream", depth=2)
    assert {f"openlineage-run:{parent_id}", "openlineage-job:airflow://prod/features"} <= {n.uri for n in up.nodes}


@pytest.mark.django_db
def test_the_same_event_resent_with_other_formatting_is_one_receipt(client):
    creds = source_create(actor="system:test", kind="openlineage", name="airflow")
    event = {
        "eventType": "COMPLETE",
        "eventTime": "2026-12-01T10:00:00.000Z",
        "run": {"runId": "3f0e2c1a-8d7b-4c55-9a1e-1f2d3c4b5a69", "facets": {}},
        "job": {"namespace": "airflow://prod", "name": "features.build"},
        "inputs": [],
        "outputs": [{"namespace": "s3://features", "name": "t", "facets": {}}],
        "producer": "https://github.com/acme/pipelines",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }
    compact = json.dumps(event, separators=(",", ":")).encode()
    reordered = json.dumps(dict(reversed(list(event.items()))), indent=4).encode()
    headers = {"Authorization": f"Bearer {creds.token}"}
    first = client.post("/api/v1/ingest/openlineage", data=compact, content_type="application/json", headers=headers)
    again = client.post("/api/v1/ingest/openlineage", data=reordered, content_type="application/json",
                        headers=headers)
    assert first.status_code == 202, first.content
    assert again.status_code == 200, again.content
    assert again.json() == {**first.json(), "duplicate": True}
    assert Receipt.objects.filter(source=creds.source).count() == 1

    # Another event of the same run (another eventTime) is a new receipt.
    later = json.dumps({**event, "eventTime": "2026-12-01T10:05:00.000Z"}).encode()
    third = client.post("/api/v1/ingest/openlineage", data=later, content_type="application/json", headers=headers)
    assert third.status_code == 202 and Receipt.objects.filter(source=creds.source).count() == 2
