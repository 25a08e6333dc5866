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
  app registers one) whether an approved exception covers a failing result.
- `coverage_snapshot()`: the daily rollups the dashboard reads.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from apps.accounts.roles import Role
from apps.evidence.models import Artifact, EvidenceSubject
from apps.inventory.models import System
from apps.ledger.services import ledger_record
from apps.policy import facts as facts_mod
from apps.policy.engine import prepare_facts
from apps.policy.mappings import result_flows
from apps.policy.models import (
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
from apps.policy.oscal import REF_SEPARATOR, CatalogSpec, OscalError, control_ref, load_catalog, shipped_catalogs
from apps.policy.providers import covering_exception_id
from apps.policy.rulesets import (
    DEFAULT_RULES,
    RuleSetError,
    RuleSpec,
    evaluate_rules_bounded,
    load_rule_set,
    rule_from_dict,
)

logger = logging.getLogger(__name__)

BATCH = 200  # subjects per fact batch and per transaction
LOCK_BASE = 0x504F4C << 32  # advisory lock keys of evaluated subjects: LOCK_BASE + artifact id
SYSTEM_LOCK_BASE = 0x504F53 << 32  # ... and of system-scope evaluation: SYSTEM_LOCK_BASE + system id
DEFAULT_NOTE = "default rule set v{version}"


# ---------------------------------------------------------------- who may do what


def can_edit_rules(user) -> bool:
    """Compliance officers and platform admins write rules and import catalogs."""
    if not getattr(user, "is_authenticated", False):
        return False
    return bool(user.is_superuser or user.has_role(Role.ADMIN, Role.COMPLIANCE_OFFICER))


def ensure_can_edit_rules(actor) -> None:
    if isinstance(actor, str):  # "system:<command>"
        return
    if not can_edit_rules(actor):
        raise PermissionDenied("Only compliance officers and platform admins change rules and catalogs.")


# ---------------------------------------------------------------- catalogs


def _catalog_store(spec: CatalogSpec, *, origin: str, actor, record: bool = True) -> tuple[Framework, bool]:
    """Create or update one framework and its controls; returns (framework, changed)."""
    now = timezone.now()
    # Control ids are unique per framework only (the constraint control_id_unique_per_framework):
    # a second NIST SP 800-53 baseline reuses "ac-1"; rules tell them apart by "<code>:<id>".
    framework = Framework.objects.select_for_update().filter(code=spec.code).first()
    same = (
        framework is not None
        and framework.version == spec.version
        and framework.last_modified == spec.last_modified
        and framework.title == spec.title
        and set(framework.controls.values_list("control_id", flat=True)) == set(spec.control_ids())
    )
    if same:
        return framework, False
    if framework is None:
        framework = Framework(code=spec.code)
    framework.title = spec.title[:300]
    framework.version = spec.version[:100]
    framework.oscal_version = spec.oscal_version[:20]
    framework.catalog_uuid = spec.uuid
    framework.last_modified = spec.last_modified[:40]
    framework.origin = origin
    framework.loaded_at = now
    framework.save()
    existing = {c.control_id: c for c in framework.controls.all()}
    by_id: dict[str, Control] = {}
    for c in sorted(spec.controls, key=lambda c: c.order):
        control = existing.get(c.id) or Control(framework=framework, control_id=c.id)
        control.label = c.label[:100]
        control.title = c.title[:300]
        control.description = c.description
        control.parent = by_id.get(c.parent_id) if c.parent_id else None
        control.group_title = c.group_title[:300]
        control.order = c.order
        control.depth = c.depth
        control.save()
        by_id[c.id] = control
    # Controls a new catalog version dropped stay (results may name them); they sort last.
    if not record:
        return framework, True
    ledger_record(
        actor=actor,
        action="framework.loaded",
        target=framework,
        data={"code": spec.code, "version": spec.version, "controls": len(spec.controls), "origin": origin},
    )
    return framework, True


@transaction.atomic
def catalogs_load_shipped(*, actor="system:load_catalogs", record: bool = True) -> int:
    """Load the shipped OSCAL catalogs (idempotent: an unchanged catalog writes nothing); returns how many changed.

    `record=False` (after migrate) writes no ledger entries: the shipped catalogs are part of
    the release, reproducible from the code, not a change anybody made; imports are recorded."""
    changed = 0
    for spec in shipped_catalogs().values():
        _framework, did = _catalog_store(spec, origin=Framework.Origin.SHIPPED, actor=actor, record=record)
        changed += did
    return changed


@transaction.atomic
def catalog_import(*, actor, data: bytes | str | dict, code: str | None = None) -> Framework:
    """Import a programme's own framework from an OSCAL catalog; raises ValidationError saying what is wrong."""
    ensure_can_edit_rules(actor)
    try:
        spec = load_catalog(data, code=code)
    except OscalError as exc:
        raise ValidationError(f"not a valid OSCAL catalog: {exc}") from None
    if spec.code in shipped_catalogs():
        existing = Framework.objects.filter(code=spec.code, origin=Framework.Origin.SHIPPED).exists()
        if existing:
            raise ValidationError(f"framework code {spec.code!r} is a shipped framework; give the import another code")
    framework, _ = _catalog_store(spec, origin=Framework.Origin.IMPORTED, actor=actor)
    return framework


def catalog_specs_in_db() -> dict[str, CatalogSpec]:
    """Minimal CatalogSpecs of every loaded framework (control ids only), for rule validation."""
    from apps.policy.oscal import ControlSpec

    out: dict[str, list] = defaultdict(list)
    for code, control_id in Control.objects.values_list("framework__code", "control_id"):
        out[code].append(control_id)
    return {
        code: CatalogSpec(
            code=code,
            title=code,
            version="",
            oscal_version="",
            uuid="",
            last_modified="",
            controls=tuple(
                ControlSpec(
                    id=cid, label=cid, title=cid, description="", parent_id=None, group_id=None, group_title="",
                    order=i, depth=0,
                )
                for i, cid in enumerate(ids)
            ),
        )
        for code, ids in out.items()
    }  # fmt: skip


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
    from apps.policy.tasks import rule_dry_run_execute as rule_dry_run_execute_task

    transaction.on_commit(lambda: rule_dry_run_execute_task.delay(dry_run.pk))
    return dry_run


def rule_dry_run_execute(*, dry_run_id: int) -> None:
    """Run a queued dry run, writing progress to its row as batches finish. Safe to run twice."""
    from apps.policy.selectors import rule_dry_run

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
    from apps.policy.tasks import policy_evaluate as policy_evaluate_task

    kwargs = {"subject_ids": subject_ids, "system_ids": system_ids, "rule_ids": rule_ids}
    # robust: a broker outage must not undo the committed change; the nightly run catches up.
    transaction.on_commit(lambda: policy_evaluate_task.delay(**kwargs), robust=True)


def policy_evaluate_on_evidence(*, evidence_ids: Iterable[int]) -> None:
    """Hook for ingestion: queue, after commit, an evaluation of the artifacts new evidence is
    about (and, through policy_evaluate, of everything downstream of them and of their systems'
    system-scope rules). Evidence about no artifact re-evaluates its system. Call inside the
    transaction that recorded the evidence."""
    ids = list(evidence_ids)
    if not ids:
        return
    artifact_ids = sorted(
        set(EvidenceSubject.objects.filter(evidence_id__in=ids).values_list("artifact_id", flat=True))
    )
    if artifact_ids:
        _enqueue_evaluation(subject_ids=artifact_ids)
        return
    from apps.evidence.models import Evidence

    system_ids = sorted(
        set(Evidence.objects.filter(pk__in=ids, system__isnull=False).values_list("system_id", flat=True))
    )
    if system_ids:
        _enqueue_evaluation(system_ids=system_ids)


# ---------------------------------------------------------------- exceptions hook


def exception_covers(control_id: int, system_id: int, artifact_id: int | None, at: datetime) -> int | None:
    """The id of an approved, unexpired exception covering this control on this subject at `at`, or None.

    The exceptions app registers the provider (apps.policy.providers), so policy never imports it:
    `control_id` is the Control's primary key, `artifact_id` is None for a system-scope result.
    Evaluation calls it for every result that would be fail or missing; a returned id makes the
    result "excepted" and is stored on it (ControlResult.exception_id).
    """
    return covering_exception_id(control_id, system_id, artifact_id, at)


# ---------------------------------------------------------------- evaluation


@dataclass
class EvaluationStats:
    """What one policy_evaluate() call did."""

    subjects: int = 0
    systems: int = 0
    evaluated: int = 0  # (rule, subject) outcomes computed
    changed: int = 0  # results created or changed
    by_status: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    changed_system_ids: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class _Rule:
    version: RuleVersion
    spec: RuleSpec
    control_ids: tuple[int, ...]  # Control primary keys


def current_rules(rule_ids: Iterable[int] | None = None) -> list[_Rule]:
    """The current version of every rule (or of the given rules), compiled, with control keys."""
    qs = RuleVersion.objects.filter(current_of__isnull=False).select_related("rule").order_by("rule__key")
    if rule_ids is not None:
        qs = qs.filter(rule_id__in=list(rule_ids))
    versions = list(qs)
    # A bare id maps to the control of that id in every framework; "<code>:<id>" to one framework's.
    control_pks: dict[str, list[int]] = defaultdict(list)
    ref_of: dict[int, str] = {}
    for code, control_id, pk in Control.objects.order_by("pk").values_list("framework__code", "control_id", "pk"):
        control_pks[control_id].append(pk)
        control_pks[control_ref(code, control_id)].append(pk)
        ref_of[pk] = control_ref(code, control_id)
    flows = result_flows()
    out = []
    for version in versions:
        try:
            spec = rule_from_dict(
                version.as_rule_dict(), where=f"rule {version.rule.key} v{version.version}", saving=False
            )
        except RuleSetError:
            logger.exception("stored rule %s v%s does not compile; skipped", version.rule.key, version.version)
            continue
        direct = [pk for c in version.controls for pk in control_pks.get(c, ())]
        # The result also satisfies the requirements mapped to these (apps/policy/mappings.py, one step).
        mapped = [pk for d in direct for ref in flows.get(ref_of[d], ()) for pk in control_pks.get(ref, ())]
        pks = tuple(dict.fromkeys(direct + mapped))
        out.append(_Rule(version=version, spec=spec, control_ids=pks))
    return out


def _status_of(outcome) -> tuple[str, str]:
    """Engine outcome -> (stored status, reason). An engine error fails closed."""
    if outcome.status == "error":
        return ResultStatus.FAIL, f"rule error: {outcome.reason}"
    if outcome.status == "not-applicable":
        return ResultStatus.NOT_APPLICABLE, outcome.reason
    return outcome.status, outcome.reason


def subjects_queryset():
    """Artifacts judged one by one: subject kinds, attributed to a system, with evidence about them."""
    return Artifact.objects.filter(kind__in=facts_mod.SUBJECT_KINDS, system__isnull=False).filter(
        Exists(EvidenceSubject.objects.filter(artifact=OuterRef("pk")))
    )


def _downstream_ids(artifact_ids: list[int]) -> list[int]:
    """Every artifact downstream of these along inheritance relations (their facts changed too)."""
    if not artifact_ids:
        return []
    sql = """
    WITH RECURSIVE down(artifact_id, depth, path) AS (
        SELECT s, 0, ARRAY[s] FROM unnest(%(ids)s::bigint[]) AS s
      UNION ALL
        SELECT e.target_id, down.depth + 1, down.path || e.target_id
        FROM down JOIN evidence_lineageedge e ON e.source_id = down.artifact_id
        WHERE down.depth < %(max_depth)s AND e.relation = ANY(%(relations)s) AND e.target_id <> ALL(down.path)
    )
    SELECT DISTINCT artifact_id FROM down LIMIT 20000
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql, {"ids": artifact_ids, "max_depth": facts_mod.MAX_DEPTH, "relations": facts_mod.INHERIT_RELATIONS}
        )
        return [r[0] for r in cursor.fetchall()]


def _selector_prefilter(qs, rules: list[_Rule], *, system_field: str):
    """Narrow subjects to those some rule's selector could select (environment is decided per subject)."""
    condition = Q(pk__in=[])
    for r in rules:
        sel = r.spec.selector
        q = Q()
        if sel.artifact_kinds and system_field == "system":
            q &= Q(kind__in=sel.artifact_kinds)
        prefix = f"{system_field}__" if system_field == "system" else ""
        if sel.tiers:
            q &= Q(**{f"{prefix}risk_tier__in": sel.tiers})
        if sel.system_kinds:
            q &= Q(**{f"{prefix}kind__in": sel.system_kinds})
        if sel.data_classes:
            q &= Q(**{f"{prefix}data_classes__overlap": list(sel.data_classes)})
        if sel.frameworks:
            q &= Q(**{f"{prefix}frameworks__overlap": list(sel.frameworks)})
        if not q:
            return qs  # a rule without a selector selects every subject (Q() | x would drop it)
        condition |= q
    return qs.filter(condition)


def policy_evaluate(
    *,
    subject_ids: Iterable[int] | None = None,
    system_ids: Iterable[int] | None = None,
    rule_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    as_of: datetime | None = None,
    actor="system:policy_evaluate",
) -> EvaluationStats:
    """Evaluate rules over subjects and write the results that changed.

    - subject_ids: these artifacts and everything downstream of them, plus the system-scope
      rules of their systems (new evidence changes a system's latest evidence too);
    - system_ids: every subject of these systems and the systems themselves;
    - rule_ids: only these rules, on the subjects their selectors may select or that
      already have results of them;
    - nothing: everything (the nightly run).

    `now` is the evaluation time rules see (`now` fact, age_days); `as_of` limits evidence
    to what was effective by then (historical replays for the demo and tests). Safe to run
    twice at once: subjects are locked (advisory locks) while their results are written.
    """
    now = now or timezone.now()
    stats = EvaluationStats()
    rules = current_rules(rule_ids)
    artifact_rules = [r for r in rules if not r.version.is_system_scope]
    system_rules = [r for r in rules if r.version.is_system_scope]
    if not rules:
        return stats

    subjects = subjects_queryset()
    systems = System.objects.all()
    if as_of is not None:  # a historical evaluation judges only what had evidence by then
        subjects = subjects.filter(
            Exists(EvidenceSubject.objects.filter(artifact=OuterRef("pk"), evidence__effective_at__lte=as_of))
        )
    if subject_ids is not None:
        ids = list({int(i) for i in subject_ids})
        ids = sorted(set(ids) | set(_downstream_ids(ids)))
        subjects = subjects.filter(pk__in=ids)
        systems = systems.filter(pk__in=Artifact.objects.filter(pk__in=ids).values("system_id"))
    if system_ids is not None:
        sids = [int(s) for s in system_ids]
        subjects = subjects.filter(system_id__in=sids)
        systems = systems.filter(pk__in=sids)
    if rule_ids is not None:
        existing_rule_subjects = ControlResult.objects.filter(rule_id__in=[r.version.rule_id for r in rules])
        subjects = _selector_prefilter(subjects, artifact_rules, system_field="system") | subjects.filter(
            pk__in=existing_rule_subjects.filter(artifact__isnull=False).values("artifact_id")
        )
        systems = _selector_prefilter(systems, system_rules, system_field="") | systems.filter(
            pk__in=existing_rule_subjects.filter(artifact__isnull=True).values("system_id")
        )
    if artifact_rules:
        ids = list(subjects.order_by("pk").values_list("pk", flat=True).distinct())
        for start in range(0, len(ids), BATCH):
            batch = list(Artifact.objects.filter(pk__in=ids[start : start + BATCH]).order_by("pk"))
            facts = facts_mod.subject_facts_batch(batch, now=now, as_of=as_of)
            _write_batch(
                scope_ids=[a.pk for a in batch],
                facts=facts,
                rules=artifact_rules,
                now=now,
                actor=actor,
                stats=stats,
                system_scope=False,
                artifacts={a.pk: a for a in batch},
            )
            stats.subjects += len(batch)
    if system_rules:
        sids = sorted(set(systems.values_list("pk", flat=True)))
        for start in range(0, len(sids), BATCH):
            chunk = sids[start : start + BATCH]
            facts = facts_mod.system_scope_facts_batch(chunk, now=now, as_of=as_of)
            _write_batch(
                scope_ids=chunk,
                facts=facts,
                rules=system_rules,
                now=now,
                actor=actor,
                stats=stats,
                system_scope=True,
                artifacts={},
            )
            stats.systems += len(chunk)
    if stats.changed:
        _schedule_snapshot(stats.changed_system_ids)
    return stats


def _schedule_snapshot(system_ids: set[int]) -> None:
    """Refresh today's rollups soon after results changed (debounced: one pending refresh at a time)."""
    from django.core.cache import cache

    from apps.policy.tasks import coverage_snapshot as coverage_snapshot_task

    try:
        if not cache.add("policy:snapshot-pending", 1, timeout=30):
            return
        coverage_snapshot_task.apply_async(countdown=5)
    except Exception:  # noqa: BLE001 - rollups catch up on the next beat run; never fail an evaluation for this
        logger.warning("could not queue a coverage snapshot refresh", exc_info=True)


def _write_batch(*, scope_ids, facts, rules, now, actor, stats, system_scope, artifacts) -> None:
    """One transaction: lock the subjects, compare outcomes with stored results, write the changes."""
    rule_ids = [r.version.rule_id for r in rules]
    # Evaluate before the transaction (no locks held while CEL runs), each rule within its budget.
    prepared_by_scope = {sid: prepare_facts(facts[sid]) for sid in scope_ids if facts.get(sid) is not None}
    ordered = list(prepared_by_scope)
    outcomes = evaluate_rules_bounded(
        [r.spec for r in rules],
        [prepared_by_scope[sid] for sid in ordered],
        budget_ms=settings.PORTAL_POLICY_RULE_BUDGET_MS,
    )
    outcome_of = {(i, sid): outcomes[i][j] for i in range(len(rules)) for j, sid in enumerate(ordered)}
    with transaction.atomic():
        with connection.cursor() as cursor:
            base = SYSTEM_LOCK_BASE if system_scope else LOCK_BASE
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s + x) FROM unnest(%s::bigint[]) AS x ORDER BY x",
                [base, sorted(scope_ids)],
            )
        if system_scope:
            existing_qs = ControlResult.objects.filter(
                system_id__in=scope_ids, artifact__isnull=True, rule_id__in=rule_ids
            )
        else:
            existing_qs = ControlResult.objects.filter(artifact_id__in=scope_ids, rule_id__in=rule_ids)
        existing = {
            (r.control_id, r.rule_id, r.artifact_id if not system_scope else r.system_id): r for r in existing_qs
        }
        new_rows: list[ControlResult] = []
        updated_rows: list[tuple[ControlResult, str]] = []
        subject_rows: list[EvaluatedSubject] = []
        for scope_id in scope_ids:
            prepared = prepared_by_scope.get(scope_id)
            if prepared is None:
                continue
            if system_scope:
                system_id, artifact_id = scope_id, None
            else:
                system_id, artifact_id = artifacts[scope_id].system_id, scope_id
            statuses: list[str] = []
            gate_blocked = False
            for rule_index, r in enumerate(rules):
                outcome = outcome_of[(rule_index, scope_id)]
                stats.evaluated += 1
                status, reason = _status_of(outcome)
                message = outcome.message
                evidence_ids = sorted({int(x) for x in outcome.used if str(x).isdigit()})
                for control_pk in r.control_ids:
                    exc_id = None
                    final = status
                    if status in (ResultStatus.FAIL, ResultStatus.MISSING):
                        exc_id = exception_covers(control_pk, system_id, artifact_id, now)
                        if exc_id is not None:
                            final = ResultStatus.EXCEPTED
                    statuses.append(final)
                    if r.version.mode == RuleVersion.Mode.GATE and final in (ResultStatus.FAIL, ResultStatus.MISSING):
                        gate_blocked = True
                    key = (control_pk, r.version.rule_id, scope_id)
                    row = existing.get(key)
                    if row is None:
                        if final == ResultStatus.NOT_APPLICABLE:
                            continue  # never applied: nothing to record
                        new_rows.append(
                            ControlResult(
                                control_id=control_pk,
                                rule_id=r.version.rule_id,
                                rule_version=r.version,
                                system_id=system_id,
                                artifact_id=artifact_id,
                                status=final,
                                reason=reason,
                                message=message,
                                evidence_ids=evidence_ids,
                                exception_id=exc_id,
                                evaluated_at=now,
                            )
                        )
                        continue
                    if (
                        row.status == final
                        and row.reason == reason
                        and row.message == message
                        and list(row.evidence_ids) == evidence_ids
                        and row.rule_version_id == r.version.pk
                        and row.exception_id == exc_id
                        and row.system_id == system_id
                    ):
                        continue  # unchanged: write nothing
                    previous = row.status
                    row.status, row.reason, row.evidence_ids = final, reason, evidence_ids
                    row.message = message
                    row.rule_version, row.exception_id, row.evaluated_at = r.version, exc_id, now
                    row.system_id = system_id
                    updated_rows.append((row, previous))
            if not system_scope:
                artifact = artifacts[scope_id]
                applicable = [s for s in statuses if s != ResultStatus.NOT_APPLICABLE]
                subject_rows.append(
                    EvaluatedSubject(
                        artifact_id=scope_id,
                        system_id=system_id,
                        kind=artifact.kind,
                        environment=prepared.data["system"].get("environment", ""),
                        provenance_complete=bool(prepared.data["lineage"].get("has_provenance_chain")),
                        worst_status=worst_status(applicable),
                        gate_blocked=gate_blocked,
                        first_seen=artifact.first_seen,
                        evaluated_at=now,
                    )
                )
        if new_rows:
            ControlResult.objects.bulk_create(new_rows)
        if updated_rows:
            ControlResult.objects.bulk_update(
                [r for r, _ in updated_rows],
                ["status", "reason", "message", "evidence_ids", "rule_version", "exception_id", "evaluated_at",
                 "system"],
            )
        changes = [(row, "") for row in new_rows] + updated_rows
        if changes:
            ControlResultChange.objects.bulk_create(
                [
                    ControlResultChange(
                        result_id=row.pk,
                        control_id=row.control_id,
                        rule_id=row.rule_id,
                        rule_version_id=row.rule_version_id,
                        system_id=row.system_id,
                        artifact_id=row.artifact_id,
                        status=row.status,
                        previous_status=previous,
                        reason=row.reason,
                        message=row.message,
                        evidence_ids=row.evidence_ids,
                        exception_id=row.exception_id,
                        changed_at=now,
                    )
                    for row, previous in changes
                ]
            )
            uris = dict(
                Artifact.objects.filter(pk__in={r.artifact_id for r, _ in changes if r.artifact_id}).values_list(
                    "pk", "uri"
                )
            )
            rule_versions = {r.version.pk: r.version for r in rules}
            controls = dict(
                Control.objects.filter(pk__in={r.control_id for r, _ in changes}).values_list("pk", "control_id")
            )
            for row, previous in changes:
                version = rule_versions[row.rule_version_id]
                ledger_record(
                    actor=actor,
                    action="control_result.changed",
                    target=row,
                    data={
                        "control": controls[row.control_id],
                        "rule": version.rule.key,
                        "rule_version": version.version,
                        "subject": uris.get(row.artifact_id, "") if row.artifact_id else "",
                        "system": row.system_id,
                        "from": previous,
                        "to": row.status,
                        "reason": row.reason[:1000],
                        "message": row.message[:1000],
                        "evidence": [str(e) for e in row.evidence_ids],
                        "exception": row.exception_id,
                    },
                )
                stats.by_status[row.status] += 1
                stats.changed_system_ids.add(row.system_id)
            stats.changed += len(changes)
        if subject_rows:
            EvaluatedSubject.objects.bulk_create(
                subject_rows,
                update_conflicts=True,
                unique_fields=["artifact"],
                update_fields=[
                    "system", "kind", "environment", "provenance_complete", "worst_status", "gate_blocked",
                    "first_seen", "evaluated_at",
                ],
            )  # fmt: skip


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
    day = day or today
    now = timezone.now()
    systems = list(System.objects.all() if system_ids is None else System.objects.filter(pk__in=list(system_ids)))
    if not systems:
        return 0
    ids = [s.pk for s in systems]
    end = None if day >= today else day_end(day)
    statuses = system_control_statuses(ids, end=end)
    for provider in MANUAL_STATUS_PROVIDERS:  # documents and attestations, judged at the same instant
        for system_id, per_control in provider(ids, end or now).items():
            for control_pk, manual_statuses in per_control.items():
                statuses[system_id][control_pk].extend(manual_statuses)
    frameworks = {f.code: f for f in Framework.objects.all()}
    controls_by_fw: dict[str, dict[int, str]] = defaultdict(dict)  # code -> control pk -> control id
    for code, pk, control_id in Control.objects.values_list("framework__code", "pk", "control_id"):
        controls_by_fw[code][pk] = control_id
    # Today's assessment modes also label past days recomputed from history (the rule set of the
    # day is not kept per day; results are, and they decide the counts that matter).
    modes = control_assessment_modes()
    coverage_rows = []
    metric_rows = []
    stale: list = []  # (system id, framework codes kept): rows of frameworks no longer in scope go
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
        stale.append((system.pk, in_scope))
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
                CoverageSnapshot(
                    day=day,
                    framework=frameworks[code],
                    system=system,
                    controls_total=len(cids),
                    applicable=applicable,
                    passing=tally[ResultStatus.PASS],
                    failing=tally[ResultStatus.FAIL],
                    missing=tally[ResultStatus.MISSING],
                    excepted=tally[ResultStatus.EXCEPTED],
                    # every control counts: what has no applicable result is "not assessed", not hidden
                    not_assessed=len(cids) - applicable,
                    automated=assessed_by[Control.Assessment.AUTOMATED] + assessed_by[Control.Assessment.BOTH],
                    manual=assessed_by[Control.Assessment.MANUAL] + assessed_by[Control.Assessment.BOTH],
                    unmapped=assessed_by[Control.Assessment.NONE],
                    coverage=(good / len(cids)) if cids else None,
                    control_status=counted,
                    computed_at=now,
                )
            )
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
    with transaction.atomic():
        for system_id, kept in stale:
            CoverageSnapshot.objects.filter(day=day, system_id=system_id).exclude(framework__code__in=kept).delete()
        CoverageSnapshot.objects.bulk_create(
            coverage_rows,
            update_conflicts=True,
            unique_fields=["day", "framework", "system"],
            update_fields=[
                "controls_total", "applicable", "passing", "failing", "missing", "excepted", "not_assessed",
                "automated", "manual", "unmapped", "coverage", "control_status", "computed_at",
            ],
        )  # fmt: skip
        fields = ["results_applicable", "results_failing", "results_missing", "computed_at"]
        if end is None:
            fields += [
                "prod_deployments", "prod_deployments_with_provenance", "evidence_kinds", "evidence_kinds_fresh",
                "gate_blocked_subjects",
            ]  # fmt: skip
        SystemMetricSnapshot.objects.bulk_create(
            metric_rows, update_conflicts=True, unique_fields=["day", "system"], update_fields=fields
        )
    return len(coverage_rows)


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
