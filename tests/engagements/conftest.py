"""Engagement worlds built through the services: systems in and out of scope, evidence, auditors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.accounts.services import user_create
from apps.engagements.services import engagement_open
from apps.evidence.models import Evidence
from apps.ingest.services import receipt_accept, receipt_parse, source_create
from apps.inventory.models import System
from tests.ingest.conftest import COMMIT, fixture_bytes

DAY = timedelta(days=1)


def parsed_upload(source, fixture: str, *, system, effective_at, subject=COMMIT) -> Evidence:
    """Upload a fixture file and parse it now (no worker): returns its first evidence."""
    receipt, _ = receipt_accept(
        source=source,
        channel="upload",
        body=fixture_bytes(fixture),
        subject=subject,
        filename=fixture,
        system=system,
        effective_at=effective_at,
        enqueue=False,
    )
    receipt = receipt_parse(receipt_id=receipt.pk)
    return Evidence.objects.filter(receipt=receipt).order_by("ordinal").first()


def open_engagement(actor, *, auditors, systems, name="SOC 2 Type II 2026", observation=None, access=None):
    now = timezone.now()
    observation = observation or (now - 90 * DAY, now)
    access = access or (now - DAY, now + 30 * DAY)
    return engagement_open(
        actor=actor,
        name=name,
        auditors=auditors,
        systems=systems,
        frameworks=["soc2"],
        observation_start=observation[0],
        observation_end=observation[1],
        access_start=access[0],
        access_end=access[1],
    )


@dataclass
class World:
    officer: object
    system_in: System
    system_out: System
    source: object
    evidence_in: Evidence
    evidence_old: Evidence  # in scope by system, but effective before the observation window
    evidence_out: Evidence  # another system, in the window
    auditor_in: object
    auditor_out: object
    auditor_ended: object
    engagement: object
    engagement_out: object
    engagement_ended: object


def person(role: str, username: str):
    """A user with a role and no usable password (tests sign in with force_login; no slow hashing)."""
    return user_create(username=username, password=None, roles=[role])


@pytest.fixture
def world(db):
    return world_build()


def world_build() -> World:
    """Two systems, evidence in and out of scope, and auditors in, out of and past an engagement."""
    now = timezone.now()
    officer = person(Role.COMPLIANCE_OFFICER, "officer")
    system_in = System.objects.create(name="Payments API", slug="payments-api", risk_tier="high")
    system_out = System.objects.create(name="Credit Scoring", slug="credit-scoring", risk_tier="critical")
    source = source_create(actor="system:test", kind="generic-ci", name="ci").source
    evidence_in = parsed_upload(source, "junit_pytest.xml", system=system_in, effective_at=now - 10 * DAY)
    evidence_old = parsed_upload(source, "ruff_check.sarif", system=system_in, effective_at=now - 200 * DAY)
    evidence_out = parsed_upload(
        source,
        "cyclonedx_py_env.cdx.json",
        system=system_out,
        effective_at=now - 10 * DAY,
        subject="pkg:pypi/credit-model@1.0",
    )
    auditor_in = person(Role.AUDITOR, "auditor-in")
    auditor_out = person(Role.AUDITOR, "auditor-out")
    auditor_ended = person(Role.AUDITOR, "auditor-ended")
    engagement = open_engagement(officer, auditors=[auditor_in], systems=[system_in])
    engagement_out = open_engagement(officer, auditors=[auditor_out], systems=[system_out], name="Model risk review")
    engagement_ended = open_engagement(
        officer,
        auditors=[auditor_ended],
        systems=[system_in],
        name="Last year's audit",
        access=(now - 60 * DAY, now - DAY),
    )
    return World(
        officer,
        system_in,
        system_out,
        source,
        evidence_in,
        evidence_old,
        evidence_out,
        auditor_in,
        auditor_out,
        auditor_ended,
        engagement,
        engagement_out,
        engagement_ended,
    )


def engaged_auditor(make_user, systems, officer=None):
    """An auditor in an open engagement over these systems and all of time: sees what everyone sees of them.

    For tests written before engagements, which used an auditor as a plain reader (issue 9 scopes auditors)."""
    from datetime import datetime

    auditor = make_user(Role.AUDITOR)
    officer = officer or make_user(Role.COMPLIANCE_OFFICER)
    open_engagement(
        officer, auditors=[auditor], systems=list(systems), name="Reader engagement",
        observation=(datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)),
    )
    return auditor
