"""Policy fixtures: demo-like systems with evidence pushed through the real ingestion services."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.ingest.services import source_create
from apps.inventory.models import Environment, System
from apps.policy.models import SystemPolicy
from devtools.demo import policy as demo

SYSTEMS = {
    "marketing-site": dict(name="Marketing website", kind="service", risk_tier="low", data_classes=["public"],
                           frameworks=["soc2"]),
    "clinical-records": dict(name="Clinical records service", kind="service", risk_tier="critical",
                             data_classes=["phi", "pii"], frameworks=["hipaa", "gdpr", "soc2"]),
}  # fmt: skip


def make_system(slug: str) -> System:
    system = System.objects.create(slug=slug, **SYSTEMS[slug])
    Environment.objects.create(system=system, name="prod", region="eu-west-1")
    return system


def push(source_name: str, *, only=None):
    """Push the demo evidence of one demo source (optionally only files whose name is in `only`)."""
    from apps.ingest.models import Source

    source = Source.objects.get(name=source_name)
    now = timezone.now()
    for name, channel, event, subject, body, filename, days in demo._pushes():
        if name != source_name or (only and (filename or event) not in only):
            continue
        effective = None if days is None else now - timedelta_days(days)
        demo._push(source, channel, event, subject, body, filename, effective)


def timedelta_days(days):
    from datetime import timedelta

    return timedelta(days=days)


@pytest.fixture
def marketing(db):
    """The marketing site's release 2.4.0: tests, scan and provenance recorded, no SBOM yet."""
    system = make_system("marketing-site")
    ci = source_create(actor="system:test", kind="generic-ci", name="ci marketing-site", system=system)
    source_create(actor="system:test", kind="github", name="github marketing-site", system=system)
    demo.demo_signer_trust(actor="system:test", system=system)  # its provenance is signed (issue 17)
    push("ci marketing-site")
    push("github marketing-site")
    return {"system": system, "ci": ci}


@pytest.fixture
def clinical(db):
    """Clinical records (PHI) with the Terraform plan that leaves an S3 bucket unencrypted."""
    system = make_system("clinical-records")
    SystemPolicy.objects.create(system=system, allowed_regions=["eu-west-1"])
    creds = source_create(actor="system:test", kind="generic-ci", name="infra clinical-records", system=system)
    push("infra clinical-records", only={"plan.json", "workloads.yaml"})
    return {"system": system, "ci": creds}
