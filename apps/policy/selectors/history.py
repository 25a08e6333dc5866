"""Results "as of" a day: the user's window, and results read from the append-only history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from apps.accounts.scoping import (
    effective_window,
    scope_by_system,
)
from apps.evidence.models import Artifact, Evidence
from apps.inventory.models import System
from apps.policy.models import (
    Control,
    ControlResult,
    ControlResultChange,
    ResultStatus,
    RuleVersion,
)
from apps.policy.services import day_end

RESULTS_LIMIT = 300


# ---------------------------------------------------------------- as of


def as_of_for_user(user, requested: date | None) -> date | None:
    """The "as of" day a page shows: the requested one (None: now), never past the user's window."""
    window = effective_window(user)
    if window is None:
        return requested
    last = (window[1] - timedelta(microseconds=1)).date()
    if requested is None or requested > last:
        return last if last < timezone.localdate() else requested
    return requested


@dataclass
class ResultView:
    """One result as pages show it, current or as of a past day."""

    result_id: int
    control_id: int
    rule_id: int
    rule_version_id: int
    system_id: int
    artifact_id: int | None
    status: str
    reason: str
    evidence_ids: list[int]
    exception_id: int | None
    at: datetime  # evaluated_at (current) or changed_at (history)
    message: str = ""  # the rule's failure message, facts filled in (empty for a pass)
    control: Control | None = None
    rule_version: RuleVersion | None = None
    system: System | None = None
    artifact: Artifact | None = None
    decided_by: list[Evidence] = field(default_factory=list)  # the evidence of evidence_ids the user may open
    via: str | None = None  # the mapped requirement the result comes from (control page); None: the rule names it

    def get_status_display(self) -> str:
        return ResultStatus(self.status).label


def _views_from_current(qs) -> list[ResultView]:
    return [
        ResultView(
            result_id=r.pk, control_id=r.control_id, rule_id=r.rule_id, rule_version_id=r.rule_version_id,
            system_id=r.system_id, artifact_id=r.artifact_id, status=r.status, reason=r.reason,
            evidence_ids=list(r.evidence_ids), exception_id=r.exception_id, at=r.evaluated_at, message=r.message,
        )
        for r in qs
    ]  # fmt: skip


def _views_as_of(condition: Q, end: datetime, limit: int) -> list[ResultView]:
    """The latest change before `end` of every result matching `condition` (on ControlResultChange)."""
    rows = (
        ControlResultChange.objects.filter(condition, changed_at__lt=end)
        .order_by("result_id", "-changed_at", "-id")
        .distinct("result_id")[:limit]
    )
    return [
        ResultView(
            result_id=c.result_id, control_id=c.control_id, rule_id=c.rule_id, rule_version_id=c.rule_version_id,
            system_id=c.system_id, artifact_id=c.artifact_id, status=c.status, reason=c.reason,
            evidence_ids=list(c.evidence_ids), exception_id=c.exception_id, at=c.changed_at, message=c.message,
        )
        for c in rows
    ]  # fmt: skip


def results_view(
    user, condition: Q, *, as_of: date | None, limit: int = RESULTS_LIMIT, attach: bool = True
) -> list[ResultView]:
    """Results matching `condition`, current or as of the end of a day, with their related rows attached."""
    if as_of is None:
        # No ORDER BY in SQL: with one, PostgreSQL walks the primary key past every other row.
        qs = scope_by_system(user, ControlResult.objects.filter(condition)).order_by()[:limit]
        views = sorted(_views_from_current(qs), key=lambda v: v.result_id)
    else:
        visible = scope_by_system(user, System.objects.all(), "id").values("id")
        views = _views_as_of(condition & Q(system_id__in=visible), day_end(as_of), limit)
    if attach:
        _attach(views)
    return views


def _attach(views: list[ResultView]) -> None:
    """Controls, rule versions, systems and artifacts of the views: four queries, whatever the count."""
    if not views:
        return
    controls = Control.objects.in_bulk({v.control_id for v in views})
    versions = RuleVersion.objects.select_related("rule").in_bulk({v.rule_version_id for v in views})
    systems = System.objects.in_bulk({v.system_id for v in views})
    artifacts = Artifact.objects.in_bulk({v.artifact_id for v in views if v.artifact_id})
    for v in views:
        v.control = controls.get(v.control_id)
        v.rule_version = versions.get(v.rule_version_id)
        v.system = systems.get(v.system_id)
        v.artifact = artifacts.get(v.artifact_id) if v.artifact_id else None
