"""What each role's home page lists: its own work, read through the selectors of the apps that own it.

One function per role returns that role's part of the context; the home view merges the parts of the
user's roles. Every list is capped (HOME_LIMIT) so the page costs a bounded number of queries."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q
from django.utils import timezone

from apps.accounts.roles import Role
from apps.accounts.scoping import scope_by_system
from apps.approvals.expiry import days_left_phrase
from apps.engagements.models import EvidenceRequest
from apps.engagements.selectors import (
    engagement_list_for_user,
    evidence_request_list_for_assignee,
    evidence_request_list_for_auditor,
    review_flagged_list_for_auditor,
)
from apps.engagements.workspace import flag_list_for_auditor
from apps.exceptions.models import ExceptionRequest
from apps.exceptions.selectors import ExceptionFilters, exception_inbox_for_user, exception_list_for_user
from apps.inventory.models import System
from apps.policy.models import ResultStatus
from apps.policy.selectors import results_view
from apps.releases.selectors import release_inbox_for_user

HOME_LIMIT = 20
EXPIRING_WITHIN_DAYS = 30


def approvals_waiting(user) -> dict:
    """The approval inbox (exceptions and release sign-offs waiting for this user), as the inbox page lists it.

    Kept on the user object for the request: the navigation badge and the home page ask for it on the
    same request and must agree."""
    cached = getattr(user, "_home_approvals_waiting", None)
    if cached is None:
        cached = {"exceptions": exception_inbox_for_user(user=user), "releases": release_inbox_for_user(user=user)}
        cached["count"] = len(cached["exceptions"]) + len(cached["releases"])
        user._home_approvals_waiting = cached
    return cached


def approvals_waiting_count(user) -> int:
    """How many decisions wait for this user (the badge on the Approvals entry of the navigation)."""
    return approvals_waiting(user)["count"]


def auditor_home(user, now: datetime) -> dict:
    """The auditor's open engagements (observation window, access days left) and what waits for their review."""
    rows = []
    for engagement in engagement_list_for_user(user=user).filter(auditors=user)[:HOME_LIMIT]:
        codes = engagement.frameworks or sorted({c for s in engagement.systems.all() for c in s.frameworks or []})
        anchor = f"#controls-{codes[0]}" if codes else ""
        rows.append({
            "engagement": engagement,
            "days_left": days_left_phrase(engagement.access_end - now),
            "controls_url": engagement.get_absolute_url() + anchor,
        })  # fmt: skip
    return {
        "engagements": rows,
        "to_review": list(evidence_request_list_for_auditor(user=user)[:HOME_LIMIT]),
        "flagged": list(review_flagged_list_for_auditor(user=user)[:HOME_LIMIT]),
        "flags": list(flag_list_for_auditor(user=user)[:HOME_LIMIT]),
    }


def risk_owner_home(user, now: datetime) -> dict:
    """Exceptions and release sign-offs waiting for this user's decision."""
    return {"waiting": approvals_waiting(user)}


def engineer_home(user, now: datetime) -> dict:
    """Failing controls of the user's systems, the exceptions they asked for and requests addressed to them."""
    bad = [ResultStatus.FAIL, ResultStatus.MISSING]
    mine = Q(system__engineering_owners=user)
    # failures first, then missing evidence: each query capped, no ORDER BY (see results_view)
    failing = results_view(user, mine & Q(status=ResultStatus.FAIL), as_of=None, limit=HOME_LIMIT)
    if len(failing) < HOME_LIMIT:
        failing += results_view(user, mine & Q(status=ResultStatus.MISSING), as_of=None,
                                limit=HOME_LIMIT - len(failing))  # fmt: skip
    systems = scope_by_system(user, System.objects.filter(engineering_owners=user), "id").annotate(
        failing_controls=Count("control_results__control", filter=Q(control_results__status__in=bad), distinct=True)
    )
    open_exceptions = exception_list_for_user(user=user, filters=ExceptionFilters(requested_by_me=True)).filter(
        status__in=[ExceptionRequest.Status.DRAFT, ExceptionRequest.Status.PENDING]
    )
    requests = evidence_request_list_for_assignee(user=user).filter(status__in=EvidenceRequest.WAITING_FOR_ANSWER)
    return {
        "failing": failing,
        "failing_by_system": list(systems.order_by("name")[:HOME_LIMIT]),
        "my_exceptions": list(open_exceptions[:HOME_LIMIT]),
        "my_requests": list(requests[:HOME_LIMIT]),
    }


def compliance_officer_home(user, now: datetime) -> dict:
    """Overdue evidence requests and exceptions ending within 30 days (coverage and failures: the overview)."""
    overdue = evidence_request_list_for_assignee(user=user).filter(
        status__in=EvidenceRequest.WAITING_FOR_ANSWER, due_date__lt=timezone.localdate(now)
    )
    expiring = exception_list_for_user(
        user=user, filters=ExceptionFilters(expiring_within=EXPIRING_WITHIN_DAYS), now=now
    ).order_by("expires_at", "pk")
    return {
        "overdue_requests": list(overdue[:HOME_LIMIT]),
        "expiring": list(expiring[:HOME_LIMIT]),
        "expiring_days": EXPIRING_WITHIN_DAYS,
    }


ROLE_SECTIONS = {
    Role.AUDITOR: auditor_home,
    Role.RISK_OWNER: risk_owner_home,
    Role.ENGINEER: engineer_home,
    Role.COMPLIANCE_OFFICER: compliance_officer_home,
}


def home_sections_for(user, now: datetime | None = None) -> dict[str, dict]:
    """Each of the user's roles that has a home section, with its context (role value -> dict)."""
    now = now or timezone.now()
    return {role: build(user, now) for role, build in ROLE_SECTIONS.items() if role in user.roles}
