"""Demo lineage for `make run`: what the connectors fetched from a real MLflow server and a real
registry (recorded by tests/ingest/parsers/data/sources/record_connectors.py.txt into
devtools/demo/data/), pushed through the same accept-and-parse path, plus OpenLineage events
of the feature job that produced the training data. No server is needed at seed time.

The story: dataset (from the feature job) -> MLflow run -> model version fraud-detector v1
(metrics, fairness, model card, approval "champion") -> image built from it (provenance, SBOM)
-> the prod tag on the registry (a deployment); and the commit behind run, model and image.
"""

from __future__ import annotations

import json
from pathlib import Path

from apps.ingest.models import Receipt, Source
from apps.ingest.services import receipt_accept, receipt_parse, source_create
from apps.inventory.models import System

DATA = Path(__file__).resolve().parent / "data"
TRAINING_DATA_SHA256 = "8ae5cb019847b9cf698f37e3b6bc981e265b0f6f5b44137c131bd60f607ec8e9"
FEATURE_RUN = "3f1c2a9e-6d0b-4f7e-9a51-0c2b8d7e4a11"

# name, kind, system slug
DEMO_CONNECTOR_SOURCES = [
    ("mlflow fraud-detection", Source.Kind.MLFLOW, "fraud-detection"),
    ("registry fraud-detection", Source.Kind.OCI, "fraud-detection"),
    ("openlineage data-platform", Source.Kind.OPENLINEAGE, "data-platform"),
]


def _openlineage_events() -> list[tuple[str, bytes]]:
    job = {"namespace": "airflow://prod", "name": "features.build_transactions"}
    inputs = [{"namespace": "postgres://warehouse:5432", "name": "bank.public.card_transactions"}]
    outputs = [
        {
            "namespace": "s3://features",
            "name": "transactions_2024q4.csv",
            "facets": {"version": {"datasetVersion": TRAINING_DATA_SHA256}},
        }
    ]
    events = []
    for event_type, time in (("START", "2024-11-30T02:00:00Z"), ("COMPLETE", "2024-11-30T02:11:42Z")):
        doc = {
            "eventType": event_type,
            "eventTime": time,
            "run": {"runId": FEATURE_RUN},
            "job": job,
            "inputs": inputs,
            "outputs": outputs if event_type == "COMPLETE" else [],
            "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/airflow",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        }
        events.append((event_type, json.dumps(doc, sort_keys=True).encode()))
    return events


def demo_connectors_seed(*, actor) -> int:
    """Create the connector demo sources and push the recorded documents once; returns new receipts."""
    sources = {}
    for name, kind, slug in DEMO_CONNECTOR_SOURCES:
        source = Source.objects.filter(name=name).first()
        if source is None:
            source = source_create(actor=actor, kind=kind, name=name, system=System.objects.get(slug=slug)).source
        sources[kind] = source
    pushes = []
    for event, body in _openlineage_events():
        pushes.append((sources[Source.Kind.OPENLINEAGE], "openlineage", event, body, {}, f"ol-{event}"))
    for meta_path in sorted(DATA.glob("*.meta.json")):
        meta = json.loads(meta_path.read_text())
        body = meta_path.with_name(meta_path.name.replace(".meta.json", ".json")).read_bytes()
        source = sources[Source.Kind.MLFLOW if meta["key"].startswith("fraud-detector") else Source.Kind.OCI]
        pushes.append((source, meta["channel"], meta["event"], body, meta, meta_path.name))
    new = 0
    for source, channel, event, body, meta, name in pushes:
        receipt = Receipt.objects.filter(source=source, delivery_key=f"demo:{name}").first()
        if receipt is not None:  # pushed once (some bodies carry the seed's time: the same key would be a 409)
            if receipt.state == Receipt.State.QUEUED:
                receipt_parse(receipt_id=receipt.pk)
            continue
        receipt, created = receipt_accept(
            source=source,
            channel=channel,
            body=body,
            content_type=meta.get("content_type", "application/json"),
            delivery_key=f"demo:{name}",
            event=event,
            headers={"user_agent": "seed_demo"},
            filename=meta.get("filename", ""),
            subject=meta.get("subject", ""),
            system=source.system,
            enqueue=False,
        )
        new += created
        if receipt.state == Receipt.State.QUEUED:
            receipt_parse(receipt_id=receipt.pk)
    return new
