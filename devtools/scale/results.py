"""Scale generator, step 3: control results, exceptions, rollups and the ledger."""

import math
import random
from collections import defaultdict
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.exceptions.models import ExceptionRequest
from apps.exceptions.services import exception_metrics_snapshot
from apps.exceptions.tiers import Slot, tier_policy
from apps.ledger.models import LedgerEntry
from apps.ledger.services import ledger_checkpoint, ledger_integrate_all, ledger_record_many
from apps.policy.models import Control, ControlResult, Framework, RuleVersion
from apps.policy.services import coverage_snapshot_days
from devtools.scale.exceptions_bulk import BulkException, exception_bulk_create
from devtools.scale.forked import forked_map, processes_for
from devtools.scale.shapes import (
    EXCEPTION_STATES,
    _pick,
    _reason,
)

# Planned results per transaction (and per job of a forked process).
RESULT_CHUNK = 100_000
# Worst first: a subject's worst status is the lowest of its results.
_STATUS_ORDER = {"fail": 0, "missing": 1, "excepted": 2, "pass": 3}


def _selects(v, system, kind: str, env: str) -> bool:
    """Whether rule version `v`'s selector picks this subject (an artifact kind, or "system")."""
    sel = v.selector or {}
    if sel.get("artifact_kinds") and kind not in sel["artifact_kinds"]:
        return False
    if not sel.get("artifact_kinds") and kind != "system":
        return False
    if sel.get("tiers") and system.risk_tier not in sel["tiers"]:
        return False
    if sel.get("system_kinds") and system.kind not in sel["system_kinds"]:
        return False
    if sel.get("data_classes") and not set(sel["data_classes"]) & set(system.data_classes):
        return False
    if sel.get("frameworks") and not set(sel["frameworks"]) & set(system.frameworks):
        return False
    return not (sel.get("environments") and env not in sel["environments"])


