"""Statuses per system and control, coverage providers and panels, daily coverage snapshots."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from apps.inventory.models import System
from apps.policy.mappings import result_flows
from apps.policy.models import (
    Control,
    Framework,
    ResultStatus,
    RuleVersion,
    SystemMetricSnapshot,
    worst_status,
)
from apps.policy.oscal import REF_SEPARATOR, control_ref

# ---------------------------------------------------------------- rollups


def day_end(day: date) -> datetime:
    """The first instant after `day` (UTC): "as of a day" means the state at the end of it."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


_CURRENT_RESULTS_SQL = """
WITH heads AS (
    SELECT DISTINCT ON (s.system_id, s.kind) s.artifact_id
    FROM policy_evaluatedsubject s WHERE s.system_id = ANY(%(systems)s)
    ORDER BY s.system_id, s.kind, s.first_seen DESC, s.artifact_id DESC
)
SELECT r.system_id, r.control_id, r.status
FROM policy_controlresult r
WHERE r.system_id = ANY(%(systems)s) AND (r.artifact_id IS NULL OR r.artifact_id IN (SELECT artifact_id FROM heads))
"""

_ASOF_RESULTS_SQL = """
WITH asof AS (
    SELECT DISTINCT ON (ch.result_id) ch.result_id, ch.system_id, ch.control_id, ch.artifact_id, ch.status
    FROM policy_controlresultchange ch
    WHERE ch.system_id = ANY(%(systems)s) AND ch.changed_at < %(end)s
    ORDER BY ch.result_id, ch.changed_at DESC, ch.id DESC
), heads AS (
    SELECT DISTINCT ON (a.system_id, a.kind) a.id
    FROM evidence_artifact a WHERE a.id IN (SELECT artifact_id FROM asof WHERE artifact_id IS NOT NULL)
    ORDER BY a.system_id, a.kind, a.first_seen DESC, a.id DESC
)
SELECT x.system_id, x.control_id, x.status
FROM asof x
WHERE x.artifact_id IS NULL OR x.artifact_id IN (SELECT id FROM heads)
"""


# The same as _ASOF_RESULTS_SQL for many ends in one pass over the history: each change is the latest
# of its result before an end when the result's next change (in the order DISTINCT ON takes them)
# comes at or after that end. Only the changes of artifacts that are some day's head, and of the
# systems themselves, are windowed.
_ASOF_DAYS_SQL = """
WITH days(day_end, n) AS (SELECT * FROM unnest(%(ends)s::timestamptz[]) WITH ORDINALITY),
seen AS (
    SELECT ch.artifact_id, min(ch.changed_at) AS since
    FROM policy_controlresultchange ch
    WHERE ch.system_id = ANY(%(systems)s) AND ch.artifact_id IS NOT NULL AND ch.changed_at < %(last)s
    GROUP BY ch.artifact_id
), heads AS (
    SELECT DISTINCT ON (d.day_end, a.system_id, a.kind) d.day_end, a.id
    FROM days d JOIN seen ON seen.since < d.day_end JOIN evidence_artifact a ON a.id = seen.artifact_id
    ORDER BY d.day_end, a.system_id, a.kind, a.first_seen DESC, a.id DESC
), held AS (
    SELECT ch.system_id, ch.control_id, ch.artifact_id, ch.status, ch.changed_at,
           lead(ch.changed_at) OVER (PARTITION BY ch.result_id ORDER BY ch.changed_at, ch.id) AS until
    FROM policy_controlresultchange ch
    WHERE ch.system_id = ANY(%(systems)s) AND ch.changed_at < %(last)s
      AND (ch.artifact_id IS NULL OR ch.artifact_id IN (SELECT id FROM heads))
)
SELECT d.n, h.system_id, h.control_id, h.status
FROM days d JOIN held h ON h.changed_at < d.day_end AND (h.until IS NULL OR h.until >= d.day_end)
WHERE h.artifact_id IS NULL OR (d.day_end, h.artifact_id) IN (SELECT day_end, id FROM heads)
"""


