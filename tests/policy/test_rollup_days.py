"""Many days of rollups from one pass over the result history.

A 90-day backfill (seed_demo, generate_scale) recomputed each past day from the whole history: one
sort of every result change per day. `coverage_snapshot_days` reads all the days' statuses in one
query; these tests hold it to the per-day answer, day by day and at the exact instants results changed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from apps.policy.models import ControlResultChange, CoverageSnapshot, SystemMetricSnapshot
from apps.policy.services import coverage_snapshot, coverage_snapshot_days, policy_evaluate
from apps.policy.services.rollups import day_end, system_control_statuses, system_control_statuses_by_end
from devtools.demo import policy as demo

pytestmark = pytest.mark.django_db


def _history(marketing, clinical) -> list:
    """Results evaluated at three moments in the past and now, the release's SBOM arriving in between."""
    from apps.ingest.models import Source

    now = timezone.now()
    for days_ago in (20, 6, 1):  # the fixtures' evidence is 2-3 days old (some 70)
        moment = now - timedelta(days=days_ago, hours=3)
        policy_evaluate(now=moment, as_of=moment)
    demo._push(
        Source.objects.get(name="ci marketing-site"), "upload", "", demo.MARKETING_RELEASE,
        demo.demo_release_sbom(), "sbom.cdx.json", now - timedelta(hours=12),
    )  # fmt: skip
    # a newer commit: from its first result on, it is the system's head commit, not the older one
    demo._push(
        Source.objects.get(name="ci marketing-site"), "upload", "", f"git+{demo.MARKETING_REPO}@{'1' * 40}",
        demo.JUNIT_PASSING, "junit.xml", now - timedelta(hours=6),
    )  # fmt: skip
    policy_evaluate()
    return [marketing["system"].pk, clinical["system"].pk]


def _plain(statuses) -> dict:
    return {system: {control: sorted(s) for control, s in per.items()} for system, per in statuses.items()}


def test_statuses_for_many_ends_equal_the_per_end_answer_even_at_the_instants_results_changed(marketing, clinical):
    systems = _history(marketing, clinical)
    today = timezone.localdate()
    instants = sorted(set(ControlResultChange.objects.values_list("changed_at", flat=True)))
    ends = [day_end(today - timedelta(days=n)) for n in range(1, 25)]
    # at a change's own instant it is not yet counted (changed_at < end); just after, it is
    ends += instants + [t + timedelta(microseconds=1) for t in instants]
    together = system_control_statuses_by_end(systems, ends)
    distinct = set()
    for end in ends:
        alone = _plain(system_control_statuses(systems, end=end))
        assert _plain(together[end]) == alone, end
        distinct.add(repr(sorted((s, sorted(c.items())) for s, c in alone.items())))
    # the history changes across these ends (nothing, the past evaluation, then the SBOM's), and some
    # results changed twice, so a window that kept a superseded status would show
    assert len(distinct) >= 3
    assert ControlResultChange.objects.order_by().values("result").annotate(n=Count("id")).filter(n__gte=2).exists()


def test_a_backfill_of_many_days_writes_the_rows_each_day_would_write_alone(marketing, clinical):
    _history(marketing, clinical)
    today = timezone.localdate()
    days = [today - timedelta(days=n) for n in range(25)]

    def rows():
        coverage = CoverageSnapshot.objects.order_by("day", "system_id", "framework_id").values_list(
            "day", "system_id", "framework_id", "applicable", "passing", "failing", "missing", "excepted",
            "not_assessed", "automated", "manual", "unmapped", "coverage", "control_status",
        )  # fmt: skip
        metrics = SystemMetricSnapshot.objects.order_by("day", "system_id").values_list(
            "day", "system_id", "results_applicable", "results_failing", "results_missing", "evidence_kinds",
        )  # fmt: skip
        return list(coverage), list(metrics)

    for day in days:
        coverage_snapshot(day=day)
    alone = rows()
    CoverageSnapshot.objects.all().delete()
    SystemMetricSnapshot.objects.all().delete()
    written = coverage_snapshot_days(days=days)
    assert rows() == alone
    assert written == len(alone[0]) > 0
    # the days differ (before the first evaluation only document requirements count), so a backfill
    # that wrote one day's rows for all would show
    per_day = {}
    for day, _s, _f, applicable, *_rest in alone[0]:
        per_day[day] = per_day.get(day, 0) + applicable
    assert per_day[days[-1]] < per_day[days[10]] < per_day[today]


def test_a_framework_taken_out_of_scope_loses_its_rows_for_the_days_recomputed_only(marketing, clinical):
    from apps.policy.models import Framework

    systems = _history(marketing, clinical)
    today = timezone.localdate()
    days = [today - timedelta(days=n) for n in range(3)]
    system = marketing["system"]
    system.frameworks = sorted(Framework.objects.values_list("code", flat=True))[:3]
    system.save(update_fields=["frameworks"])
    coverage_snapshot_days(days=[*days, today - timedelta(days=5)])
    kept = sorted(
        set(CoverageSnapshot.objects.filter(system=system, day=today).values_list("framework__code", flat=True))
    )
    assert len(kept) >= 2, kept
    system.frameworks = kept[:1]  # now declared in scope for one framework only
    system.save(update_fields=["frameworks"])
    coverage_snapshot_days(days=days)
    for day in days:
        codes = set(CoverageSnapshot.objects.filter(system=system, day=day).values_list("framework__code", flat=True))
        assert codes == set(kept[:1]), day
    # a day not recomputed keeps what it said, and so does the other system
    older = set(
        CoverageSnapshot.objects.filter(system=system, day=today - timedelta(days=5)).values_list(
            "framework__code", flat=True
        )
    )
    assert older == set(kept)
    assert CoverageSnapshot.objects.filter(system_id=systems[1], day=today).exists()
