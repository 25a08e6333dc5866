"""Demo data of the policy app for `make run` (seed_demo): evidence that makes the shipped rules
say something worth looking at, pushed through the real ingestion services, then evaluated.

What the demo shows:
- Clinical records (PHI, HIPAA): a Terraform plan with an unencrypted, public S3 bucket and
  database fails HIPAA 164.312(a)(2)(iv) with the resource addresses in the reason; its
  Kubernetes manifests run a privileged pod; its Checkov scan fails.
- Payments API: a clean Terraform plan passes the infrastructure rules; OPA denied decisions warn.
- Patient triage (ML, PHI): model version 3 is in production with a DVC data version; the
  candidate version 4 fails its data-quality suite, drifts and misses the fairness threshold.
- Marketing website: release 2.4.0 has passing tests, a clean scan and provenance, but no
  SBOM yet, so the CI gate blocks it; uploading the SBOM (`demo_release_sbom_upload()`, the
  README and tests do it through the API) lets it pass.
- A 90-day history: evidence is backfilled with earlier effective times and evaluated as of
  weekly points in the past, so the trend and "as of" pages have something to show.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from datetime import datetime, time, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from django.utils import timezone

from apps.ingest.models import Receipt, Source, TrustedKey
from apps.ingest.services import receipt_accept, receipt_parse, source_create
from apps.ingest.signatures import pae
from apps.ingest.trust import trusted_key_add
from apps.inventory.models import System
from apps.policy.models import ControlResultChange, SystemPolicy
from apps.policy.services import coverage_snapshot, coverage_snapshot_days, policy_evaluate

DATA = Path(settings.BASE_DIR) / "tests" / "ingest" / "parsers" / "data"
INFRA = DATA / "infra"

MARKETING_REPO = "https://github.com/acme/marketing-site"
MARKETING_SHA = "9f3c2a1b7d4e5f60718293a4b5c6d7e8f9012345"
MARKETING_COMMIT = f"git+{MARKETING_REPO}@{MARKETING_SHA}"
MARKETING_TAG = "2.4.0"
MARKETING_RELEASE = f"release:{MARKETING_REPO}@{MARKETING_TAG}"
CLINICAL_INFRA_COMMIT = "git+https://github.com/acme/clinical-infra@5b1d0c9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c"
PAYMENTS_INFRA_COMMIT = "git+https://github.com/acme/payments-infra@0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
TRIAGE_REPO = "https://github.com/acme/patient-triage"
TRIAGE_SHA = "c0ffee1234567890abcdef1234567890abcdef12"
TRIAGE_V3 = "mlflow://patient-triage/3"
TRIAGE_V4 = "mlflow://patient-triage/4"

DEMO_SOURCES = [
    ("ci marketing-site", Source.Kind.GENERIC_CI, "marketing-site"),
    ("github marketing-site", Source.Kind.GITHUB, "marketing-site"),
    ("infra clinical-records", Source.Kind.GENERIC_CI, "clinical-records"),
    ("infra payments-api", Source.Kind.GENERIC_CI, "payments-api"),
    ("infra data-platform", Source.Kind.GENERIC_CI, "data-platform"),
    ("ml patient-triage", Source.Kind.GENERIC_CI, "patient-triage"),
    ("github patient-triage", Source.Kind.GITHUB, "patient-triage"),
]

ALLOWED_REGIONS = {
    "clinical-records": ["eu-west-1"],
    "payments-api": ["eu-central-1"],
    "data-platform": ["eu-central-1", "westeurope", "europe-west4"],
}

JUNIT_PASSING = (
    b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="marketing-site" tests="14" failures="0" errors="0" skipped="1" time="3.2"
 timestamp="2025-01-01T10:00:00">
"""
    + b"".join(
        f'<testcase classname="site.tests.test_pages" name="test_page_{i}" time="0.2"/>\n'.encode() for i in range(13)
    )
    + b"""<testcase classname="site.tests.test_pages" name="test_legacy_redirects" time="0.0"><skipped/></testcase>
</testsuite></testsuites>
"""
)

SARIF_CLEAN = json.dumps(
    {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {"name": "ruff", "version": "0.8.4", "informationUri": "https://docs.astral.sh/ruff"}
                },
                "results": [],
            }
        ],
    }
).encode()

