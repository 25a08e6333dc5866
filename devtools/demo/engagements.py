"""The demo engagement of `make run` (seed_demo), opened and worked through the real services, so
the demo auditor has something to audit: a SOC 2 engagement over three systems, open for the next
60 days, with a request waiting on the system side and one already answered, and a HIPAA Security
Rule assessment of the three systems that hold PHI. Idempotent: each is opened once, by name.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.accounts.models import User
from apps.engagements.models import Engagement
from apps.engagements.services import engagement_open, evidence_request_answer, evidence_request_create
from apps.evidence.models import Evidence
from apps.inventory.models import System
from apps.ledger.services import ledger_checkpoint, ledger_integrate_all

SYSTEMS = ["payments-api", "credit-scoring", "clinical-records"]
SOC2_NAME = "SOC 2 Type II, FY2026 (demo)"
HIPAA_SYSTEMS = ["clinical-records", "patient-triage", "data-platform"]
HIPAA_NAME = "HIPAA Security Rule assessment, 2026 (demo)"


def demo_engagement_seed(*, compliance: User, auditor: User, engineer: User) -> int:
    """Open the demo engagements that are not open yet; returns how many it opened (0 to 2)."""
    opened = 0
    if not Engagement.objects.filter(name=SOC2_NAME).exists():
        _soc2_open(compliance=compliance, auditor=auditor, engineer=engineer)
        opened += 1
    if not Engagement.objects.filter(name=HIPAA_NAME).exists():
        now = timezone.now()
        engagement_open(
            actor=compliance,
            name=HIPAA_NAME,
            description="Byrne & Partners assess the administrative, physical and technical safeguards "
            "of the systems that hold electronic protected health information.",
            auditors=[auditor],
            systems=list(System.objects.filter(slug__in=HIPAA_SYSTEMS).order_by("slug")),
            frameworks=["hipaa"],
            observation_start=now - timedelta(days=180),
            observation_end=now + timedelta(days=14),
            access_start=now - timedelta(days=1),
            access_end=now + timedelta(days=45),
        )
        opened += 1
    return opened


def _soc2_open(*, compliance: User, auditor: User, engineer: User) -> None:
    """The SOC 2 engagement, opened at a signed checkpoint, with one request answered and one open."""
    # Sign a checkpoint of what the demo wrote so far: the engagement records it as its opening
    # checkpoint, and its page can then show "nothing was rewritten since" as a real check.
    ledger_integrate_all()
    ledger_checkpoint(force=True)
    now = timezone.now()
    systems = list(System.objects.filter(slug__in=SYSTEMS).order_by("slug"))
    engagement = engagement_open(
        actor=compliance,
        name=SOC2_NAME,
        description="Byrne & Partners test the operating effectiveness of change management and logical access.",
        auditors=[auditor],
        systems=systems,
        frameworks=["soc2"],
        observation_start=now - timedelta(days=365),
        observation_end=now + timedelta(days=30),
        access_start=now - timedelta(days=1),
        access_end=now + timedelta(days=60),
    )
    payments = next(s for s in systems if s.slug == "payments-api")
    evidence_request_create(
        actor=auditor,
        engagement_id=engagement.pk,
        system_id=payments.pk,
        title="Approval and test evidence for every production change in the window",
        description="For each production deployment: the pull request approval and the passing test run.",
        due_date=(now + timedelta(days=10)).date(),
        assignee=engineer,
        control_id="soc2-cc8-1",
    )
    answered = evidence_request_create(
        actor=auditor,
        engagement_id=engagement.pk,
        system_id=payments.pk,
        title="Latest static analysis scan of the payments API",
        due_date=(now + timedelta(days=5)).date(),
        assignee=engineer,
        control_id="soc2-cc7-1",
    )
    scan = Evidence.objects.filter(system=payments, kind="sast-scan").order_by("-id").first()
    if scan is not None:
        evidence_request_answer(actor=engineer, request_id=answered.pk, evidence_ids=[scan.pk], note="The newest scan.")
