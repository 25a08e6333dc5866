"""Reads of the policy app, scoped to what the user may see (apps.accounts.scoping).

Pages read rollups (CoverageSnapshot, SystemMetricSnapshot) and bounded slices of results;
nothing here aggregates evidence or the whole result table per request. "As of" a day means
the state at the end of that day, read from the append-only result history.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import F, Func, Q, QuerySet, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.accounts.scoping import (
    effective_window,
    scope_by_system,
    scope_evidence,
    visible_framework_codes,
    visible_system_ids,
)
from apps.evidence.models import Artifact, Evidence
from apps.formats import ParseError, normalize_subject
from apps.inventory.models import System
from apps.policy import facts as facts_mod
from apps.policy.engine import prepare_facts
from apps.policy.mappings import mappings_of
from apps.policy.models import (
    STATUS_ORDER,
    Control,
    ControlResult,
    ControlResultChange,
    CoverageSnapshot,
    EvaluatedSubject,
    Framework,
    ResultStatus,
    Rule,
    RuleDryRun,
    RuleVersion,
    SystemMetricSnapshot,
    worst_status,
)
from apps.policy.providers import gate_items
from apps.policy.rulesets import RuleSpec, evaluate_rules_bounded
from apps.policy.services import control_assessment_modes, current_rules, day_end, subjects_queryset

logger = logging.getLogger(__name__)

TREND_DAYS = 90
MATRIX_SUBJECTS = 8
RESULTS_LIMIT = 300
MATRIX_KINDS = ("release", "deployment")


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


# ---------------------------------------------------------------- page caches

# How long a computed page fragment may be reused at most; it is reused only while its version
# (below) is unchanged, so this bounds memory, not staleness.
PAGE_CACHE_SECONDS = 900


def rollups_version() -> str:
    """Changes whenever a rollup row is written, a rule gets a new version, a catalog is loaded or a
    system is edited.

    Three index probes (migration 0003 indexes computed_at); pages built from rollups are cached
    under it, so a new rollup run (beat, or the refresh after results change) shows at once."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT max(computed_at) FROM policy_coveragesnapshot), "
            "(SELECT max(computed_at) FROM policy_systemmetricsnapshot), "
            "(SELECT max(id) FROM policy_ruleversion), (SELECT max(loaded_at) FROM policy_framework), "
            "(SELECT max(updated_at) FROM inventory_system)"  # names and tiers shown next to the figures
        )
        return "|".join(str(v) for v in cursor.fetchone())


