"""Rules and their dry runs."""

from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.accounts.scoping import (
    scope_by_system,
)
from apps.evidence.models import Artifact
from apps.inventory.models import System
from apps.policy import facts as facts_mod
from apps.policy.engine import prepare_facts
from apps.policy.models import (
    ControlResult,
    Rule,
    RuleDryRun,
    RuleVersion,
    worst_status,
)
from apps.policy.rulesets import RuleSpec, evaluate_rules_bounded
from apps.policy.services import BATCH, _Rule, _selector_prefilter, subjects_queryset

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
