"""Rules as data: versions, saves, dry runs, and queueing re-evaluation after commit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.evidence.models import Evidence, EvidenceSubject
from apps.ledger.services import ledger_record
from apps.policy.models import (
    Control,
    Rule,
    RuleDryRun,
    RuleVersion,
)
from apps.policy.oscal import control_ref
from apps.policy.rulesets import (
    DEFAULT_RULES,
    RuleSetError,
    RuleSpec,
    load_rule_set,
    rule_from_dict,
)
from apps.policy.services.access import ensure_can_edit_rules
from apps.policy.services.catalogs import catalog_specs_in_db
from apps.policy.services.evaluation import logger
from apps.policy.services.pending import evaluation_request
from apps.policy.tasks import policy_evaluate as policy_evaluate_task
from apps.policy.tasks import rule_dry_run_execute as rule_dry_run_execute_task

DEFAULT_NOTE = "default rule set v{version}"


# ---------------------------------------------------------------- rules


def _version_create(*, rule: Rule, spec: RuleSpec, actor, note: str, now: datetime, record: bool = True) -> RuleVersion:
    last = rule.versions.order_by("-version").values_list("version", flat=True).first() or 0
    version = RuleVersion.objects.create(
        rule=rule,
        version=last + 1,
        title=spec.title[:300],
        description=spec.description,
        controls=list(spec.controls),
        requires=list(spec.requires),
        expression=spec.expression,
        selector=spec.selector.as_dict(),
        severity=spec.severity,
        mode=spec.mode,
        fingerprint=spec.fingerprint(),
        message=spec.message[:500],
        note=note[:500],
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        created_at=now,
    )
    previous = rule.current
    rule.current = version
    rule.updated_at = now
    rule.save(update_fields=["current", "updated_at"])
    if not record:
        return version
    ledger_record(
        actor=actor,
        action="rule.changed",
        target=rule,
        data={
            "key": rule.key,
            "version": version.version,
            "previous_version": previous.version if previous else None,
            "fingerprint": version.fingerprint,
            "expression": spec.expression,
            "selector": spec.selector.as_dict(),
            "controls": list(spec.controls),
            "severity": spec.severity,
            "mode": spec.mode,
            "message": spec.message,
            "note": note[:500],
        },
    )
    return version


@transaction.atomic
def rules_load_default(
    *, actor="system:load_rules", path=DEFAULT_RULES, enqueue: bool = False, record: bool = True
) -> list[int]:
    """Load the shipped rule set; returns ids of rules that got a new version.

    A shipped rule gets a new version only when its `version` in the YAML is one this
    portal has not loaded yet: a rule a compliance officer edited in the UI is not
    overwritten on every migrate, only when the shipped rule itself moves on. After migrate
    (`record=False`) no ledger entry is written: the version rows name the shipped set."""
    specs = load_rule_set(path, catalogs=catalog_specs_in_db() or None)
    now = timezone.now()
    changed = []
    for spec in specs:
        rule = Rule.objects.select_for_update().filter(key=spec.key).first()
        note = DEFAULT_NOTE.format(version=spec.version)
        if rule is None:
            rule = Rule.objects.create(key=spec.key, origin=Rule.Origin.DEFAULT, created_at=now, updated_at=now)
        elif rule.versions.filter(note=note).exists():
            continue
        _version_create(rule=rule, spec=spec, actor=actor, note=note, now=now, record=record)
        changed.append(rule.pk)
    if changed and enqueue:
        _enqueue_evaluation(rule_ids=changed)
    return changed


def rule_spec_from_form(*, key: str, data: dict) -> RuleSpec:
    """Validate rule fields (a form, the API) into a RuleSpec; raises RuleSetError naming the field."""
    raw = {"key": key, **{k: v for k, v in data.items() if v is not None}}
    controls = {
        ref
        for code, control_id in Control.objects.values_list("framework__code", "control_id")
        for ref in (control_id, control_ref(code, control_id))
    }
    return rule_from_dict(raw, where="rule", control_ids=controls)


@transaction.atomic
def rule_save(*, actor, key: str, data: dict, note: str = "") -> RuleVersion:
    """Save a rule (new or edited) as a new version, unless nothing that matters changed.

    `data` holds title, description, controls, requires, expression, selector, severity, mode.
    Affected subjects are re-evaluated after commit."""
    ensure_can_edit_rules(actor)
    try:
        spec = rule_spec_from_form(key=key, data=data)
    except RuleSetError as exc:
        raise ValidationError(str(exc)) from None
    now = timezone.now()
    rule = Rule.objects.select_for_update().filter(key=key).first()
    if rule is None:
        rule = Rule.objects.create(key=key, origin=Rule.Origin.USER, created_at=now, updated_at=now)
    current = rule.current
    if (
        current is not None
        and current.fingerprint == spec.fingerprint()
        and current.title == spec.title
        and current.description == spec.description
        and current.message == spec.message
    ):
        return current
    version = _version_create(rule=rule, spec=spec, actor=actor, note=note or "edited in the portal", now=now)
    _enqueue_evaluation(rule_ids=[rule.pk])
    return version


@transaction.atomic
def rule_dry_run_request(*, actor, key: str, data: dict) -> RuleDryRun:
    """Queue a dry run of a rule as the editor holds it; a worker runs it (rule_dry_run_execute).

    Raises RuleSetError naming the field when the rule is not valid: nothing is queued then."""
    ensure_can_edit_rules(actor)
    spec = rule_spec_from_form(key=key, data=data)
    dry_run = RuleDryRun.objects.create(
        requested_by=actor, rule_key=spec.key, spec=spec.as_dict(), created_at=timezone.now()
    )
    ledger_record(
        actor=actor,
        action="rule.dry_run_requested",
        target=dry_run,
        data={"key": spec.key, "expression": spec.expression, "selector": spec.selector.as_dict()},
    )

    transaction.on_commit(lambda: rule_dry_run_execute_task.delay(dry_run.pk))
    return dry_run


def rule_dry_run_execute(*, dry_run_id: int) -> None:
    """Run a queued dry run, writing progress to its row as batches finish. Safe to run twice."""
    from apps.policy.selectors import rule_dry_run  # noqa: PLC0415 - circular: apps.policy.selectors imports this module

    now = timezone.now()
    claimed = RuleDryRun.objects.filter(pk=dry_run_id, status=RuleDryRun.Status.QUEUED).update(
        status=RuleDryRun.Status.RUNNING, started_at=now
    )
    if not claimed:  # another worker has it, or it is done
        return
    dry_run = RuleDryRun.objects.select_related("requested_by").get(pk=dry_run_id)

    def progress(done: int, total: int) -> None:
        RuleDryRun.objects.filter(pk=dry_run_id).update(done=done, total=total)

    try:
        # validated (cost limits included) when it was requested; the run-time budget bounds it here
        spec = rule_from_dict(dry_run.spec, where="rule", saving=False)
        result = rule_dry_run(user=dry_run.requested_by, spec=spec, progress=progress)
    except Exception as exc:  # noqa: BLE001 - the page must say why, not poll for ever
        logger.exception("dry run %s failed", dry_run_id)
        RuleDryRun.objects.filter(pk=dry_run_id, status=RuleDryRun.Status.RUNNING).update(
            status=RuleDryRun.Status.FAILED, error=f"the dry run failed: {exc}"[:2000], finished_at=timezone.now()
        )
        return
    RuleDryRun.objects.filter(pk=dry_run_id, status=RuleDryRun.Status.RUNNING).update(
        status=RuleDryRun.Status.DONE, result=result, finished_at=timezone.now()
    )


def _enqueue_evaluation(*, subject_ids=None, system_ids=None, rule_ids=None) -> None:
    kwargs = {"subject_ids": subject_ids, "system_ids": system_ids, "rule_ids": rule_ids}
    # robust: a broker outage must not undo the committed change; the nightly run catches up.
    transaction.on_commit(lambda: policy_evaluate_task.delay(**kwargs), robust=True)


def policy_evaluate_on_evidence(*, evidence_ids: Iterable[int]) -> None:
    """Hook for ingestion: ask, in the transaction that recorded the evidence, for an evaluation of
    the artifacts new evidence is about (and, through policy_evaluate, of everything downstream of
    them and of their systems' system-scope rules). Evidence about no artifact re-evaluates its
    system. The request is a row (apps.policy.services.pending), drained after commit."""
    ids = list(evidence_ids)
    if not ids:
        return
    artifact_ids = set(EvidenceSubject.objects.filter(evidence_id__in=ids).values_list("artifact_id", flat=True))
    if artifact_ids:
        evaluation_request(artifact_ids=artifact_ids)
        return
    system_ids = set(Evidence.objects.filter(pk__in=ids, system__isnull=False).values_list("system_id", flat=True))
    evaluation_request(system_ids=system_ids)