def system_results_version(system: System) -> str:
    """Changes whenever a result of the system changes (evaluation rewrites evaluated_at only then,
    and a newly judged subject gets new results), or the system itself is edited."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(evaluated_at) FROM policy_controlresult WHERE system_id = %s", [system.pk])
        return f"{cursor.fetchone()[0]}|{system.updated_at.isoformat() if system.updated_at else ''}"


def scope_key(user) -> str:
    """The part of a cache key that says what the user may see: "all", or the visible systems."""
    ids = visible_system_ids(user)
    if ids is None:
        return "all"
    return "s" + hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()[:16]


def cached_fragment(key_parts: tuple, compute):
    """compute(), reused from the cache while every part of the key (versions included) is the same.

    A cache outage never fails a page: it is computed instead."""
    key = "policy:page:" + hashlib.sha256(repr(key_parts).encode()).hexdigest()
    try:
        value = cache.get(key)
    except Exception:  # noqa: BLE001 - Redis down: compute, as without a cache
        logger.warning("page cache unavailable", exc_info=True)
        return compute()
    if value is not None:
        return value
    value = compute()
    try:
        cache.set(key, value, PAGE_CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        logger.warning("page cache unavailable", exc_info=True)
    return value


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


# ---------------------------------------------------------------- controls


def framework_list() -> list[Framework]:
    return list(Framework.objects.order_by("code"))


def framework_list_for_user(*, user) -> list[Framework]:
    """The frameworks a menu offers the user: all, or for an auditor those of their open engagements."""
    codes = visible_framework_codes(user)
    frameworks = Framework.objects.order_by("code")
    return list(frameworks if codes is None else frameworks.filter(code__in=codes))


def control_list_for_user(*, user, framework: str = "", as_of: date | None = None) -> tuple[list[dict], date | None]:
    """Every control (of a framework) with how many visible systems pass, fail or miss it (from rollups)."""
    controls = Control.objects.select_related("framework").order_by("framework__code", "order")
    if framework:
        controls = controls.filter(framework__code=framework)
    codes = visible_framework_codes(user)
    if codes is not None:  # an auditor lists the controls of their engagements' frameworks
        controls = controls.filter(framework__code__in=codes)
    snapshots = scope_by_system(user, CoverageSnapshot.objects.all())
    day = _snapshot_day(snapshots, as_of or timezone.localdate())
    # (framework pk, control id): ids repeat across frameworks
    tallies: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if day:
        for framework_id, status_map in snapshots.filter(day=day).values_list("framework_id", "control_status"):
            for control_id, status in (status_map or {}).items():
                tallies[(framework_id, control_id)][status] += 1
    rules_by_ref: dict[str, set[str]] = defaultdict(set)  # a bare id or "<code>:<id>" -> rule keys
    for key, refs in RuleVersion.objects.filter(current_of__isnull=False).values_list("rule__key", "controls"):
        for ref in refs:
            rules_by_ref[ref].add(key)
    modes = control_assessment_modes()
    out = []
    for c in controls:
        t = tallies.get((c.framework_id, c.control_id), {})
        rules = sorted(rules_by_ref.get(c.control_id, set()) | rules_by_ref.get(c.ref, set()))
        assessment = modes.get(c.pk, Control.Assessment.NONE)
        out.append({"control": c, "rules": rules, "assessment": assessment,
                    "assessment_label": Control.Assessment(assessment).label, **{
            "pass": t.get("pass", 0), "fail": t.get("fail", 0), "missing": t.get("missing", 0),
            "excepted": t.get("excepted", 0)}})  # fmt: skip
    return out, day


class AmbiguousControlRef(Http404):
    """A bare control id that several imported frameworks share; `controls` are the candidates."""

    def __init__(self, ref: str, controls: list[Control]):
        super().__init__(f"control id {ref[:100]!r} is in several frameworks; name one as <framework code>:<id>")
        self.controls = controls


def control_get(ref: str) -> Control:
    """The control a page reference names; else 404.

    "<code>:<id>" names one framework's control. A bare id names the control of that id if only
    one framework has it, or the shipped framework's when an imported catalog reuses a shipped id
    (so shipped controls keep their URLs); otherwise it is ambiguous."""
    controls = list(Control.objects.for_ref(ref).select_related("framework", "parent")[:50])
    if not controls:
        raise Http404(f"no control {ref[:100]!r}")
    shipped = [c for c in controls if c.framework.origin == Framework.Origin.SHIPPED]
    if len(controls) == 1 or len(shipped) == 1:
        return shipped[0] if len(controls) > 1 else controls[0]
    raise AmbiguousControlRef(ref, controls)


def control_evidence_ids(control_id: str) -> QuerySet:
    """Ids of the evidence the current results of a control used (a subquery: the evidence list's `?control=`)."""
    return (
        ControlResult.objects.filter(control__control_id=control_id)
        .annotate(evidence_id=Func(F("evidence_ids"), function="unnest"))
        .values("evidence_id")
    )


FRAMEWORK_SHORT = {"hipaa": "HIPAA", "gdpr": "GDPR", "soc2": "SOC 2", "eu-ai-act": "EU AI Act", "sr-11-7": "SR 11-7"}


def control_cited(control: Control) -> str:
    """How people cite a control outside its framework's page, e.g. "HIPAA 164.312(b)", "SOC 2 CC7.2"."""
    prefix = FRAMEWORK_SHORT.get(control.framework.code, control.framework.code)
    return control.label if control.label.startswith(prefix) else f"{prefix} {control.label}"


def control_mappings(control: Control) -> tuple[list[dict], dict[str, Control]]:
    """The control's mapped requirements (apps/policy/mappings.py) with their Control rows, and the
    controls whose rule results satisfy this one, by every ref a rule may name them by."""
    entries = mappings_of(control.ref)
    others = {c.ref: c for c in Control.objects.for_refs([e["other"] for e in entries]).select_related("framework")}
    out = [{**e, "control": others[e["other"]], "cited": control_cited(others[e["other"]])}
           for e in entries if e["other"] in others]  # fmt: skip
    sources: dict[str, Control] = {}
    for e in out:
        if e["satisfied_by_other"]:
            sources[e["control"].ref] = sources[e["control"].control_id] = e["control"]
    return out, sources


def control_detail_for_user(*, user, control: Control, as_of: date | None = None) -> dict:
    """A control's rules, its results across the systems the user sees, and the evidence they used.

    Each result says where its status comes from: `via` is None when the rule names this control,
    else the mapped control (of another framework) the rule names and whose result this is."""
    mappings, sources = control_mappings(control)
    rules = list(
        RuleVersion.objects.filter(current_of__isnull=False, controls__overlap=control.refs + list(sources))
        .select_related("rule")
        .order_by("rule__key")
    )
    for rule in rules:
        rule.via = _via(rule, control, sources)
    views = results_view(user, Q(control_id=control.pk), as_of=as_of)
    views = [v for v in views if v.status != ResultStatus.NOT_APPLICABLE]
    for v in views:
        v.via = _via(v.rule_version, control, sources) if v.rule_version else None
    views.sort(key=lambda v: (STATUS_ORDER[v.status], v.system.name if v.system else "", -(v.artifact_id or 0)))
    evidence_ids = sorted({e for v in views for e in v.evidence_ids})[-200:]
    evidence = list(
        scope_evidence(user, Evidence.objects.filter(pk__in=evidence_ids))
        .select_related("system")
        .only("id", "title", "kind", "verdict", "effective_at", "system__name", "system__slug")
        .order_by("-effective_at")[:50]
    )
    # Each result row links to the evidence that decided it, among what the user may open.
    decided = {e.pk: e for e in evidence}
    missing = {e for v in views for e in v.evidence_ids} - decided.keys()
    if missing:
        decided.update(
            (e.pk, e)
            for e in scope_evidence(user, Evidence.objects.filter(pk__in=missing)).only("id", "title", "kind")[:500]
        )
    for v in views:
        v.decided_by = [decided[e] for e in v.evidence_ids if e in decided]
    counts: dict[str, int] = defaultdict(int)
    for v in views:
        counts[v.status] += 1
    assessment = control_assessment_modes().get(control.pk, Control.Assessment.NONE)
    return {"rules": rules, "results": views, "evidence": evidence, "counts": dict(counts),
            "assessment": Control.Assessment(assessment), "mappings": mappings}  # fmt: skip


def _via(version: RuleVersion, control: Control, sources: dict[str, Control]) -> str | None:
    """None when the rule version names the control; else how the mapped control it names is cited."""
    if set(version.controls) & set(control.refs):
        return None
    names = sorted({control_cited(sources[ref]) for ref in version.controls if ref in sources})
    return ", ".join(names) or "a mapped requirement"


# ---------------------------------------------------------------- rules


def rule_list() -> list[Rule]:
    return list(Rule.objects.select_related("current").order_by("key"))


def rule_get(key: str) -> Rule:
    return get_object_or_404(Rule.objects.select_related("current"), key=key)


def rule_versions(rule: Rule) -> list[RuleVersion]:
    return list(rule.versions.select_related("created_by").order_by("-version")[:50])


def dry_run_get_for_user(*, user, pk: int) -> RuleDryRun:
    """A dry run the user asked for (its rows are scoped to what they could see); 404 otherwise."""
    return get_object_or_404(RuleDryRun, pk=pk, requested_by=user)


def rule_dry_run(*, user, spec: RuleSpec, limit: int = 2000, progress=None) -> dict:
    """What a rule would say on current data, without writing anything: counts and the first rows.

    Runs the unsaved rule over the subjects (or systems, for a system-scope rule) its selector
    may select, among those the user may see, and compares with the saved rule's results.
    Evaluates in batches, each within the rule's time budget (a batch that runs out fails with
    the budget's reason), and calls `progress(done, total)` after each. Runs in a worker
    (apps.policy.services.rule_dry_run_execute), never in a web request."""
    from apps.policy.services import BATCH, _Rule, _selector_prefilter

    fake = _Rule(version=None, spec=spec, control_ids=())  # type: ignore[arg-type]
    now = timezone.now()
    budget = settings.PORTAL_POLICY_RULE_BUDGET_MS
    rows = []
    if spec.selector.artifact_kinds:
        subjects = scope_by_system(user, subjects_queryset())
        subjects = _selector_prefilter(subjects, [fake], system_field="system")
        ids = list(subjects.order_by("-first_seen").values_list("pk", flat=True)[:limit])
        scopes = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
    else:
        systems = scope_by_system(user, System.objects.all(), "id")
        systems = _selector_prefilter(systems, [fake], system_field="")
        ids = list(systems.order_by("pk").values_list("pk", flat=True)[:limit])
        scopes = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
    total, done = len(ids), 0
    if progress:
        progress(done, total)
    for chunk in scopes:
        if spec.selector.artifact_kinds:
            artifacts = {a.pk: a for a in Artifact.objects.filter(pk__in=chunk)}
            facts = facts_mod.subject_facts_batch([artifacts[i] for i in chunk if i in artifacts], now=now)
        else:
            facts = facts_mod.system_scope_facts_batch(chunk, now=now)
        order = [i for i in chunk if i in facts]
        prepared = [prepare_facts(facts[i]) for i in order]
        outcomes = evaluate_rules_bounded([spec], prepared, budget_ms=budget)[0]
        for scope_id, f, outcome in zip(order, prepared, outcomes, strict=True):
            artifact_id = scope_id if spec.selector.artifact_kinds else None
            system_id = artifacts[scope_id].system_id if artifact_id else scope_id
            rows.append({"subject": f.data["subject"].get("uri", ""), "system": f.data["system"].get("name", ""),
                         "artifact_id": artifact_id, "system_id": system_id, "status": outcome.status,
                         "reason": outcome.reason, "message": outcome.message})  # fmt: skip
        done += len(chunk)
        if progress:
            progress(done, total)
    saved = {}
    rule = Rule.objects.filter(key=spec.key).first()
    if rule is not None:
        for artifact_id, system_id, status in ControlResult.objects.filter(rule=rule).values_list(
            "artifact_id", "system_id", "status"
        ):
            key = (artifact_id, system_id if artifact_id is None else None)
            saved[key] = worst_status([saved[key], status]) if key in saved else status
    counts: dict[str, int] = defaultdict(int)
    changes = 0
    for row in rows:
        status = "fail" if row["status"] == "error" else row["status"]
        counts[row["status"]] += 1
        key = (row["artifact_id"], row["system_id"] if row["artifact_id"] is None else None)
        row["was"] = saved.get(key, "not-applicable")
        row["changes"] = row["was"] != status
        changes += row["changes"]
    rows.sort(key=lambda r: ({"error": 0, "fail": 1, "missing": 2, "pass": 3}.get(r["status"], 4), not r["changes"]))
    applicable = [r for r in rows if r["status"] != "not-applicable"]
    return {"counts": dict(counts), "rows": applicable[:100], "total": len(rows), "changes": changes}


# ---------------------------------------------------------------- gate


@dataclass
class GateDecision:
    subject: Artifact
    allowed: bool
    failing: list[dict]
    warnings: list[dict]
    evaluated_at: datetime | None
    evaluated: bool
    # What-if only (gate_for_subject(assume_excepted=...)): items that fail now but were counted as excepted.
    assumed_excepted: list[dict] = field(default_factory=list)


def subject_get(subject: str) -> Artifact:
    """An artifact by id, or by its identity (normalized the way ingestion normalizes it)."""
    text = (subject or "").strip()
    if text.isdigit():
        artifact = Artifact.objects.filter(pk=int(text)).first()
        if artifact is not None:
            return artifact
    try:
        uri = normalize_subject(text).uri
    except ParseError:
        uri = text
    artifact = Artifact.objects.filter(Q(uri=uri) | Q(uri=text)).first()
    if artifact is None:
        raise Http404(f"no artifact {text[:200]!r} is known: send evidence about it first")
    return artifact


def gate_for_subject(
    *, artifact: Artifact, environment: str = "", digest: str = "", assume_excepted: Collection[int] = ()
) -> GateDecision:
    """May this release or deployment proceed? Hard-gate rules that fail or miss evidence block it;
    the subject's own results count, and so do its system's system-scope results.

    `assume_excepted` (ControlResult ids) asks "what if": those results count as excepted, as an
    exception under decision would make them, and their items go to `assumed_excepted` instead."""
    condition = Q(artifact_id=artifact.pk)
    if artifact.system_id:
        condition |= Q(system_id=artifact.system_id, artifact__isnull=True)
    results = (
        ControlResult.objects.filter(condition)
        .exclude(status=ResultStatus.NOT_APPLICABLE)
        .select_related("control", "rule_version__rule")
        .order_by("control__control_id", "rule__key")
    )
    assume_excepted = set(assume_excepted)
    failing, warnings, assumed = [], [], []
    for r in results:
        if r.status not in (ResultStatus.FAIL, ResultStatus.MISSING):
            continue
        item = {
            "control": r.control.control_id,
            "rule": r.rule_version.rule.key,
            "severity": r.rule_version.severity,
            "mode": r.rule_version.mode,
            "status": r.status,
            "reason": r.reason,
            "message": r.message or r.reason,  # results stored before messages existed have none
            "scope": "subject" if r.artifact_id else "system",
        }
        if r.pk in assume_excepted:
            assumed.append(item)
            continue
        (failing if r.rule_version.mode == RuleVersion.Mode.GATE else warnings).append(item)
    # Registered providers (apps.policy.providers) add their items: release sign-off refuses a
    # classified release whose chain is not complete for the digest shipped.
    failing += gate_items(artifact=artifact, environment=environment, digest=digest)
    state = EvaluatedSubject.objects.filter(artifact=artifact).only("evaluated_at").first()
    return GateDecision(
        subject=artifact,
        allowed=not failing and state is not None,
        failing=failing,
        warnings=warnings,
        evaluated_at=state.evaluated_at if state else None,
        evaluated=state is not None,
        assumed_excepted=assumed,
    )


def gate_items_by_rule(items: list[dict]) -> list[dict]:
    """Gate items grouped by rule (rules in order of appearance), for pages: each group with its
    items (one per control and scope), the controls, and the first plain message."""
    groups: dict[str, dict] = {}
    for item in items:
        g = groups.setdefault(item["rule"], {"rule": item["rule"], "mode": item.get("mode", ""), "items": [],
                                             "controls": [], "message": ""})  # fmt: skip
        g["items"].append(item)
        g["message"] = g["message"] or item.get("message") or item.get("reason", "")
        if item["control"] not in g["controls"]:
            g["controls"].append(item["control"])
    return list(groups.values())


# ---------------------------------------------------------------- OSCAL export


def results_for_export(*, user, framework: Framework, system: System | None, as_of: date | None) -> list[dict]:
    """Results of a framework's controls (on a system or all visible), as export_assessment_results() takes them."""
    condition = Q(control__framework=framework)
    if system is not None:
        condition &= Q(system_id=system.pk)
    if as_of is None:
        condition_asof = condition
    else:
        condition_asof = Q(control_id__in=Control.objects.filter(framework=framework).values("id"))
        if system is not None:
            condition_asof &= Q(system_id=system.pk)
    views = results_view(user, condition_asof, as_of=as_of, limit=20000)
    evidence_ids = {e for v in views for e in v.evidence_ids}
    evidence = {e.pk: e for e in Evidence.objects.filter(pk__in=evidence_ids).only("id", "title", "sha256")}
    out = []
    for v in views:
        subject = (
            {"uri": v.artifact.uri, "kind": v.artifact.kind, "name": v.artifact.name}
            if v.artifact
            else {"uri": f"system:{v.system.slug}", "kind": "system", "name": v.system.name}
        )
        out.append({
            "control_id": v.control.control_id,
            "subject": subject,
            "status": v.status,
            "reason": v.reason,
            "message": v.message,
            "evaluated_at": v.at,
            "rule": v.rule_version.rule.key if v.rule_version else None,
            "rule_version": v.rule_version.version if v.rule_version else None,
            "evidence": [
                {"id": str(e), "title": evidence[e].title, "sha256": evidence[e].sha256}
                for e in v.evidence_ids if e in evidence
            ],
        })  # fmt: skip
    return out


def current_rule_count() -> int:
    return len(current_rules())
