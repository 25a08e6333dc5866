"""Demo exceptions for `make run` (seed_demo), made through the real services so the ledger,
approvals and coverage are true: one of each state, a request waiting in each risk owner's
inbox, and a few expiring soon for the calendar. Idempotent: does nothing once any exists.

The demo user `ciso` is the designated executive (critical-tier chains).
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.accounts.models import User
from apps.exceptions.models import ExceptionRequest
from apps.exceptions.services import (
    ExceptionInput,
    exception_approve,
    exception_executive_set,
    exception_expire,
    exception_reject,
    exception_request,
    exception_revoke,
)
from apps.inventory.models import System
from apps.policy.models import ControlResult, ResultStatus

RATING = {"low": (1, 2), "medium": (2, 3), "high": (3, 4), "critical": (5, 5)}

# system slug, tier, what happens, days until expiry, days ago it was requested
PLAN = [
    ("credit-scoring", "medium", "approved", 9, 20),
    ("credit-scoring", "high", "pending-ro", 25, 3),
    ("clinical-records", "high", "pending-co", 20, 4),
    ("payments-api", "low", "approved", 60, 35),
    ("fraud-detection", "medium", "rejected", 30, 10),
    ("data-platform", "medium", "expired", -2, 50),
    ("patient-triage", "critical", "pending-ro", 12, 1),
    ("marketing-site", "low", "revoked", 90, 15),
]

TEXT = {
    "justification": "The fix is scheduled for the next quarterly release; until then the business accepts the "
    "residual risk because the affected path handles no new customers.",
    "compensating": "Manual weekly review of access logs by the security team; alerting on anomalous reads; "
    "the affected component is reachable only from the internal network.",
}


def _controls_needing_exceptions(system: System, n: int) -> list[str]:
    """Control ids with a failing or missing system-wide result on the system (failing first)."""
    rows = (
        ControlResult.objects.filter(system=system, status__in=[ResultStatus.FAIL, ResultStatus.MISSING])
        .order_by("status", "control__control_id")
        .values_list("control__control_id", flat=True)
        .distinct()
    )
    out = []
    for cid in rows:
        if cid not in out:
            out.append(cid)
        if len(out) == n:
            break
    return out


def demo_exceptions_seed(*, actor) -> int:
    """Create the demo exceptions; returns how many were made (0 when they exist already)."""
    if ExceptionRequest.objects.exists():
        return 0
    users = {u.username: u for u in User.objects.filter(username__in=["engineer", "riskowner", "ciso", "compliance"])}
    if len(users) < 4:
        return 0
    exception_executive_set(user=users["ciso"], designated=True, actor=actor)
    used: dict[str, int] = {}
    made = 0
    real_now = timezone.now()
    for slug, tier, outcome, expires_in, age in PLAN:
        system = System.objects.filter(slug=slug).first()
        if system is None:
            continue
        controls = _controls_needing_exceptions(system, used.get(slug, 0) + 1)
        if len(controls) <= used.get(slug, 0):
            continue
        control = controls[used.get(slug, 0)]
        used[slug] = used.get(slug, 0) + 1
        now = real_now - timedelta(days=age)
        likelihood, impact = RATING[tier]
        expires_at = real_now + timedelta(days=expires_in)
        if expires_at > now + timedelta(days={"low": 180, "medium": 90, "high": 30, "critical": 14}[tier]):
            expires_at = now + timedelta(days={"low": 180, "medium": 90, "high": 30, "critical": 14}[tier] - 1)
        req = exception_request(
            actor=users["engineer"],
            data=ExceptionInput(
                control=control,
                system=slug,
                justification=TEXT["justification"],
                compensating_controls=TEXT["compensating"],
                likelihood=likelihood,
                impact=impact,
                expires_at=expires_at,
            ),
            submit=True,
            now=now,
        )
        made += 1
        risk_owner = (
            users["riskowner"] if system.risk_owners.filter(pk=users["riskowner"].pk).exists() else users["ciso"]
        )
        decided = now + timedelta(hours=18)

        def approve(user, at, req=req):
            return exception_approve(
                request_id=req.pk,
                approver=user,
                reauthenticated_at=at,
                now=at,
                comment="Accepted with the compensating controls described.",
            )

        if outcome in ("approved", "expired", "revoked"):
            approve(risk_owner, decided)
            if tier in ("high", "critical"):
                approve(users["compliance"], decided + timedelta(hours=5))
            if tier == "critical":
                approve(users["ciso"], decided + timedelta(hours=8))
        elif outcome == "pending-co":
            approve(risk_owner, decided)
        elif outcome == "rejected":
            exception_reject(
                request_id=req.pk,
                approver=risk_owner,
                reauthenticated_at=decided,
                now=decided,
                comment="The compensating controls do not cover the exposed path; fix it instead.",
            )
        if outcome == "expired":
            exception_expire(request_id=req.pk)
        elif outcome == "revoked":
            exception_revoke(
                request_id=req.pk,
                actor=users["compliance"],
                reason="The fix shipped early; the exception is no longer needed.",
            )
    return made
