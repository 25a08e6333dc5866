"""The overview page: coverage per framework, trend and top failing controls, from rollups."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from apps.accounts.scoping import (
    scope_by_system,
    visible_framework_codes,
)
from apps.policy.models import (
    Control,
    CoverageSnapshot,
    Framework,
    ResultStatus,
    SystemMetricSnapshot,
)

TREND_DAYS = 90


# ---------------------------------------------------------------- overview


@dataclass
class FrameworkCoverage:
    code: str
    title: str
    applicable: int = 0
    passing: int = 0
    failing: int = 0
    missing: int = 0
    excepted: int = 0
    systems: int = 0
    controls_total: int = 0  # the framework's controls, summed over systems
    not_assessed: int = 0  # no applicable result: shown apart from failing, never as passing
    unmapped: int | None = 0  # neither rules nor manual evidence (None: a past rollup did not record it)
    automated: int = 0  # controls a current rule maps to (with manual evidence too: both)
    manual: int = 0  # controls documents or attestations assess (with a rule too: both)

    @property
    def both(self) -> int | None:
        """Controls assessed by rules and by manual evidence (None when a past rollup did not record it)."""
        if self.unmapped is None:
            return None
        return max(self.automated + self.manual + self.unmapped - self.controls_total, 0)

    @property
    def automated_only(self) -> int | None:
        return None if self.both is None else self.automated - self.both

    @property
    def manual_only(self) -> int | None:
        return None if self.both is None else self.manual - self.both

    @property
    def coverage(self) -> float | None:
        """Share of all controls passing or excepted (what is not assessed is in the denominator)."""
        return (self.passing + self.excepted) / self.controls_total if self.controls_total else None

    @property
    def assessed_coverage(self) -> float | None:
        """Share of the assessed (applicable) controls passing or excepted."""
        return (self.passing + self.excepted) / self.applicable if self.applicable else None


@dataclass
class Overview:
    day: date | None  # the snapshot day shown (None: no rollup yet)
    frameworks: list[FrameworkCoverage]
    trend: dict[str, list[tuple[date, float | None]]]  # framework code -> [(day, coverage)]
    top_failing: list[dict]
    at_risk: list[dict]
    metrics: dict
    systems: int = 0


def _snapshot_day(qs: QuerySet, wanted: date) -> date | None:
    """The latest rollup day at or before `wanted` (today's may not exist yet)."""
    return qs.filter(day__lte=wanted).order_by("-day").values_list("day", flat=True).first()


def overview_for_user(*, user, as_of: date | None = None) -> Overview:
    """Coverage by framework, its trend, top failing controls and systems at risk, from rollups only."""
    wanted = as_of or timezone.localdate()
    snapshots = scope_by_system(user, CoverageSnapshot.objects.all())
    codes = visible_framework_codes(user)
    if codes is not None:  # an auditor sees the coverage of their engagements' frameworks only
        snapshots = snapshots.filter(framework__code__in=codes)
    day = _snapshot_day(snapshots, wanted)
    frameworks = {f.pk: f for f in Framework.objects.all()}
    rows = list(snapshots.filter(day=day).select_related("system")) if day else []
    by_fw: dict[int, FrameworkCoverage] = {}
    failing_controls: dict[tuple[int, str], dict] = {}
    per_system: dict[int, dict] = {}
    for snap in rows:
        fw = frameworks[snap.framework_id]
        agg = by_fw.setdefault(fw.pk, FrameworkCoverage(code=fw.code, title=fw.title))
        agg.applicable += snap.applicable
        agg.passing += snap.passing
        agg.failing += snap.failing
        agg.missing += snap.missing
        agg.excepted += snap.excepted
        agg.systems += 1
        agg.controls_total += snap.controls_total
        agg.not_assessed += snap.not_assessed
        agg.unmapped = None if agg.unmapped is None or snap.unmapped is None else agg.unmapped + snap.unmapped
        agg.automated += snap.automated
        agg.manual += snap.manual
        s = per_system.setdefault(
            snap.system_id,
            {"system": snap.system, "applicable": 0, "good": 0, "failing": 0, "missing": 0, "controls_total": 0,
             "not_assessed": 0},
        )  # fmt: skip
        s["controls_total"] += snap.controls_total
        s["not_assessed"] += snap.not_assessed
        s["applicable"] += snap.applicable
        s["good"] += snap.passing + snap.excepted
        s["failing"] += snap.failing
        s["missing"] += snap.missing
        for control_id, status in (snap.control_status or {}).items():
            if status in (ResultStatus.FAIL, ResultStatus.MISSING):
                entry = failing_controls.setdefault(
                    (snap.framework_id, control_id),
                    {"framework_id": snap.framework_id, "control_id": control_id, "fail": set(), "missing": set()},
                )
                entry["fail" if status == ResultStatus.FAIL else "missing"].add(snap.system_id)
    trend: dict[str, list] = defaultdict(list)
    if day:
        series = (
            snapshots.filter(day__gt=day - timedelta(days=TREND_DAYS), day__lte=day)
            .values("day", "framework_id")
            .annotate(good=Sum("passing") + Sum("excepted"), total=Sum("controls_total"))
            .order_by("day", "framework_id")
        )
        for point in series:
            code = frameworks[point["framework_id"]].code
            cov = point["good"] / point["total"] if point["total"] else None  # of all controls, as the snapshots
            trend[code].append((point["day"], cov))
    top = sorted(failing_controls.values(), key=lambda e: (-len(e["fail"]), -len(e["missing"]), e["control_id"]))[:10]
    wanted = Q(pk__in=[])
    for e in top:
        wanted |= Q(framework_id=e["framework_id"], control_id=e["control_id"])
    controls = {(c.framework_id, c.control_id): c for c in Control.objects.filter(wanted).select_related("framework")}
    top_failing = [
        {"control": controls.get((e["framework_id"], e["control_id"])), "control_id": e["control_id"],
         "failing_systems": len(e["fail"]),
         "missing_systems": len(e["missing"])}
        for e in top
    ]  # fmt: skip
    metrics_rows = {
        m.system_id: m for m in scope_by_system(user, SystemMetricSnapshot.objects.filter(day=day))
    } if day else {}  # fmt: skip
    at_risk = []
    for system_id, s in per_system.items():
        m = metrics_rows.get(system_id)
        cov = s["good"] / s["controls_total"] if s["controls_total"] else None
        at_risk.append({**s, "coverage": cov, "blocked": m.gate_blocked_subjects if m else 0, "metrics": m})
    at_risk.sort(key=lambda s: (-(s["blocked"] > 0), s["coverage"] if s["coverage"] is not None else 2, -s["failing"]))
    prod = sum(m.prod_deployments for m in metrics_rows.values())
    prod_ok = sum(m.prod_deployments_with_provenance for m in metrics_rows.values())
    kinds = sum(m.evidence_kinds for m in metrics_rows.values())
    fresh = sum(m.evidence_kinds_fresh for m in metrics_rows.values())
    applicable = sum(m.results_applicable for m in metrics_rows.values())
    failing = sum(m.results_failing for m in metrics_rows.values())
    metrics = {
        "provenance": (prod_ok / prod) if prod else None,
        "prod_deployments": prod,
        "freshness": (fresh / kinds) if kinds else None,
        "failure_rate": (failing / applicable) if applicable else None,
    }
    return Overview(
        day=day,
        frameworks=sorted(by_fw.values(), key=lambda f: f.code),
        trend=dict(trend),
        top_failing=top_failing,
        at_risk=at_risk[:8],
        metrics=metrics,
        systems=len(per_system),
    )
