"""The release gate: may this subject ship, and which results block it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Q
from django.http import Http404

from apps.evidence.models import Artifact
from apps.formats import ParseError, normalize_subject
from apps.ingest.binding import counted_sql
from apps.policy.facts import INHERIT_RELATIONS, MAX_DEPTH
from apps.policy.models import (
    ControlResult,
    EvaluatedSubject,
    ResultStatus,
    RuleVersion,
)
from apps.policy.providers import gate_items

# ---------------------------------------------------------------- gate


@dataclass
class GateDecision:
    subject: Artifact
    allowed: bool
    failing: list[dict]
    warnings: list[dict]
    evaluated_at: datetime | None
    evaluated: bool
    # What-if only (gate_for_subject(assume_excepted=...)): items that fail now but were counted as excepted.
    assumed_excepted: list[dict] = field(default_factory=list)


def subject_get(subject: str) -> Artifact:
    """An artifact by id, or by its identity (normalized the way ingestion normalizes it)."""
    text = (subject or "").strip()
    if text.isdigit():
        artifact = Artifact.objects.filter(pk=int(text)).first()
        if artifact is not None:
            return artifact
    try:
        uri = normalize_subject(text).uri
    except ParseError:
        uri = text
    artifact = Artifact.objects.filter(Q(uri=uri) | Q(uri=text)).first()
    if artifact is None:
        raise Http404(f"no artifact {text[:200]!r} is known: send evidence about it first")
    return artifact


EVALUATION_PENDING = {
    "control": "",
    "rule": "evaluation-pending",
    "severity": "high",
    "mode": RuleVersion.Mode.GATE,
    "status": ResultStatus.MISSING,
    "reason": (
        "new evidence about this subject (or about what it was built from, or about its system as a whole) "
        "is accepted but not parsed or not evaluated yet: retry in a few seconds"
    ),
    "message": "New evidence about this subject is waiting to be evaluated: retry in a few seconds",
    "scope": "subject",
}

# The subject and what it inherits facts from (apps.policy.facts: the same relations and depth) in its
# own system; pending: an evaluation request about one of them or about the system as a whole, or an
# accepted upload naming one of them that no worker has parsed yet (uploads store the subject's
# normalized URI; apps.ingest.api), sent for this system or by a source whose evidence counts here.
_PENDING_SQL = """
WITH RECURSIVE up(artifact_id, depth, path) AS (
    SELECT %(id)s::bigint, 0, ARRAY[%(id)s::bigint]
  UNION ALL
    SELECT e.source_id, up.depth + 1, up.path || e.source_id
    FROM up JOIN evidence_lineageedge e ON e.target_id = up.artifact_id
    WHERE up.depth < %(max_depth)s AND e.relation = ANY(%(relations)s) AND e.source_id <> ALL(up.path)
),
own AS (
    SELECT a.id, a.uri FROM up JOIN evidence_artifact a ON a.id = up.artifact_id WHERE a.system_id = %(system)s
)
SELECT EXISTS (
    SELECT 1 FROM policy_pendingevaluation p
    WHERE p.artifact_id IN (SELECT id FROM own) OR p.system_id = %(system)s
) OR EXISTS (
    SELECT 1 FROM ingest_receipt r
    WHERE r.state IN ('queued', 'parsing') AND r.subject <> '' AND r.subject IN (SELECT uri FROM own)
      AND (r.system_id = %(system)s OR (r.system_id IS NULL AND COUNTED))
)
""".replace("COUNTED", counted_sql("r.source_id", "%(system)s"))


def evaluation_pending(artifact: Artifact) -> bool:
    """Whether evidence that changes this subject's results waits to be evaluated: a pending request
    about the subject, about an artifact of its system it inherits facts from, or about its system as a
    whole (evidence about no artifact). Not counted, so that nobody can hold a gate shut by keeping a
    request pending: requests about other artifacts of the same system (they change only its
    system-scope results, and under a steady stream of CI events one of them is nearly always pending),
    and about inputs of another system (a shared base image: its sources are not this system's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _PENDING_SQL,
            {"id": artifact.pk, "system": artifact.system_id, "max_depth": MAX_DEPTH, "relations": INHERIT_RELATIONS},
        )
        return bool(cursor.fetchone()[0])


def gate_for_subject(
    *, artifact: Artifact, environment: str = "", digest: str = "", assume_excepted: Collection[int] = ()
) -> GateDecision:
    """May this release or deployment proceed? Hard-gate rules that fail or miss evidence block it;
    the subject's own results count, and so do its system's system-scope results.

    `assume_excepted` (ControlResult ids) asks "what if": those results count as excepted, as an
    exception under decision would make them, and their items go to `assumed_excepted` instead."""
    condition = Q(artifact_id=artifact.pk)
    if artifact.system_id:
        condition |= Q(system_id=artifact.system_id, artifact__isnull=True)
    results = (
        ControlResult.objects.filter(condition)
        .exclude(status=ResultStatus.NOT_APPLICABLE)
        .select_related("control", "rule_version__rule")
        .order_by("control__control_id", "rule__key")
    )
    assume_excepted = set(assume_excepted)
    failing, warnings, assumed = [], [], []
    for r in results:
        if r.status not in (ResultStatus.FAIL, ResultStatus.MISSING):
            continue
        item = {
            "control": r.control.control_id,
            "rule": r.rule_version.rule.key,
            "severity": r.rule_version.severity,
            "mode": r.rule_version.mode,
            "status": r.status,
            "reason": r.reason,
            "message": r.message or r.reason,  # results stored before messages existed have none
            "scope": "subject" if r.artifact_id else "system",
        }
        if r.pk in assume_excepted:
            assumed.append(item)
            continue
        (failing if r.rule_version.mode == RuleVersion.Mode.GATE else warnings).append(item)
    # Registered providers (apps.policy.providers) add their items: release sign-off refuses a
    # classified release whose chain is not complete for the digest shipped.
    failing += gate_items(artifact=artifact, environment=environment, digest=digest)
    if evaluation_pending(artifact):
        failing.append(EVALUATION_PENDING)
    state = EvaluatedSubject.objects.filter(artifact=artifact).only("evaluated_at").first()
    return GateDecision(
        subject=artifact,
        allowed=not failing and state is not None,
        failing=failing,
        warnings=warnings,
        evaluated_at=state.evaluated_at if state else None,
        evaluated=state is not None,
        assumed_excepted=assumed,
    )


def gate_items_by_rule(items: list[dict]) -> list[dict]:
    """Gate items grouped by rule (rules in order of appearance), for pages: each group with its
    items (one per control and scope), the controls, and the first plain message."""
    groups: dict[str, dict] = {}
    for item in items:
        g = groups.setdefault(item["rule"], {"rule": item["rule"], "mode": item.get("mode", ""), "items": [],
                                             "controls": [], "message": ""})  # fmt: skip
        g["items"].append(item)
        g["message"] = g["message"] or item.get("message") or item.get("reason", "")
        if item["control"] and item["control"] not in g["controls"]:  # not-evaluated and pending items name none
            g["controls"].append(item["control"])
    return list(groups.values())
