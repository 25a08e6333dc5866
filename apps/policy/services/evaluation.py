"""`policy_evaluate()`: facts, rules, and the only writer of results and their history."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from apps.evidence.models import Artifact, EvidenceSubject
from apps.inventory.models import System
from apps.ledger.services import ledger_record_many
from apps.policy import facts as facts_mod
from apps.policy.engine import prepare_facts
from apps.policy.mappings import result_flows
from apps.policy.models import (
    Control,
    ControlResult,
    ControlResultChange,
    EvaluatedSubject,
    PendingEvaluation,
    ResultStatus,
    RuleVersion,
    worst_status,
)
from apps.policy.oscal import control_ref
from apps.policy.providers import CoverageKey, covering_exception_ids
from apps.policy.rulesets import (
    RuleSetError,
    RuleSpec,
    evaluate_rules_bounded,
    rule_from_dict,
)
from apps.policy.tasks import coverage_snapshot as coverage_snapshot_task

logger = logging.getLogger(__name__)

BATCH = 200  # subjects per fact batch and per transaction
LOCK_BASE = 0x504F4C << 32  # advisory lock keys of evaluated subjects: LOCK_BASE + artifact id
SYSTEM_LOCK_BASE = 0x504F53 << 32  # ... and of system-scope evaluation: SYSTEM_LOCK_BASE + system id


# ---------------------------------------------------------------- exceptions hook


def exception_covers(keys: list[CoverageKey], at: datetime) -> dict[CoverageKey, int]:
    """The id of the approved, unexpired exception covering each result at `at`; uncovered keys left out.

    A key is (control_id, system_id, artifact_id): the Control's primary key, artifact_id None for
    a system-scope result. The exceptions app registers the provider (apps.policy.providers), so
    policy never imports it. Evaluation asks once per batch about every result that would be fail
    or missing (one query per provider, issue 22); a returned id makes the result "excepted" and
    is stored on it (ControlResult.exception_id).
    """
    return covering_exception_ids(keys, at)


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


# Compiled rule versions of this process, by RuleVersion id. A version never changes once stored (a
# rule's edit is a new version), so its compilation (CEL parsed and checked) can be kept; which
# version is current is read from the database on every call.
_COMPILED: dict[int, RuleSpec] = {}
_COMPILED_MAX = 5000


def _compiled(version: RuleVersion) -> RuleSpec:
    spec = _COMPILED.get(version.pk)
    if spec is None:
        spec = rule_from_dict(version.as_rule_dict(), where=f"rule {version.rule.key} v{version.version}", saving=False)
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[version.pk] = spec
    return spec


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
            spec = _compiled(version)
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
    everything = subject_ids is None and system_ids is None and rule_ids is None and as_of is None
    # Requests committed before a full evaluation starts are answered by it (apps.policy.services.pending).
    answered = list(PendingEvaluation.objects.values_list("pk", flat=True)) if everything else []
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
    if answered:
        PendingEvaluation.objects.filter(pk__in=answered).delete()
    if stats.changed:
        _schedule_snapshot(stats.changed_system_ids)
    return stats


def _schedule_snapshot(system_ids: set[int]) -> None:
    """Refresh today's rollups soon after results changed (debounced: one pending refresh at a time)."""

    def queue() -> None:
        try:
            if not cache.add("policy:snapshot-pending", 1, timeout=30):
                return
            coverage_snapshot_task.apply_async(countdown=5)
        except Exception:  # noqa: BLE001 - rollups catch up on the next beat run; never fail an evaluation for this
            logger.warning("could not queue a coverage snapshot refresh", exc_info=True)

    # After commit: inside a caller's transaction (policy_evaluate_pending), the snapshot must see these results.
    transaction.on_commit(queue)


def _lock_and_read_results(scope_ids, rule_ids, *, system_scope: bool) -> dict:
    """Take the batch's advisory locks, then read its stored results by (control, rule, scope id)."""
    with connection.cursor() as cursor:
        base = SYSTEM_LOCK_BASE if system_scope else LOCK_BASE
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s + x) FROM unnest(%s::bigint[]) AS x ORDER BY x",
            [base, sorted(scope_ids)],
        )
    if system_scope:
        existing_qs = ControlResult.objects.filter(system_id__in=scope_ids, artifact__isnull=True, rule_id__in=rule_ids)
    else:
        existing_qs = ControlResult.objects.filter(artifact_id__in=scope_ids, rule_id__in=rule_ids)
    # Plain tuples, not model instances: most results come out unchanged, and building an instance per
    # stored result was a third of an evaluation's CPU; the changed ones become instances when written.
    rows = (_Stored(*values) for values in existing_qs.values_list(*_Stored._fields))
    return {(r.control_id, r.rule_id, r.artifact_id if not system_scope else r.system_id): r for r in rows}


class _Stored(NamedTuple):
    """A stored result, as far as comparing and rewriting it needs."""

    pk: int
    control_id: int
    rule_id: int
    artifact_id: int | None
    system_id: int
    status: str
    reason: str
    message: str
    evidence_ids: list[int]
    rule_version_id: int
    exception_id: int | None


def _scope(scope_id, *, system_scope: bool, artifacts) -> tuple[int, int | None]:
    """(system id, artifact id) of one evaluated scope: a system, or an artifact of a system."""
    if system_scope:
        return scope_id, None
    return artifacts[scope_id].system_id, scope_id