# days before today at which each backfilled piece of evidence became effective (None: now)
HISTORY_WEEKS = 12


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _release_webhook() -> bytes:
    doc = copy.deepcopy(_json(DATA / "github" / "release.published.json"))
    doc["repository"]["full_name"] = "acme/marketing-site"
    doc["repository"]["html_url"] = MARKETING_REPO
    doc["release"]["tag_name"] = MARKETING_TAG
    doc["release"]["name"] = f"Marketing site {MARKETING_TAG}"
    doc["release"]["target_commitish"] = MARKETING_SHA
    when = (timezone.now() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc["release"]["published_at"] = doc["release"]["created_at"] = when
    return json.dumps(doc).encode()


def _model_deployment_webhook() -> bytes:
    doc = copy.deepcopy(_json(DATA / "github" / "deployment_status.created.json"))
    doc["repository"]["full_name"] = "acme/patient-triage"
    doc["repository"]["html_url"] = TRIAGE_REPO
    doc["deployment"]["id"] = 700003
    doc["deployment"]["sha"] = TRIAGE_SHA
    doc["deployment"]["environment"] = "production"
    doc["deployment_status"]["environment"] = "production"
    doc["deployment_status"]["state"] = "success"
    when = (timezone.now() - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc["deployment"]["created_at"] = doc["deployment_status"]["created_at"] = when
    doc["deployment_status"]["updated_at"] = when
    return json.dumps(doc).encode()


def _metrics(version: str, auc: float, dpd: float, days_ago: int) -> bytes:
    when = (timezone.now() - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(
        {
            "model": "patient-triage",
            "version": version,
            "date": when,
            "metrics": {"auc": auc, "accuracy": round(auc - 0.06, 4)},
            "fairness": {"demographic_parity_difference": dpd},
            "thresholds": {"auc": {"min": 0.8}},
        }
    ).encode()


def clean_terraform_plan() -> bytes:
    """A Terraform plan (`terraform show -json` shape) with every safeguard in place."""
    key = "arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    res = [
        ("aws_kms_key", "data", {"enable_key_rotation": True}),
        ("aws_s3_bucket", "statements", {"bucket": "payments-statements"}),
        (
            "aws_s3_bucket_server_side_encryption_configuration",
            "statements",
            {
                "bucket": "payments-statements",
                "rule": [
                    {
                        "apply_server_side_encryption_by_default": [
                            {"sse_algorithm": "aws:kms", "kms_master_key_id": key}
                        ]
                    }
                ],
            },
        ),
        (
            "aws_s3_bucket_public_access_block",
            "statements",
            {
                "bucket": "payments-statements",
                "block_public_acls": True,
                "block_public_policy": True,
                "ignore_public_acls": True,
                "restrict_public_buckets": True,
            },
        ),  # fmt: skip
        (
            "aws_db_instance",
            "ledger",
            {
                "identifier": "payments-ledger",
                "storage_encrypted": True,
                "kms_key_id": key,
                "publicly_accessible": False,
            },
        ),  # fmt: skip
        (
            "aws_lb_listener",
            "https",
            {"port": 443, "protocol": "HTTPS", "ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06"},
        ),
        ("aws_cloudwatch_log_group", "api", {"name": "/payments/api", "retention_in_days": 400, "kms_key_id": key}),
    ]
    provider = "registry.terraform.io/hashicorp/aws"
    resources = [
        {"address": f"{t}.{n}", "mode": "managed", "type": t, "name": n, "provider_name": provider,
         "schema_version": 0, "values": v, "sensitive_values": {}}
        for t, n, v in res
    ]  # fmt: skip
    plan = {
        "format_version": "1.2",
        "terraform_version": "1.9.5",
        "planned_values": {"root_module": {"resources": resources}},
        "resource_changes": [
            {
                "address": r["address"],
                "mode": "managed",
                "type": r["type"],
                "name": r["name"],
                "provider_name": provider,
                "change": {"actions": ["create"], "before": None, "after": r["values"], "after_unknown": {}},
            }
            for r in resources
        ],  # fmt: skip
        "configuration": {
            "provider_config": {
                "aws": {
                    "name": "aws",
                    "full_name": provider,
                    "expressions": {"region": {"constant_value": "eu-central-1"}},
                }
            },
            "root_module": {},
        },
        "timestamp": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return json.dumps(plan).encode()


def _pushes() -> list[tuple]:
    """(source name, channel, event, subject, body, filename, days ago effective or None)."""
    return [
        # Marketing website: the release the gate blocks until its SBOM arrives.
        ("ci marketing-site", "upload", "", MARKETING_COMMIT, JUNIT_PASSING, "junit.xml", 3),
        ("ci marketing-site", "upload", "", MARKETING_COMMIT, SARIF_CLEAN, "ruff.sarif", 3),
        ("github marketing-site", "github", "release", MARKETING_RELEASE, _release_webhook(), "", None),
        (
            "ci marketing-site",
            "upload",
            "",
            MARKETING_RELEASE,
            demo_signed_provenance(),
            "provenance.intoto.json",
            2,
        ),  # fmt: skip
        # Clinical records: unencrypted bucket (HIPAA fails), privileged pod, failing Checkov scan.
        (
            "infra clinical-records",
            "upload",
            "",
            CLINICAL_INFRA_COMMIT,
            (INFRA / "k8s_workloads.yaml").read_bytes(),
            "workloads.yaml",
            70,
        ),  # fmt: skip
        (
            "infra clinical-records",
            "upload",
            "",
            CLINICAL_INFRA_COMMIT,
            (INFRA / "terraform_plan.json").read_bytes(),
            "plan.json",
            45,
        ),  # fmt: skip
        (
            "infra clinical-records",
            "upload",
            "",
            CLINICAL_INFRA_COMMIT,
            (INFRA / "checkov_terraform.json").read_bytes(),
            "checkov.json",
            45,
        ),  # fmt: skip
        # Payments API: a clean plan, OPA gates that denied three decisions.
        ("infra payments-api", "upload", "", PAYMENTS_INFRA_COMMIT, clean_terraform_plan(), "plan.json", 60),
        (
            "infra payments-api",
            "upload",
            "",
            PAYMENTS_INFRA_COMMIT,
            (INFRA / "opa_decisions.jsonl").read_bytes(),
            "decisions.jsonl",
            20,
        ),  # fmt: skip
        # Data platform: Terraform state with platform-default keys and public storage.
        (
            "infra data-platform",
            "upload",
            "",
            "git+https://github.com/acme/data-infra@" + "d" * 40,
            (INFRA / "terraform_state.json").read_bytes(),
            "terraform.tfstate.json",
            30,
        ),  # fmt: skip
        # Patient triage: version 3 in production with its data version; candidate 4 not ready.
        ("github patient-triage", "github", "deployment_status", TRIAGE_V3, _model_deployment_webhook(), "", None),
        ("ml patient-triage", "upload", "", TRIAGE_V3, _metrics("3", 0.91, 0.04, 41), "metrics-v3.json", 41),
        (
            "ml patient-triage",
            "upload",
            "",
            TRIAGE_V3,
            (INFRA / "patients.csv.dvc").read_bytes(),
            "patients.csv.dvc",
            41,
        ),
        (
            "ml patient-triage",
            "upload",
            "",
            TRIAGE_V3,
            (DATA / "hf_model_card_data.json").read_bytes(),
            "model-card.json",
            41,
        ),  # fmt: skip
        ("ml patient-triage", "upload", "", TRIAGE_V4, _metrics("4", 0.86, 0.03, 10), "metrics-v4.json", 10),
        (
            "ml patient-triage",
            "upload",
            "",
            TRIAGE_V4,
            (INFRA / "fairlearn_metricframe.json").read_bytes(),
            "fairness.json",
            10,
        ),  # fmt: skip
        (
            "ml patient-triage",
            "upload",
            "",
            TRIAGE_V4,
            (INFRA / "gx_validation_result.json").read_bytes(),
            "validation.json",
            10,
        ),  # fmt: skip
        (
            "ml patient-triage",
            "upload",
            "",
            TRIAGE_V4,
            (INFRA / "evidently_drift_report.json").read_bytes(),
            "drift.json",
            8,
        ),  # fmt: skip
        ("ml patient-triage", "upload", "", TRIAGE_V4, (INFRA / "dvc.lock").read_bytes(), "dvc.lock", 10),
    ]


# The demo's build signer: an Ed25519 key derived from a fixed phrase, so the demo provenance
# verifies (issue 17). Demo only: anyone can derive it; never trust it outside the demo.
DEMO_SIGNER_SEED = hashlib.sha256(b"compliance-portal demo provenance signer").digest()
DEMO_SIGNER_NAME = "demo build signer (marketing-site CI)"


def _demo_signer() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(DEMO_SIGNER_SEED)


def demo_signed_provenance() -> bytes:
    """The demo SLSA v1 provenance, re-signed (DSSE v1) with the demo signer."""

    envelope = json.loads((DATA / "dsse_slsa_v1.intoto.json").read_bytes())
    payload = base64.b64decode(envelope["payload"])
    signature = _demo_signer().sign(pae(envelope["payloadType"], payload))
    envelope["signatures"] = [{"keyid": "demo-build-signer", "sig": base64.b64encode(signature).decode()}]
    return json.dumps(envelope, indent=2).encode()


def demo_signer_trust(*, actor, system: System) -> None:
    """Trust the demo signer for `system` (once): its provenance then verifies."""

    if TrustedKey.objects.filter(system=system, name=DEMO_SIGNER_NAME, revoked_at__isnull=True).exists():
        return
    pem = (
        _demo_signer()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    trusted_key_add(
        actor=actor, name=DEMO_SIGNER_NAME, system=system, public_key_pem=pem.decode(), keyid="demo-build-signer"
    )


def _sources(actor) -> dict[str, Source]:
    out = {}
    for name, kind, slug in DEMO_SOURCES:
        source = Source.objects.filter(name=name).first()
        if source is None:
            source = source_create(actor=actor, kind=kind, name=name, system=System.objects.get(slug=slug)).source
        out[name] = source
    return out


def _push(source: Source, channel: str, event: str, subject: str, body: bytes, filename: str, effective_at) -> None:
    upload = channel == Receipt.Channel.UPLOAD
    key = f"demo-policy:{source.name}:{filename or event}:{subject}"
    # Pushed once: some demo bodies carry the seed's own time, and the same key with another
    # body is a conflict (409), not a replay.
    receipt = Receipt.objects.filter(source=source, delivery_key=key).first()
    if receipt is None:
        receipt, _created = receipt_accept(
            source=source,
            channel=channel,
            body=body,
            content_type="application/octet-stream" if upload else "application/json",
            delivery_key=key,
            event=event,
            headers={"user_agent": "seed_demo"},
            filename=filename,
            subject=subject,
            effective_at=effective_at,
            enqueue=False,
        )
    if receipt.state == Receipt.State.QUEUED:
        receipt_parse(receipt_id=receipt.pk)


def demo_policy_seed(*, actor) -> dict:
    """Push the demo evidence once, replay a 90-day history the first time, evaluate now, roll up."""
    now = timezone.now()
    for slug, regions in ALLOWED_REGIONS.items():
        system = System.objects.get(slug=slug)
        SystemPolicy.objects.update_or_create(system=system, defaults={"allowed_regions": regions})
    sources = _sources(actor)
    demo_signer_trust(actor=actor, system=System.objects.get(slug="marketing-site"))
    for name, channel, event, subject, body, filename, days in _pushes():
        effective = None if days is None else now - timedelta(days=days)
        _push(sources[name], channel, event, subject, body, filename, effective)
    replayed = 0
    today = timezone.localdate()
    first_day = today - timedelta(days=HISTORY_WEEKS * 7)
    if not ControlResultChange.objects.filter(changed_at__lt=timezone.make_aware(datetime.combine(today, time.min))):
        # First seed: evaluate as of weekly points in the past, so the history has a shape.
        for week in range(HISTORY_WEEKS, 0, -1):
            moment = timezone.make_aware(datetime.combine(today - timedelta(days=7 * week), time(12, 0)))
            policy_evaluate(now=moment, as_of=moment, actor="system:seed_demo")
            replayed += 1
        coverage_snapshot_days(days=[first_day + timedelta(days=n) for n in range((today - first_day).days)])
    stats = policy_evaluate(actor="system:seed_demo")
    coverage_snapshot(day=today)
    return {"replayed": replayed, "changed": stats.changed, "subjects": stats.subjects}


def demo_release_sbom() -> bytes:
    """The SBOM the blocked demo release is missing (a real CycloneDX document)."""
    return (DATA / "cyclonedx_py_env.cdx.json").read_bytes()
