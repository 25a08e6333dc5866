"""Demo data of issue 12 for `make run` (seed_demo): a release waiting for sign-off, a data
policy redacting commit identities, a legal hold, and one receipt disposed of on schedule.

Everything goes through the real services; safe to run again (delivery keys, get-or-skip).
"""

from __future__ import annotations

import copy
import json

from django.utils import timezone

from apps.ingest.models import Receipt, Source
from apps.ingest.services import receipt_accept, receipt_parse, source_create
from apps.inventory.models import System
from apps.retention.models import Disposal, LegalHold
from apps.retention.services import data_policy_set, legal_hold_place, receipt_dispose
from devtools.demo.ingest import DATA

TRIAGE_SHA = "5f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"


def _triage_release() -> bytes:
    doc = copy.deepcopy(json.loads((DATA / "github" / "release.published.json").read_bytes()))
    doc["repository"]["html_url"] = "https://github.com/demo-health/patient-triage"
    doc["repository"]["full_name"] = "demo-health/patient-triage"
    doc["release"]["tag_name"] = "v3.2.0"
    doc["release"]["name"] = "Triage model 3.2 (retrained on Q3 data) [change-class: model]"
    doc["release"]["target_commitish"] = TRIAGE_SHA
    doc["release"]["author"]["login"] = "engineer"
    doc["sender"]["login"] = "engineer"
    when = timezone.now().replace(microsecond=0).isoformat().replace("+00:00", "Z")
    doc["release"]["created_at"] = doc["release"]["published_at"] = when
    return json.dumps(doc).encode()


def demo_seed(*, actor) -> dict:
    """Seed the release sign-off and retention demo; returns what it did."""
    triage = System.objects.get(slug="patient-triage")
    source = Source.objects.filter(name="github patient-triage").first()
    if source is None:
        source = source_create(actor=actor, kind=Source.Kind.GITHUB, name="github patient-triage", system=triage).source
    # Pushed once: the body carries the seed's time, and a key reused with another body is a 409.
    receipt = Receipt.objects.filter(source=source, delivery_key="demo:triage-release").first()
    if receipt is None:
        receipt, _ = receipt_accept(source=source, channel="github", body=_triage_release(),
                                    content_type="application/json",
                                    event="release", delivery_key="demo:triage-release", enqueue=False)  # fmt: skip
    if receipt.state == Receipt.State.QUEUED:
        receipt_parse(receipt_id=receipt.pk)  # CI metadata names the class: sign-off is requested
    # Payments API: commit author names and e-mail addresses are redacted before storage from now on.
    data_policy_set(actor=actor, system=System.objects.get(slug="payments-api"), redaction_rules=["commit-identities"])
    # Data platform: a regulator's inquiry holds everything; its old pipeline runs are past retention but stay.
    platform = System.objects.get(slug="data-platform")
    if not LegalHold.objects.filter(system=platform, status=LegalHold.Status.ACTIVE).exists():
        legal_hold_place(
            actor=actor,
            scope=LegalHold.Scope.SYSTEM,
            system=platform,
            reason="Regulator inquiry DPA-2026-114 into the 2016-2020 data pipelines (counsel: J. Alvarez)",
        )
    # Payments API: the failed workflow job's content is dated 2019, past its CI-runs schedule; it used to be
    # disposed of here. Retention now runs from the later of effective and received time (issue 17), so
    # it is kept until its schedule has run from the day the portal received it: nothing is disposed of.
    disposed = 0
    job = Receipt.objects.filter(delivery_key="demo:github/workflow_job.completed.failure.json").first()
    if job is not None and not Disposal.objects.filter(receipt=job).exists():
        disposed = int(receipt_dispose(receipt_id=job.pk) is not None)  # None: not due
    return {"signoff_receipt": receipt.pk, "disposed": disposed}
