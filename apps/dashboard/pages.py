"""Page contexts that read more than one app (the output layer is where those live).

The policy app owns its selectors and charts; pages of other apps that show control status (the
home page, a system's page) compose them here, so that no app below reaches up into policy views.
"""

from __future__ import annotations

from django.utils import timezone

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
