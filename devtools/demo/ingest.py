"""Demo evidence for `make run` (seed_demo): real tool output pushed through the real services.

Each file goes through `receipt_accept` (blob store, Receipt, ledger) and is parsed at once
with `receipt_parse`, so no worker is needed at seed time. Delivery keys make it idempotent.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from apps.ingest.models import Receipt, Source
from apps.ingest.services import receipt_accept, receipt_parse, source_create
from apps.inventory.models import System

DATA = Path(settings.BASE_DIR) / "tests" / "ingest" / "parsers" / "data"
OCTO_COMMIT = "git+https://github.com/octo-org/octo-repo@3484a3fb816e0859fd6e1cea078d76385ff50625"
OCTO_IMAGE = "oci://ghcr.io/octo-org/octo-app@sha256:7d9e4f2a3c1b5e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"

# name, kind, system slug
DEMO_SOURCES = [
    ("github payments-api", Source.Kind.GITHUB, "payments-api"),
    ("ci payments-api", Source.Kind.GENERIC_CI, "payments-api"),
    ("ci credit-scoring", Source.Kind.GENERIC_CI, "credit-scoring"),
    ("ml fraud-detection", Source.Kind.GENERIC_CI, "fraud-detection"),
    ("gitlab data-platform", Source.Kind.GITLAB, "data-platform"),
]

# source name, channel, event or upload subject, fixture file
DEMO_PUSHES = [
    ("github payments-api", "github", "workflow_run", "github/workflow_run.completed.json"),
    ("github payments-api", "github", "workflow_job", "github/workflow_job.completed.failure.json"),
    ("github payments-api", "github", "deployment_status", "github/deployment_status.created.json"),
    ("github payments-api", "github", "release", "github/release.published.json"),
    ("ci payments-api", "upload", OCTO_COMMIT, "junit_pytest.xml"),
    ("ci payments-api", "upload", OCTO_COMMIT, "ruff_check.sarif"),
    ("ci payments-api", "upload", OCTO_COMMIT, "cyclonedx_py_env.cdx.json"),
    ("ci credit-scoring", "upload", OCTO_IMAGE, "dsse_slsa_v1.intoto.json"),
    ("ci credit-scoring", "upload", "pkg:pypi/requests@2.32.3", "sbom4python_requests.spdx.json"),
    ("ml fraud-detection", "upload", "mlflow://fraud-detector/7", "hf_model_card_data.json"),
    ("ml fraud-detection", "upload", "mlflow://fraud-detector/7", "fairlearn_report.json"),
    ("gitlab data-platform", "gitlab", "Pipeline Hook", "gitlab/pipeline_hook.json"),
]


def demo_evidence_seed(*, actor) -> int:
    """Create the demo sources and push the demo files once; returns how many receipts are new."""
    sources = {}
    for name, kind, slug in DEMO_SOURCES:
        source = Source.objects.filter(name=name).first()
        if source is None:
            source = source_create(actor=actor, kind=kind, name=name, system=System.objects.get(slug=slug)).source
        sources[name] = source
    new = 0
    for name, channel, what, fixture in DEMO_PUSHES:
        body = (DATA / fixture).read_bytes()
        upload = channel == Receipt.Channel.UPLOAD
        receipt, created = receipt_accept(
            source=sources[name],
            channel=channel,
            body=body,
            content_type="application/octet-stream" if upload else "application/json",
            delivery_key=f"demo:{fixture}",
            event="" if upload else what,
            headers={"user_agent": "seed_demo"},
            filename=fixture.rsplit("/", 1)[-1] if upload else "",
            subject=what if upload else "",
            enqueue=False,
        )
        if created:
            new += 1
        if receipt.state == Receipt.State.QUEUED:
            receipt_parse(receipt_id=receipt.pk)
    return new
