"""Reads of the policy app, scoped to what the user may see (apps.accounts.scoping).

Pages read rollups (CoverageSnapshot, SystemMetricSnapshot) and bounded slices of results;
nothing here aggregates evidence or the whole result table per request. "As of" a day means
the state at the end of that day, read from the append-only result history.

The package's parts, each re-exported here so that callers import from the package:

- `history`: results "as of" a day: the user's window, and results read from the append-only history.
- `caching`: Page fragments cached under versions that change whenever what they show changes.
- `overview`: The overview page: coverage per framework, trend and top failing controls, from rollups.
- `systems`: A system's page: its control matrix and the results of its subjects.
- `controls`: Frameworks and controls: lists, a control's page, its evidence and results.
- `rules`: Rules and their dry runs.
- `gate`: The release gate: may this subject ship, and which results block it.
- `export`: Results of a framework's controls, shaped for the OSCAL assessment-results export.
"""

from apps.policy.selectors.caching import (
    PAGE_CACHE_SECONDS,
    cached_fragment,
    rollups_version,
    scope_key,
    system_results_version,
)
from apps.policy.selectors.controls import (
    FRAMEWORK_SHORT,
    AmbiguousControlRef,
    control_cited,
    control_detail_for_user,
    control_evidence_ids,
    control_get,
    control_list_for_user,
    control_mappings,
    framework_list,
    framework_list_for_user,
)
from apps.policy.selectors.export import (
    current_rule_count,
    results_for_export,
)
from apps.policy.selectors.gate import (
    EVALUATION_PENDING,
    GateDecision,
    gate_for_subject,
    gate_items_by_rule,
    subject_get,
)
from apps.policy.selectors.history import (
    RESULTS_LIMIT,
    ResultView,
    as_of_for_user,
    results_view,
)
from apps.policy.selectors.overview import (
    TREND_DAYS,
    FrameworkCoverage,
    Overview,
    overview_for_user,
)
from apps.policy.selectors.rules import (
    dry_run_get_for_user,
    rule_dry_run,
    rule_get,
    rule_list,
    rule_versions,
)
from apps.policy.selectors.systems import (
    MATRIX_KINDS,
    MATRIX_SUBJECTS,
    MatrixRow,
    SystemControls,
    system_controls_for_user,
)

__all__ = [
    "AmbiguousControlRef",
    "FRAMEWORK_SHORT",
    "FrameworkCoverage",
    "GateDecision",
    "MATRIX_KINDS",
    "MATRIX_SUBJECTS",
    "MatrixRow",
    "Overview",
    "PAGE_CACHE_SECONDS",
    "RESULTS_LIMIT",
    "ResultView",
    "SystemControls",
    "TREND_DAYS",
    "as_of_for_user",
    "cached_fragment",
    "control_cited",
    "control_detail_for_user",
    "control_evidence_ids",
    "control_get",
    "control_list_for_user",
    "control_mappings",
    "current_rule_count",
    "dry_run_get_for_user",
    "framework_list",
    "framework_list_for_user",
    "EVALUATION_PENDING",
    "gate_for_subject",
    "gate_items_by_rule",
    "overview_for_user",
    "results_for_export",
    "results_view",
    "rollups_version",
    "rule_dry_run",
    "rule_get",
    "rule_list",
    "rule_versions",
    "scope_key",
    "subject_get",
    "system_controls_for_user",
    "system_results_version",
]
