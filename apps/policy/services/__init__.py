"""Writes of the policy app: catalogs, rules, evaluation (the only writer of results), rollups.

- `catalogs_load_shipped()` / `catalog_import()`: OSCAL catalogs into Framework + Control.
- `rules_load_default()` / `rule_save()`: rules as data; every change is a new RuleVersion
  and a ledger entry `rule.changed`; a saved rule is re-evaluated on the subjects it may
  affect, after commit.
- `policy_evaluate()`: builds facts (apps.policy.facts), runs the CEL rules
  (apps.policy.rulesets) and writes what changed. Results change only here: every change
  of a result writes a ControlResultChange row and a ledger entry
  `control_result.changed` in the same transaction; an unchanged result writes nothing.
- `exception_covers()`: asks the coverage providers (apps.policy.providers; the exceptions
  app registers one) which failing results of an evaluation batch approved exceptions cover,
  once per batch.
- `coverage_snapshot()`: the daily rollups the dashboard reads; `coverage_snapshot_days()` for many days
  at once (backfills).

The package's parts, each re-exported here so that callers import from the package:

- `access`: Who may write rules and import catalogs.
- `catalogs`: OSCAL catalogs into Framework + Control: the shipped ones and imported ones.
- `rules`: Rules as data: versions, saves, dry runs, and queueing re-evaluation after commit.
- `evaluation`: `policy_evaluate()`: facts, rules, and the only writer of results and their history.
- `pending`: Evaluation after new evidence: durable requests, drained many at a time.
- `rollups`: Statuses per system and control, coverage providers and panels, daily coverage snapshots.
"""

from apps.policy.services.access import (
    can_edit_rules,
    ensure_can_edit_rules,
)
from apps.policy.services.catalogs import (
    catalog_import,
    catalog_specs_in_db,
    catalogs_load_shipped,
)
from apps.policy.services.evaluation import (
    BATCH,
    LOCK_BASE,
    SYSTEM_LOCK_BASE,
    EvaluationStats,
    _Rule,
    _selector_prefilter,
    current_rules,
    exception_covers,
    policy_evaluate,
    subjects_queryset,
)
from apps.policy.services.pending import (
    evaluation_request,
    policy_evaluate_pending,
)
from apps.policy.services.rollups import (
    CONTROL_PANELS,
    MANUAL_ASSESSMENT_PROVIDERS,
    MANUAL_STATUS_PROVIDERS,
    control_assessment_modes,
    control_panel_register,
    coverage_snapshot,
    coverage_snapshot_catch_up,
    coverage_snapshot_days,
    day_end,
    manual_assessment_provider_register,
    manual_status_provider_register,
    system_control_statuses,
)
from apps.policy.services.rules import (
    DEFAULT_NOTE,
    policy_evaluate_on_evidence,
    rule_dry_run_execute,
    rule_dry_run_request,
    rule_save,
    rule_spec_from_form,
    rules_load_default,
)

__all__ = [
    "BATCH",
    "CONTROL_PANELS",
    "DEFAULT_NOTE",
    "EvaluationStats",
    "LOCK_BASE",
    "MANUAL_ASSESSMENT_PROVIDERS",
    "MANUAL_STATUS_PROVIDERS",
    "SYSTEM_LOCK_BASE",
    "_Rule",
    "_selector_prefilter",
    "can_edit_rules",
    "catalog_import",
    "catalog_specs_in_db",
    "catalogs_load_shipped",
    "control_assessment_modes",
    "control_panel_register",
    "coverage_snapshot",
    "coverage_snapshot_catch_up",
    "coverage_snapshot_days",
    "current_rules",
    "day_end",
    "ensure_can_edit_rules",
    "evaluation_request",
    "exception_covers",
    "manual_assessment_provider_register",
    "manual_status_provider_register",
    "policy_evaluate",
    "policy_evaluate_on_evidence",
    "policy_evaluate_pending",
    "rule_dry_run_execute",
    "rule_dry_run_request",
    "rule_save",
    "rule_spec_from_form",
    "rules_load_default",
    "subjects_queryset",
    "system_control_statuses",
]
