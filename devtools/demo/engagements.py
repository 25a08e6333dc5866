"""The demo engagement of `make run` (seed_demo), opened and worked through the real services, so
the demo auditor has something to audit: a SOC 2 engagement over three systems, open for the next
60 days, with a request waiting on the system side and one already answered. Idempotent: does
nothing once any engagement exists.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.accounts.models import User
from apps.engagements.models import Engagement
from apps.engagements.services import engagement_open, evidence_request_answer, evidence_request_create
from apps.evidence.models import Evidence
from apps.inventory.models import System

SYSTEMS = ["payments-api", "credit-scoring", "clinical-records"]


def demo_engagement_seed(*, compliance: User, auditor: User, engineer: User) -> int:
    """Open the demo engagement; returns how many engagements it opened (0 or 1)."""
    if Engagement.objects.exists():
        return 0
    # Sign a checkpoint of what the demo wrote so far: the engagement records it as its opening
    # checkpoint, and its page can then show "nothing was rewritten since" as a real check.
    from apps.ledger.services import ledger_checkpoint, ledger_integrate_all

    ledger_integrate_all()
    ledger_checkpoint(force=True)
    now = timezone.now()
    systems = list(System.objects.filter(slug__in=SYSTEMS).order_by("slug"))
    engagement = engagement_open(
        actor=compliance,
        name="SOC 2 Type II, FY2026 (demo)",
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
    return 1
