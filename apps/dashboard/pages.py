"""Page contexts that read more than one app (the output layer is where those live).

The policy app owns its selectors and charts; pages of other apps that show control status (the
home page, a system's page) compose them here, so that no app below reaches up into policy views.
"""

from __future__ import annotations

from django.utils import timezone

from apps.evidence.lineage import as_of_window, release_chains_for_user
from apps.inventory.models import System
from apps.policy import charts
from apps.policy.forms import AsOfForm
from apps.policy.selectors import (
    as_of_for_user,
    cached_fragment,
    overview_for_user,
    rollups_version,
    scope_key,
    system_controls_for_user,
    system_results_version,
)


def overview_charts(overview) -> dict:
    """Figure dicts of the overview page (used by the dashboard home view)."""
    return {
        "coverage_chart": charts.coverage_by_framework(overview.frameworks),
        "assessment_chart": charts.assessment_by_framework(overview.frameworks),
        "trend_chart": charts.coverage_trend(overview.trend, title="Coverage over the last 90 days"),
        "failing_chart": charts.top_failing_controls(overview.top_failing),
        "trend_table": charts.trend_table(overview.trend),
    }


def overview_context(user, as_of) -> dict:
    """The overview's data and charts for what the user may see, as of a day.

    Built only from rollups, so it is reused (cached) until a rollup row, a rule or a catalog
    changes (`rollups_version`): the page then costs three index probes and a cache read instead
    of aggregating 90 days of per-system rollups (which grow with the number of systems)."""

    def compute() -> dict:
        overview = overview_for_user(user=user, as_of=as_of)
        return {"overview": overview, **overview_charts(overview)}

    return cached_fragment(("overview", scope_key(user), as_of, timezone.localdate(), rollups_version()), compute)


# Releases the overview shows a chain for: the latest ones the user may see.
RELEASE_CHAIN_ROWS = 8


def release_chains_context(user, as_of) -> dict:
    """The overview's provenance rows: one per release (the latest the user may see, seen by `as_of`),
    its chain commit -> build -> image -> release -> deployment and each missing link in plain words.

    Read live, not cached with the rollups: a new release or deployment changes it at once. A fixed
    number of queries however many rows (apps.evidence.lineage.chain.release_chains)."""
    window = as_of_window(as_of.isoformat()) if as_of else None
    chains = release_chains_for_user(user=user, limit=RELEASE_CHAIN_ROWS, window=window)
    return {"release_chains": chains, "release_chains_complete": sum(1 for c in chains if c.complete)}


def system_controls_context(request, system: System) -> dict:
    """What the system page shows of controls: the matrix, coverage and trend.

    Cached until one of the system's results changes or a rollup is written (the caller has already
    checked that the user may see the system)."""
    user = request.user
    as_of = as_of_for_user(user, AsOfForm(request.GET or None).day())

    def compute() -> dict:
        controls = system_controls_for_user(user=user, system=system, as_of=as_of)
        return {
            "controls": controls,
            "as_of": as_of,
            "system_trend_chart": charts.coverage_trend(
                controls.trend, title=f"Coverage of {system.name} over the last 90 days"
            ),
            "system_trend_table": charts.trend_table(controls.trend),
        }

    key = ("system", system.pk, scope_key(user), as_of, timezone.localdate(), system_results_version(system),
           rollups_version())  # fmt: skip
    return cached_fragment(key, compute)