def system_control_statuses(system_ids: list[int], *, end: datetime | None = None) -> dict[int, dict[int, list[str]]]:
    """system id -> control pk (ids repeat across frameworks) -> statuses of its results on the
    system's latest subject of each kind and on the system itself; now (end None) or as of `end`
    (from the result history)."""
    out: dict[int, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    if not system_ids:
        return out
    with connection.cursor() as cursor:
        if end is None:
            cursor.execute(_CURRENT_RESULTS_SQL, {"systems": system_ids})
        else:
            cursor.execute(_ASOF_RESULTS_SQL, {"systems": system_ids, "end": end})
        for system_id, control_pk, status in cursor.fetchall():
            out[system_id][control_pk].append(status)
    return out


def system_control_statuses_by_end(
    system_ids: list[int], ends: list[datetime]
) -> dict[datetime, dict[int, dict[int, list[str]]]]:
    """`system_control_statuses(system_ids, end=e)` for every e of `ends`, in one query."""
    out: dict[datetime, dict[int, dict[int, list[str]]]] = {
        end: defaultdict(lambda: defaultdict(list)) for end in ends
    }
    if not system_ids or not ends:
        return out
    ends = list(ends)
    with connection.cursor() as cursor:
        cursor.execute(_ASOF_DAYS_SQL, {"systems": system_ids, "ends": ends, "last": max(ends)})
        for n, system_id, control_pk, status in cursor.fetchall():  # n: the end's ordinal, from 1
            out[ends[n - 1]][system_id][control_pk].append(status)
    return out


# Where manual assessment comes from: callables returning the pks of controls that documents or
# attestations assess. The app that owns manual evidence registers one (issue 24, item 2); the
# policy app cannot import it (it sits above). None registered: no control is manual.
MANUAL_ASSESSMENT_PROVIDERS: list = []


def manual_assessment_provider_register(provider) -> None:
    """Register a callable () -> iterable of Control pks that manual evidence assesses."""
    if provider not in MANUAL_ASSESSMENT_PROVIDERS:
        MANUAL_ASSESSMENT_PROVIDERS.append(provider)


# Where manual results come from: callables (system ids, at) -> {system id: {control pk: [statuses]}}, the
# status of each document requirement of a control on a system as of `at` (issue 24, item 4). Coverage
# takes the worst of a control's rule results and these, so "both" controls need both to pass.
MANUAL_STATUS_PROVIDERS: list = []


def manual_status_provider_register(provider) -> None:
    """Register a callable (system_ids, at) -> {system id: {control pk: [statuses]}} for manual evidence."""
    if provider not in MANUAL_STATUS_PROVIDERS:
        MANUAL_STATUS_PROVIDERS.append(provider)


# Sections that apps above policy add to a control's page (e.g. its documents and attestations):
# callables (request, control) -> rendered HTML, shown in registration order.
CONTROL_PANELS: list = []


def control_panel_register(panel) -> None:
    """Register a callable (request, control) -> HTML shown on every control's page."""
    if panel not in CONTROL_PANELS:
        CONTROL_PANELS.append(panel)


def control_assessment_modes() -> dict[int, str]:
    """Control pk -> Control.Assessment for every control: automated when a current rule maps to it,
    manual when a registered provider says documents or attestations assess it, both, or none."""
    refs: set[str] = set()
    for controls in RuleVersion.objects.filter(current_of__isnull=False).values_list("controls", flat=True):
        refs.update(controls)
    # a control that a mapping lets a named control's results satisfy is assessed by those rules too
    refs.update(target for source, targets in result_flows().items()
                if source in refs or source.partition(REF_SEPARATOR)[2] in refs for target in targets)  # fmt: skip
    manual: set[int] = set()
    for provider in MANUAL_ASSESSMENT_PROVIDERS:
        manual.update(provider())
    modes: dict[int, str] = {}
    for pk, code, control_id in Control.objects.values_list("pk", "framework__code", "control_id"):
        automated = control_id in refs or control_ref(code, control_id) in refs
        if automated and pk in manual:
            modes[pk] = Control.Assessment.BOTH
        elif automated:
            modes[pk] = Control.Assessment.AUTOMATED
        elif pk in manual:
            modes[pk] = Control.Assessment.MANUAL
        else:
            modes[pk] = Control.Assessment.NONE
    return modes


def coverage_snapshot(*, day: date | None = None, system_ids: Iterable[int] | None = None) -> int:
    """Compute (or recompute) the day's rollups; today from current results, past days from history.

    Returns the number of coverage rows written. Safe to run any number of times (upserts)."""
    today = timezone.localdate()
    return coverage_snapshot_days(days=[day or today], system_ids=system_ids)


def coverage_snapshot_days(*, days: Iterable[date], system_ids: Iterable[int] | None = None) -> int:
    """`coverage_snapshot(day=d)` for each of `days`, with the past days' statuses read from the
    result history in one pass (a backfill of 90 days would otherwise sort the whole history 90 times)."""
    today = timezone.localdate()
    days = sorted(set(days))
    systems = list(System.objects.all() if system_ids is None else System.objects.filter(pk__in=list(system_ids)))
    if not systems or not days:
        return 0
    ids = [s.pk for s in systems]
    context = _RollupContext.read()
    past = {day: day_end(day) for day in days if day < today}
    history = system_control_statuses_by_end(ids, list(past.values()))
    coverage_rows, past_metrics, today_metrics = [], [], []
    for day in days:
        end = past.get(day)
        statuses = history[end] if end is not None else system_control_statuses(ids)
        coverage, metrics = _snapshot_rows(day, systems, statuses, context, end=end)
        coverage_rows += coverage
        (past_metrics if end is not None else today_metrics).extend(metrics)
    fields = ["results_applicable", "results_failing", "results_missing", "computed_at"]
    with transaction.atomic():
        _coverage_store(coverage_rows, days=days, system_ids=ids)
        # Past days keep the metrics that exist only for the present (provenance, freshness) as they were.
        for metrics, update in ((past_metrics, fields), (today_metrics, fields + _PRESENT_METRICS)):
            if metrics:
                SystemMetricSnapshot.objects.bulk_create(
                    metrics, update_conflicts=True, unique_fields=["day", "system"], update_fields=update
                )
    return len(coverage_rows)


# SystemMetricSnapshot's fields that only today's rollup computes (_current_metrics).
_PRESENT_METRICS = [
    "prod_deployments", "prod_deployments_with_provenance", "evidence_kinds", "evidence_kinds_fresh",
    "gate_blocked_subjects",
]  # fmt: skip


class _RollupContext(NamedTuple):
    """What every day's rollup reads the same: frameworks, their controls, assessment modes."""

    frameworks: dict[str, Framework]
    controls_by_fw: dict[str, dict[int, str]]  # code -> control pk -> control id
    modes: dict[int, str]

    @classmethod
    def read(cls) -> _RollupContext:
        controls_by_fw: dict[str, dict[int, str]] = defaultdict(dict)
        for code, pk, control_id in Control.objects.values_list("framework__code", "pk", "control_id"):
            controls_by_fw[code][pk] = control_id
        # Today's assessment modes also label past days recomputed from history (the rule set of the
        # day is not kept per day; results are, and they decide the counts that matter).
        return cls({f.code: f for f in Framework.objects.all()}, controls_by_fw, control_assessment_modes())


def _snapshot_rows(
    day: date, systems: list[System], statuses: dict, context: _RollupContext, *, end: datetime | None
) -> tuple[list[tuple], list[SystemMetricSnapshot]]:
    """One day's coverage rows (tuples of _COVERAGE_COLUMNS) and metric rows, from the statuses of its
    end (None: now)."""
    now = timezone.now()
    ids = [s.pk for s in systems]
    frameworks, controls_by_fw, modes = context
    for provider in MANUAL_STATUS_PROVIDERS:  # documents and attestations, judged at the same instant
        for system_id, per_control in provider(ids, end or now).items():
            for control_pk, manual_statuses in per_control.items():
                statuses[system_id][control_pk].extend(manual_statuses)
    coverage_rows = []
    metric_rows = []
    for system in systems:
        per_control = statuses.get(system.pk, {})
        worst = {
            cid: worst_status(s for s in sts if s != ResultStatus.NOT_APPLICABLE) for cid, sts in per_control.items()
        }
        # The frameworks the system is in scope for; a system with none declared is shown in every
        # framework it has results in (rules map one check to controls of several frameworks).
        in_scope = set(system.frameworks or []) or {
            code
            for code, cids in controls_by_fw.items()
            if any(worst.get(c, ResultStatus.NOT_APPLICABLE) != ResultStatus.NOT_APPLICABLE for c in cids)
        }
        for code in sorted(in_scope):
            if code not in frameworks:
                continue
            cids = controls_by_fw[code]
            # keyed by control id: unique within the framework
            counted = {
                cid: worst[pk]
                for pk, cid in cids.items()
                if worst.get(pk, ResultStatus.NOT_APPLICABLE) != ResultStatus.NOT_APPLICABLE
            }
            tally = defaultdict(int)
            for status in counted.values():
                tally[status] += 1
            applicable = len(counted)
            good = tally[ResultStatus.PASS] + tally[ResultStatus.EXCEPTED]
            assessed_by = Counter(modes.get(pk, Control.Assessment.NONE) for pk in cids)
            coverage_rows.append(
                (
                    day, frameworks[code].pk, system.pk, len(cids), applicable,
                    tally[ResultStatus.PASS], tally[ResultStatus.FAIL], tally[ResultStatus.MISSING],
                    tally[ResultStatus.EXCEPTED],
                    len(cids) - applicable,  # every control counts: no applicable result is "not assessed"
                    assessed_by[Control.Assessment.AUTOMATED] + assessed_by[Control.Assessment.BOTH],
                    assessed_by[Control.Assessment.MANUAL] + assessed_by[Control.Assessment.BOTH],
                    assessed_by[Control.Assessment.NONE],
                    (good / len(cids)) if cids else None,
                    Jsonb(counted),
                    now,
                )
            )  # fmt: skip
        all_results = [s for sts in per_control.values() for s in sts if s != ResultStatus.NOT_APPLICABLE]
        metric_rows.append(
            SystemMetricSnapshot(
                day=day,
                system=system,
                results_applicable=len(all_results),
                results_failing=sum(1 for s in all_results if s == ResultStatus.FAIL),
                results_missing=sum(1 for s in all_results if s == ResultStatus.MISSING),
                computed_at=now,
            )
        )
    if end is None:
        _current_metrics(metric_rows, ids, now=now)
    return coverage_rows, metric_rows


# CoverageSnapshot's columns as _snapshot_rows gives them; (day, framework_id, system_id) is unique.
_COVERAGE_COLUMNS = (
    "day", "framework_id", "system_id", "controls_total", "applicable", "passing", "failing", "missing",
    "excepted", "not_assessed", "automated", "manual", "unmapped", "coverage", "control_status", "computed_at",
)  # fmt: skip
_COVERAGE_CREATE = (
    "CREATE TEMPORARY TABLE coverage_rollup ON COMMIT DROP AS "
    "SELECT {columns} FROM policy_coveragesnapshot WITH NO DATA"
)
_COVERAGE_UPSERT = (
    "INSERT INTO policy_coveragesnapshot ({columns}) SELECT {columns} FROM coverage_rollup "
    "ORDER BY day, framework_id, system_id ON CONFLICT (day, framework_id, system_id) DO UPDATE SET {updates}"
)
# Rows of these days and systems that were not written: frameworks no longer in scope.
_COVERAGE_STALE = """
DELETE FROM policy_coveragesnapshot c
WHERE c.day = ANY(%s) AND c.system_id = ANY(%s) AND NOT EXISTS (
    SELECT 1 FROM coverage_rollup r
    WHERE r.day = c.day AND r.system_id = c.system_id AND r.framework_id = c.framework_id
)
"""


def _coverage_store(rows: list[tuple], *, days: list[date], system_ids: list[int]) -> None:
    """Upsert coverage rows for `days` x `system_ids` and delete that range's rows of frameworks no longer
    in scope, in the caller's transaction. The rows go through COPY into a temporary table: a JSON
    column bound as parameters is escaped character by character in Python (with client-side binding,
    Django's default), which cost more than computing the rows."""
    columns = ", ".join(_COVERAGE_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COVERAGE_COLUMNS[3:])
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.coverage_rollup")  # a second call in one transaction
        cursor.execute(_COVERAGE_CREATE.format(columns=columns))
        with cursor.cursor.copy(f"COPY coverage_rollup ({columns}) FROM STDIN") as copy:  # noqa: S608 - constant names
            for row in rows:
                copy.write_row(row)
        cursor.execute(_COVERAGE_STALE, [days, system_ids])
        cursor.execute(_COVERAGE_UPSERT.format(columns=columns, updates=updates))


def _current_metrics(rows: list[SystemMetricSnapshot], system_ids: list[int], *, now: datetime) -> None:
    """Metrics that exist only for the present: provenance of production deployments, freshness."""
    fresh_after = now - timedelta(days=settings.PORTAL_POLICY_FRESH_DAYS)
    by_system = {r.system_id: r for r in rows}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT system_id, count(*) FILTER (WHERE kind = 'deployment' AND environment = 'prod'), "
            "count(*) FILTER (WHERE kind = 'deployment' AND environment = 'prod' AND provenance_complete), "
            "count(*) FILTER (WHERE gate_blocked AND kind IN ('release', 'deployment')) "
            "FROM policy_evaluatedsubject WHERE system_id = ANY(%s) GROUP BY system_id",
            [system_ids],
        )
        for system_id, prod, with_prov, blocked in cursor.fetchall():
            row = by_system[system_id]
            row.prod_deployments, row.prod_deployments_with_provenance = prod, with_prov
            row.gate_blocked_subjects = blocked
        # The one scan of evidence, once per rollup run (a beat task), never per request.
        cursor.execute(
            "SELECT system_id, count(*), count(*) FILTER (WHERE latest >= %s) FROM ("
            "  SELECT system_id, kind, max(effective_at) AS latest FROM evidence_evidence"
            "  WHERE system_id = ANY(%s) GROUP BY system_id, kind) k GROUP BY system_id",
            [fresh_after, system_ids],
        )
        for system_id, kinds, fresh in cursor.fetchall():
            row = by_system[system_id]
            row.evidence_kinds, row.evidence_kinds_fresh = kinds, fresh


def coverage_snapshot_catch_up(*, days: int = 2) -> int:
    """Beat: today's rollups, and yesterday's again from history (its last run may predate midnight)."""
    today = timezone.localdate()
    written = 0
    for back in range(days - 1, 0, -1):
        day = today - timedelta(days=back)
        latest = SystemMetricSnapshot.objects.filter(day=day).order_by("-computed_at").first()
        if latest is None or latest.computed_at < day_end(day):
            written += coverage_snapshot(day=day)
    written += coverage_snapshot(day=today)
    return written
