"""Fixtures of the exception tests: a governed system whose DPIA control is missing evidence,
its owners, and a helper that makes requests of a given tier through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.exceptions.services import ExceptionInput, exception_executive_set, exception_request
from apps.inventory.models import System
from apps.policy.models import Control, ControlResult
from apps.policy.services import policy_evaluate

# likelihood, impact giving each tier in the shipped matrix
RATING = {"low": (1, 1), "medium": (1, 4), "high": (3, 4), "critical": (5, 5)}
CONTROL = "gdpr-35-1"  # "dpia-current": missing on a high-tier GDPR system without a DPIA


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Nine users per test: the production hasher's cost is not what these tests are about."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def owners(make_user):
    """The people around one system: two risk owners, an engineer, two compliance officers, an executive."""
    people = {
        "engineer": make_user(Role.ENGINEER, username="eng", email="eng@example.org"),
        "risk_owner": make_user(Role.RISK_OWNER, username="ro", email="ro@example.org"),
        "risk_owner_2": make_user(Role.RISK_OWNER, username="ro2"),
        "other_risk_owner": make_user(Role.RISK_OWNER, username="ro-elsewhere"),
        "compliance": make_user(Role.COMPLIANCE_OFFICER, username="co", email="co@example.org"),
        "compliance_2": make_user(Role.COMPLIANCE_OFFICER, username="co2"),
        "executive": make_user(Role.RISK_OWNER, username="exec"),
        "admin": make_user(Role.ADMIN, username="adm"),
        "auditor": make_user(Role.AUDITOR, username="aud"),
    }
    exception_executive_set(user=people["executive"], designated=True, actor="system:test")
    return people


@pytest.fixture
def system(db, owners):
    s = System.objects.create(name="Credit", slug="credit", risk_tier="high", frameworks=["gdpr"], data_classes=["pii"])
    s.risk_owners.set([owners["risk_owner"], owners["risk_owner_2"]])
    s.engineering_owners.set([owners["engineer"]])
    other = System.objects.create(name="Other", slug="other", risk_tier="low")
    other.risk_owners.set([owners["other_risk_owner"]])
    policy_evaluate(system_ids=[s.pk])
    return s


@pytest.fixture
def control(system):
    control = Control.objects.get(control_id=CONTROL)
    assert ControlResult.objects.filter(control=control, system=system, status="missing").exists()
    return control


def control_status(control, system) -> set[str]:
    return set(ControlResult.objects.filter(control=control, system=system).values_list("status", flat=True))


@pytest.fixture
def make_request(system, control, owners):
    def _make(tier="high", *, actor=None, submit=True, days=7, now=None, **fields):
        likelihood, impact = RATING[tier]
        now = now or timezone.now()
        data = ExceptionInput(
            control=CONTROL,
            system=system.slug,
            justification=fields.pop("justification", "The DPIA is being rewritten by the new DPO this quarter."),
            compensating_controls=fields.pop(
                "compensating_controls", "Data minimised; access limited to two analysts."
            ),
            likelihood=likelihood,
            impact=impact,
            expires_at=fields.pop("expires_at", now + timedelta(days=days)),
            **fields,
        )
        return exception_request(actor=actor or owners["engineer"], data=data, submit=submit, now=now)

    return _make


@pytest.fixture
def fresh():
    """A re-authentication that just happened."""
    return timezone.now()


def approve_chain(req, owners, *, now=None):
    """Approve a request by its whole chain (risk owner, compliance officer, executive as needed)."""
    from apps.exceptions.chain import chain_for
    from apps.exceptions.services import exception_approve

    who = {"system_risk_owner": "risk_owner", "compliance_officer": "compliance", "executive": "executive"}
    for slot in chain_for(req):
        req = exception_approve(
            request_id=req.pk, approver=owners[who[slot]], reauthenticated_at=now or timezone.now(), now=now
        )
    return req