def _coverage(scope_ids, rules, outcome_of, *, system_scope: bool, artifacts, now) -> dict[CoverageKey, int]:
    """Ask the coverage providers once about every result of the batch that would fail or be missing."""
    keys: list[CoverageKey] = []
    for scope_id in scope_ids:
        system_id, artifact_id = _scope(scope_id, system_scope=system_scope, artifacts=artifacts)
        for rule_index, r in enumerate(rules):
            outcome = outcome_of.get((rule_index, scope_id))
            if outcome is None or _status_of(outcome)[0] not in (ResultStatus.FAIL, ResultStatus.MISSING):
                continue
            keys += [(control_pk, system_id, artifact_id) for control_pk in r.control_ids]
    return exception_covers(keys, now) if keys else {}


def _covered(status, key: CoverageKey, coverage: dict[CoverageKey, int]) -> tuple[str, int | None]:
    """A failing or missing status becomes excepted (with the exception's id) when an exception covers it."""
    if status in (ResultStatus.FAIL, ResultStatus.MISSING):
        exc_id = coverage.get(key)
        if exc_id is not None:
            return ResultStatus.EXCEPTED, exc_id
    return status, None


def _result_unchanged(row, final, reason, message, evidence_ids, version, exc_id, system_id) -> bool:
    """Whether a stored result already says exactly this (then nothing is written)."""
    return (
        row.status == final
        and row.reason == reason
        and row.message == message
        and list(row.evidence_ids) == evidence_ids
        and row.rule_version_id == version.pk
        and row.exception_id == exc_id
        and row.system_id == system_id
    )


def _evaluated_subject(scope_id, system_id, artifact, prepared, statuses, gate_blocked, now) -> EvaluatedSubject:
    """The EvaluatedSubject row of one artifact: its worst applicable status and whether the gate blocks it."""
    applicable = [s for s in statuses if s != ResultStatus.NOT_APPLICABLE]
    return EvaluatedSubject(
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


def _record_changes(changes, *, rules, actor, now, stats) -> None:
    """History rows and a ledger entry `control_result.changed` for each new or changed result."""
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
    def entries():
        for row, previous in changes:
            version = rule_versions[row.rule_version_id]
            yield actor, "control_result.changed", row, {
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
            }
            stats.by_status[row.status] += 1
            stats.changed_system_ids.add(row.system_id)

    # One COPY for the batch's entries (the same bytes ledger_record() writes, one by one).
    ledger_record_many(entries())
    stats.changed += len(changes)


# One statement for a batch's changed results. Django's bulk_update builds a CASE WHEN per row and
# field (an evaluation that changed 15,000 results spent 25 of its 57 CPU seconds resolving them).
_UPDATE_RESULTS_SQL = """
UPDATE policy_controlresult r
SET status = v.status, reason = v.reason, message = v.message, evidence_ids = v.evidence_ids::bigint[],
    rule_version_id = v.rule_version_id, exception_id = v.exception_id, evaluated_at = v.evaluated_at,
    system_id = v.system_id
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::bigint[],
            %s::timestamptz[], %s::bigint[])
    AS v(id, status, reason, message, evidence_ids, rule_version_id, exception_id, evaluated_at, system_id)
WHERE r.id = v.id
"""


def _update_results(rows: list[ControlResult]) -> None:
    """Write the changed fields of these results (status, reason, message, evidence, rule version,
    exception, evaluation time, system) in one UPDATE."""
    with connection.cursor() as cursor:
        cursor.execute(
            _UPDATE_RESULTS_SQL,
            [
                [r.pk for r in rows],
                [r.status for r in rows],
                [r.reason for r in rows],
                [r.message for r in rows],
                ["{" + ",".join(str(int(e)) for e in r.evidence_ids) + "}" for r in rows],
                [r.rule_version_id for r in rows],
                [r.exception_id for r in rows],
                [r.evaluated_at for r in rows],
                [r.system_id for r in rows],
            ],
        )


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
        existing = _lock_and_read_results(scope_ids, rule_ids, system_scope=system_scope)
        coverage = _coverage(ordered, rules, outcome_of, system_scope=system_scope, artifacts=artifacts, now=now)
        new_rows: list[ControlResult] = []
        updated_rows: list[tuple[ControlResult, str]] = []
        subject_rows: list[EvaluatedSubject] = []
        for scope_id in scope_ids:
            prepared = prepared_by_scope.get(scope_id)
            if prepared is None:
                continue
            system_id, artifact_id = _scope(scope_id, system_scope=system_scope, artifacts=artifacts)
            statuses: list[str] = []
            gate_blocked = False
            for rule_index, r in enumerate(rules):
                outcome = outcome_of[(rule_index, scope_id)]
                stats.evaluated += 1
                status, reason = _status_of(outcome)
                message = outcome.message
                evidence_ids = sorted({int(x) for x in outcome.used if str(x).isdigit()})
                for control_pk in r.control_ids:
                    final, exc_id = _covered(status, (control_pk, system_id, artifact_id), coverage)
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
                    if _result_unchanged(row, final, reason, message, evidence_ids, r.version, exc_id, system_id):
                        continue  # unchanged: write nothing
                    changed = ControlResult(
                        pk=row.pk, control_id=row.control_id, rule_id=row.rule_id, artifact_id=row.artifact_id,
                        system_id=system_id, status=final, reason=reason, message=message,
                        evidence_ids=evidence_ids, rule_version=r.version, exception_id=exc_id, evaluated_at=now,
                    )  # fmt: skip
                    updated_rows.append((changed, row.status))
            if not system_scope:
                subject_rows.append(
                    _evaluated_subject(scope_id, system_id, artifacts[scope_id], prepared, statuses, gate_blocked, now)
                )
        if new_rows:
            ControlResult.objects.bulk_create(new_rows)
        if updated_rows:
            _update_results([r for r, _ in updated_rows])
        changes = [(row, "") for row in new_rows] + updated_rows
        if changes:
            _record_changes(changes, rules=rules, actor=actor, now=now, stats=stats)
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
