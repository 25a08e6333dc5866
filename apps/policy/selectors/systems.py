"""A system's page: its control matrix and the results of its subjects."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Q
from django.utils import timezone

from apps.inventory.models import System
from apps.policy.models import (
    Control,
    CoverageSnapshot,
    EvaluatedSubject,
    Framework,
    ResultStatus,
    SystemMetricSnapshot,
    worst_status,
)
from apps.policy.selectors.history import ResultView, _attach, results_view
from apps.policy.selectors.overview import TREND_DAYS
from apps.policy.services import day_end

MATRIX_SUBJECTS = 8
MATRIX_KINDS = ("release", "deployment")


# ---------------------------------------------------------------- system page


@dataclass
class MatrixRow:
    control: Control
    cells: list[dict]  # one per column: {"status", "reasons", "rules"}


@dataclass
class SystemControls:
    columns: list[dict]  # {"label", "artifact", "kind", "environment"} + the system column
    rows: list[MatrixRow]
    trend: dict[str, list[tuple[date, float | None]]]
    coverage: list[CoverageSnapshot]
    metrics: SystemMetricSnapshot | None
    as_of: date | None
    counts: dict[str, int] = field(default_factory=dict)


def system_controls_for_user(*, user, system: System, as_of: date | None = None) -> SystemControls:
    """The control matrix (controls x recent releases and deployments, plus the system itself) and trend."""
    subjects = EvaluatedSubject.objects.filter(system=system, kind__in=MATRIX_KINDS)
    if as_of is not None:
        subjects = subjects.filter(first_seen__lt=day_end(as_of))
    recent = list(subjects.select_related("artifact").order_by("-first_seen", "-artifact_id")[:MATRIX_SUBJECTS])
    if not recent:  # a system without releases or deployments: its latest subjects of any kind
        others = EvaluatedSubject.objects.filter(system=system)
        if as_of is not None:
            others = others.filter(first_seen__lt=day_end(as_of))
        recent = list(others.select_related("artifact").order_by("-first_seen", "-artifact_id")[:MATRIX_SUBJECTS])
    artifact_ids = [s.artifact_id for s in recent]
    # Two narrow queries (the subjects' results by artifact, the system's own by system) rather
    # than one OR, which the planner answers by scanning the system's results.
    views = results_view(user, Q(artifact_id__in=artifact_ids), as_of=as_of, limit=5000, attach=False)
    views += results_view(user, Q(system_id=system.pk, artifact__isnull=True), as_of=as_of, limit=5000, attach=False)
    _attach(views)
    columns = [
        {"key": s.artifact_id, "label": s.artifact.name or s.artifact.uri.rsplit("/", 1)[-1][:40],
         "artifact": s.artifact, "kind": s.kind, "environment": s.environment}
        for s in reversed(recent)
    ] + [{"key": None, "label": "System", "artifact": None, "kind": "system", "environment": ""}]  # fmt: skip
    index = {c["key"]: i for i, c in enumerate(columns)}
    cells: dict[int, list[list[ResultView]]] = {}
    controls: dict[int, Control] = {}
    counts: dict[str, int] = defaultdict(int)
    in_scope = set(system.frameworks or [])
    framework_ids = set(Framework.objects.filter(code__in=in_scope).values_list("pk", flat=True)) if in_scope else None
    for v in views:
        if v.status == ResultStatus.NOT_APPLICABLE or v.control is None:
            continue
        if framework_ids is not None and v.control.framework_id not in framework_ids:
            continue  # a control of a framework the system is not in scope for
        controls[v.control_id] = v.control
        row = cells.setdefault(v.control_id, [[] for _ in columns])
        row[index[v.artifact_id]].append(v)
    rows = []
    for control_id, control in sorted(controls.items(), key=lambda kv: (kv[1].framework_id, kv[1].order)):
        out = []
        for col in cells[control_id]:
            status = worst_status(v.status for v in col) if col else ""
            if status:
                counts[status] += 1
            out.append({
                "status": status,
                "reasons": [f"{v.rule_version.rule.key}: {v.message or v.reason}" for v in col if v.rule_version][:4],
            })  # fmt: skip
        rows.append(MatrixRow(control=control, cells=out))
    end_day = as_of or timezone.localdate()
    codes = dict(Framework.objects.values_list("pk", "code"))
    snapshots = CoverageSnapshot.objects.filter(system=system)
    if system.frameworks:
        snapshots = snapshots.filter(framework__code__in=system.frameworks)
    series = (
        snapshots.filter(day__gt=end_day - timedelta(days=TREND_DAYS), day__lte=end_day)
        .order_by("day")
        .values_list("day", "framework_id", "coverage")
    )
    trend: dict[str, list] = defaultdict(list)
    last_day = None
    for day, framework_id, coverage in series:
        trend[codes[framework_id]].append((day, coverage))
        last_day = day
    latest = (
        list(snapshots.filter(day=last_day).select_related("framework").defer("control_status")) if last_day else []
    )
    metrics = SystemMetricSnapshot.objects.filter(system=system, day__lte=end_day).order_by("-day").first()
    return SystemControls(
        columns=columns,
        rows=rows,
        trend=dict(trend),
        coverage=sorted(latest, key=lambda s: s.framework.code),
        metrics=metrics,
        as_of=as_of,
        counts=dict(counts),
    )