class ResultSteps:
    """Steps of the generator run (generator._Run) that write results, exceptions, rollups and the ledger."""

    def results(self) -> None:
        """Control results of the current rules on releases, deployments, model versions and systems."""

        versions = list(RuleVersion.objects.filter(current_of__isnull=False).select_related("rule"))
        shipped = Control.objects.filter(framework__origin=Framework.Origin.SHIPPED)  # ids repeat across imports
        control_pk = dict(shipped.values_list("control_id", "pk"))
        # Subjects the demo's real evaluation judged already keep their results.
        judged = set(ControlResult.objects.values_list("system_id", "artifact_id").distinct())
        subjects = self._unjudged_subjects(judged)
        planned, gate_blocked, worst = self._plan_results(subjects, versions, control_pk)
        self.lap("results planned")
        # Exceptions on failing system-wide or release results; approved unexpired ones cover them.
        failing = [r for r in planned if r[4] in ("fail", "missing")]
        self.rng.shuffle(failing)
        created = self._exceptions(failing)
        covering = {
            (e.control_id, e.system_id): e.pk
            for e in created
            if e.status == ExceptionRequest.Status.APPROVED and e.expires_at > self.now
        }
        for r in planned:
            exc = covering.get((r[0], r[2].pk))
            if exc and r[4] in ("fail", "missing"):
                r[4] = "excepted"
                r.append(exc)
            else:
                r.append(None)
        self._write_results(planned, subjects, gate_blocked, worst)

    def _unjudged_subjects(self, judged: set) -> list[tuple]:
        """(artifact uri | None, system, kind, env, first_seen) of every subject not judged yet."""
        sys_by_pk = {s.pk: s for s in self.systems}
        subjects = []
        for kind in ("release", "deployment", "model-version"):
            for uri, sid, seen in self.by_kind.get(kind, []):
                if (sid, self.artifact_ids[uri]) not in judged:
                    subjects.append((uri, sys_by_pk[sid], kind, self.deployments_env.get(uri, ""), seen))
        for s in self.systems:
            if (s.pk, None) not in judged:
                subjects.append((None, s, "system", "", self.now - timedelta(days=300)))
        return subjects

    def _plan_results(self, subjects, versions, control_pk) -> tuple[list[list], dict[str, bool], dict[str, str]]:
        """(result rows [control pk, version, system, artifact uri, status, at, evidence ids], gate-blocked
        subjects, worst status per subject): each selecting rule version draws one status per subject."""
        rng, now = self.rng, self.now
        planned = []
        gate_blocked: dict[str, bool] = {}
        worst: dict[str, str] = {}
        for uri, system, kind, env, seen in subjects:
            health = self.health[system.pk]
            for v in versions:
                if not _selects(v, system, kind, env):
                    continue
                x = rng.random()
                status = "pass" if x < health else ("fail" if x < health + (1 - health) * 0.55 else "missing")
                at = min(now, seen + timedelta(hours=rng.randint(1, 48)))
                ev = self.evidence_of.get(uri, [])[:2] if uri and status != "missing" else []
                for cid in v.controls:
                    if cid in control_pk:
                        planned.append([control_pk[cid], v, system, uri, status, at, ev])
                if not uri:
                    continue
                if status != "pass" and v.mode == "gate":
                    gate_blocked[uri] = True
                if _STATUS_ORDER[status] < _STATUS_ORDER.get(worst.get(uri, "pass"), 3):
                    worst[uri] = status
                else:
                    worst.setdefault(uri, status)
        return planned, gate_blocked, worst

    def _exceptions(self, failing) -> list:
        rng, now = self.rng, self.now
        controls = Control.objects.in_bulk({r[0] for r in failing})
        policy = tier_policy()
        executives = list(User.objects.filter(groups__name="exception_executive"))
        items, seen_pairs = [], set()
        for control_pk, _v, system, _uri, _status, _at, ev in failing:
            if len(items) >= self.spec.exceptions:
                break
            if (control_pk, system.pk) in seen_pairs:
                continue
            seen_pairs.add((control_pk, system.pk))
            status = _pick(rng, EXCEPTION_STATES)
            likelihood, impact = rng.randint(1, 5), rng.randint(1, 5)
            tier = policy.tier_for(likelihood, impact)
            created = now - timedelta(days=rng.uniform(1, 300))
            engineers = list(system.engineering_owners.all())
            requester = rng.choice(engineers) if engineers else self.admin
            decided = created + timedelta(hours=rng.uniform(2, 24 * 10))
            if status == "approved":
                expires = now + timedelta(days=rng.uniform(1, 80))
            elif status == "expired":
                expires = min(now - timedelta(hours=1), decided + timedelta(days=rng.uniform(5, 90)))
            else:
                expires = max(now + timedelta(days=2), created + timedelta(days=rng.uniform(10, 90)))
            if status == "expired" and expires <= decided:
                decided = expires - timedelta(hours=1)
            decisions = []
            if status in ("approved", "expired", "revoked", "rejected"):
                chain = list(policy.rule(tier).chain)
                used = {requester.pk}
                for n, slot in enumerate(chain):
                    if slot == Slot.SYSTEM_RISK_OWNER:
                        pool = list(system.risk_owners.all())
                    elif slot == Slot.COMPLIANCE_OFFICER:
                        pool = self.compliance
                    else:
                        pool = executives or self.compliance
                    pool = [p for p in pool if p.pk not in used]
                    if not pool:
                        break
                    who = rng.choice(pool)
                    used.add(who.pk)
                    last = n == len(chain) - 1
                    decision = "reject" if status == "rejected" and last else "approve"
                    decisions.append((who, slot, decision, decided - timedelta(hours=(len(chain) - n) * 3)))
                if not decisions:
                    status = "pending"
            items.append(
                BulkException(
                    control=controls[control_pk],
                    system=system,
                    requested_by=requester,
                    justification="Remediation is planned for the next release train; the residual risk is accepted "
                    "until then because the affected path is internal only.",
                    compensating_controls="Weekly manual review of access logs by the security team and alerting on "
                    "anomalous reads.",
                    likelihood=likelihood,
                    impact=impact,
                    expires_at=expires,
                    status=status,
                    created_at=created,
                    evidence_ids=ev,
                    decisions=decisions,
                    revoked_by=self.compliance[0] if status == "revoked" else None,
                    revoke_reason="Compensating control no longer in place." if status == "revoked" else "",
                    ended_at=(
                        now - timedelta(hours=1)
                        if status == "revoked"
                        else expires
                        if status == "expired"
                        else decided
                        if status == "rejected"
                        else None
                    ),
                )
            )
        made = exception_bulk_create(items, actor="system:generate_scale") if items else []
        tally: dict[str, int] = defaultdict(int)
        for e in made:
            tally[e.status] += 1
        self.counts.exceptions_by_status = dict(tally)
        self.lap("exceptions (exception_bulk_create)")
        return made

    def _write_results(self, planned, subjects, gate_blocked, worst) -> None:
        parts = math.ceil(len(planned) / RESULT_CHUNK)

        def write_part(k: int) -> int:
            return self._results_part(k, planned[k * RESULT_CHUNK : (k + 1) * RESULT_CHUNK])

        changes = sum(forked_map(write_part, parts, processes=self.spec.processes))
        self.say(f"  control results: {parts} parts written by {processes_for(parts, self.spec.processes)} processes")
        rng, ids = self.rng, self.artifact_ids
        with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(
            "COPY policy_evaluatedsubject (artifact_id, system_id, kind, environment, "
            "provenance_complete, worst_status, gate_blocked, first_seen, evaluated_at) FROM STDIN"
        ) as copy:
            for uri, system, kind, env, seen in subjects:
                if uri is None:
                    continue
                copy.write_row(
                    (
                        ids[uri],
                        system.pk,
                        kind,
                        env,
                        rng.random() < 0.85,
                        worst.get(uri, "pass"),
                        gate_blocked.get(uri, False),
                        seen,
                        self.now,
                    )
                )
        self.counts.results = len(planned)
        self.counts.result_changes = changes
        self.lap("control results, history and subjects (COPY)")

    def _results_part(self, k: int, part: list) -> int:
        """The k-th part of the planned results with their history and ledger entries, in one transaction
        (a random source of its own, as for evidence chunks). Returns how many changes it wrote."""
        rng, ids = random.Random(f"{self.spec.seed}:results:{k}"), self.artifact_ids
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('policy_controlresult', 'id')) FROM generate_series(1, %s)",
                [len(part)],
            )
            rids = [r[0] for r in cursor.fetchall()]
            changes, entries = [], []
            raw = cursor.cursor
            with raw.copy(
                "COPY policy_controlresult (id, control_id, rule_id, rule_version_id, system_id, "
                "artifact_id, status, reason, message, evidence_ids, exception_id, evaluated_at) FROM STDIN"
            ) as copy:
                for rid, (control_pk, v, system, uri, status, at, ev, exc) in zip(rids, part, strict=True):
                    reason = _reason(v.rule.key, status)
                    aid = ids[uri] if uri else None
                    # No plain-language message: pages fall back to the reason (a pass has none either way).
                    copy.write_row((rid, control_pk, v.rule_id, v.pk, system.pk, aid, status, reason, "", ev, exc, at))
                    history = []
                    if rng.random() < 0.25:  # it changed once: a fix or a regression, some days later
                        before = "fail" if status in ("pass", "excepted") else "pass"
                        history.append((before, "", at - timedelta(days=rng.uniform(1, 40))))
                    history.append((status, history[0][0] if history else "", at))
                    for st, prev, when in history:
                        changes.append(
                            (rid, control_pk, v.rule_id, v.pk, system.pk, aid, st, prev, reason, "", ev, exc, when)
                        )
                        entries.append(
                            (
                                "system:policy_evaluate",
                                "control_result.changed",
                                ("policy.controlresult", rid),
                                {
                                    "control": control_pk,
                                    "rule": v.rule.key,
                                    "rule_version": v.version,
                                    "subject": uri or "",
                                    "system": system.pk,
                                    "from": prev,
                                    "to": st,
                                    "reason": reason,
                                    "evidence": [str(e) for e in ev],
                                    "exception": exc,
                                },
                            )
                        )
            with raw.copy(
                "COPY policy_controlresultchange (result_id, control_id, rule_id, rule_version_id, "
                "system_id, artifact_id, status, previous_status, reason, message, evidence_ids, exception_id, "
                "changed_at) FROM STDIN"
            ) as copy:
                for c in changes:
                    copy.write_row(c)
            ledger_record_many(entries)
        return len(changes)

    # ---- rollups, ledger

    def rollups(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        today = timezone.localdate()
        days = [today - timedelta(days=back) for back in range(self.spec.history_days)]
        # Each process takes every n-th day (alike in cost): disjoint days never write the same rollup rows.
        n = max(1, min(self.spec.processes, len(days)))
        written = sum(forked_map(lambda k: coverage_snapshot_days(days=days[k::n]), n, processes=n))
        exception_metrics_snapshot()
        self.counts.coverage_rows = written
        self.lap(f"rollups ({self.spec.history_days} days, coverage_snapshot_days)")

    def ledger(self) -> None:
        if self.spec.ledger:
            ledger_integrate_all()
            ledger_checkpoint()
        if not connection.in_atomic_block:
            # The pending queue just took millions of inserts and deletes: reclaim it now rather than
            # leave the next scans of the (normally tiny) table walking dead rows until autovacuum.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE ledger_pending")
                cursor.execute("ANALYZE")
        self.counts.ledger_entries = LedgerEntry.objects.count()
        self.lap("ledger sequenced and checkpointed")
