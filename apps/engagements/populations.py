"""Populations an auditor can sample from: pluggable selectors, one function each.

A population selector takes an engagement and returns its items in a stable order (the
order is part of reproducibility: the same seed over the same ordered population draws the
same items). Other apps register theirs with `@population(...)`. A population may also
describe its drawn items (`describe=`): what it attaches is stored on each SampleItem when the
sample is drawn, so the auditor sees it at once and later reads what was there then.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Min, Q
from django.utils import timezone

from apps.evidence.models import Artifact, Evidence, EvidenceSubject, Verdict
from apps.exceptions.models import ExceptionRequest
from apps.policy.facts import subject_chains, subject_facts_batch
from apps.policy.models import ControlResult, ResultStatus
from apps.releases.models import ReleaseSignoff

PRODUCTION_ENVIRONMENTS = ("production", "prod", "Production", "PROD", "live")


@dataclass(frozen=True)
class PopulationItem:
    object_type: str
    object_id: str
    label: str

    @property
    def key(self) -> str:
        return f"{self.object_type}:{self.object_id}"


@dataclass(frozen=True)
class Population:
    key: str
    label: str
    select: Callable[..., list[PopulationItem]]
    # (engagement, drawn items) -> one JSON-able dict per item, in order; None: nothing attached
    describe: Callable[..., list[dict]] | None = None


POPULATIONS: dict[str, Population] = {}


def population(key: str, label: str, *, describe: Callable[..., list[dict]] | None = None):
    """Register a population selector under `key` (and what it attaches to a drawn item, if anything)."""

    def register(fn: Callable[..., list[PopulationItem]]):
        POPULATIONS[key] = Population(key=key, label=label, select=fn, describe=describe)
        return fn

    return register


def population_item_attributes(key: str, engagement, items: list[PopulationItem]) -> list[dict]:
    """What population `key` attaches to each of these drawn items ({} each when it attaches nothing)."""
    describe = POPULATIONS[key].describe
    return describe(engagement, items) if describe and items else [{} for _ in items]


def population_digest(items: list[PopulationItem]) -> str:
    """sha256 over the ordered item keys: proves which population a sample was drawn from."""
    return hashlib.sha256("\n".join(item.key for item in items).encode()).hexdigest()


def _evidence_in_scope(engagement):
    return Evidence.objects.filter(
        system__in=engagement.systems.all(),
        effective_at__gte=engagement.observation_start,
        effective_at__lt=engagement.observation_end,
    )


def _evidence_items(qs) -> list[PopulationItem]:
    return [
        PopulationItem("evidence.evidence", str(pk), f"{title} ({effective_at:%Y-%m-%d %H:%M})")
        for pk, title, effective_at in qs.order_by("effective_at", "id").values_list("pk", "title", "effective_at")
    ]


@population("production-deployments", "Production deployments in the observation window")
def production_deployments(engagement) -> list[PopulationItem]:
    return _evidence_items(
        _evidence_in_scope(engagement).filter(kind="deployment", summary__environment__in=PRODUCTION_ENVIRONMENTS)
    )


@population("all-evidence", "All evidence in the observation window")
def all_evidence(engagement) -> list[PopulationItem]:
    return _evidence_items(_evidence_in_scope(engagement))


@population("approved-exceptions", "All approved exceptions in the observation window")
def approved_exceptions(engagement) -> list[PopulationItem]:
    """Exceptions of the engagement's systems that were approved and in force at some time of the window.

    Approved before the window ends, and neither ended (expired, revoked) nor past their expiry
    before it starts; whatever their status is now (an exception since expired was still in force)."""

    qs = (
        ExceptionRequest.objects.filter(
            system__in=engagement.systems.all(),
            approved_at__isnull=False,
            approved_at__lt=engagement.observation_end,
            expires_at__gt=engagement.observation_start,
        )
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=engagement.observation_start))
        .select_related("control", "system")
        .order_by("approved_at", "id")
    )
    return [
        PopulationItem(
            "exceptions.exceptionrequest",
            str(req.pk),
            f"{req.reference} {req.control.label} on {req.system.name} (approved {req.approved_at:%Y-%m-%d}, "
            f"expires {req.expires_at:%Y-%m-%d})",
        )
        for req in qs
    ]


# ---------------------------------------------------------------- production changes

# What an auditor looks for on a production change, in this order (issue 21): evidence kinds the
# policy facts find along the change's lineage (apps.policy.facts), each with the label shown.
CHANGE_EVIDENCE = (
    ("test-report", "Tests"),
    ("sast-scan", "Code scan"),
    ("sbom", "SBOM"),
    ("provenance", "Provenance"),
    ("approval", "Approval"),
)


def _production_deployment_evidence(engagement):
    """Production deployment evidence of the engagement's systems in its window; a failed one changed nothing."""
    return (
        _evidence_in_scope(engagement)
        .filter(kind="deployment", summary__environment__in=PRODUCTION_ENVIRONMENTS)
        .exclude(verdict=Verdict.FAIL)
    )


def _change_times(engagement, artifact_ids=None) -> dict[int, datetime]:
    """Deployment artifact id -> when it first reached production in the window (its change time)."""
    rows = EvidenceSubject.objects.filter(
        evidence__in=_production_deployment_evidence(engagement), artifact__kind="deployment"
    )
    if artifact_ids is not None:
        rows = rows.filter(artifact_id__in=artifact_ids)
    return dict(rows.values("artifact_id").annotate(at=Min("evidence__effective_at")).values_list("artifact_id", "at"))


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _change_evidence(facts: dict, changed_at: datetime) -> list[dict]:
    """The CHANGE_EVIDENCE the policy facts found for one change; a kind not found says so (id None)."""
    found = (facts or {}).get("evidence", {})
    out = []
    for kind, label in CHANGE_EVIDENCE:
        fact = found.get(kind)
        if fact is None:
            out.append({"kind": kind, "label": label, "id": None})
            continue
        out.append(
            {
                "kind": kind,
                "label": label,
                "id": int(fact["id"]),
                "title": fact["title"],
                "verdict": fact["verdict"],
                "effective_at": _iso(fact["effective_at"]),
                "inherited": bool(fact["inherited"]),  # found on an upstream artifact (commit, image, release)
                "after_change": fact["effective_at"] > changed_at,  # recorded after it reached production
            }
        )
    return out


def _change_results(artifact_ids: list[int]) -> dict[int, list[dict]]:
    """The stored rule results of each change (not-applicable ones left out), by rule and control."""
    results: dict[int, list[dict]] = defaultdict(list)
    rows = (
        ControlResult.objects.filter(artifact_id__in=artifact_ids)
        .exclude(status=ResultStatus.NOT_APPLICABLE)
        .select_related("rule", "control")
        .order_by("rule__key", "control__control_id")
    )
    for r in rows:
        results[r.artifact_id].append(
            {
                "rule": r.rule.key,
                "control": r.control.label,
                "status": r.status,
                "message": r.message[:500],
                "exception": r.exception_id,
                "evaluated_at": _iso(r.evaluated_at),
            }
        )
    return results


def _change_signoffs(chains: dict[int, dict[int, int]]) -> dict[int, list[dict]]:
    """Release sign-offs of each change's own artifact and of what it was deployed from."""
    upstream = {a for chain in chains.values() for a in chain}
    signoffs = ReleaseSignoff.objects.filter(artifact_id__in=upstream).select_related("artifact").order_by("pk")
    out: dict[int, list[dict]] = defaultdict(list)
    for s in signoffs:
        for change_id, chain in chains.items():
            if s.artifact_id in chain:
                out[change_id].append(
                    {
                        "id": s.pk,
                        "artifact": s.artifact.uri,
                        "environment": s.environment,
                        "status": s.status,
                        "status_label": s.get_status_display(),
                        "decided_at": _iso(s.decided_at),
                    }
                )
    return out


def production_change_attributes(engagement, items: list[PopulationItem]) -> list[dict]:
    """Each drawn change with its linked evidence, sign-offs and rule results, as the portal knows them now.

    A bounded number of queries for the whole sample: the policy facts of all changes at once
    (the same lineage walk and source rules the policy evaluation uses), their stored results,
    their upstream chains and the sign-offs on them."""
    ids = [int(i.object_id) for i in items]
    artifacts = {a.pk: a for a in Artifact.objects.filter(pk__in=ids)}
    now = timezone.now()
    facts = subject_facts_batch([a for a in artifacts.values() if a.system_id], now=now)
    changed = _change_times(engagement, ids)
    results = _change_results(ids)
    signoffs = _change_signoffs(subject_chains(list(artifacts.values())))
    out = []
    for artifact_id in ids:
        artifact = artifacts.get(artifact_id)
        if artifact is None:  # never: artifacts are not deleted while evidence is about them
            out.append({})
            continue
        changed_at = changed.get(artifact_id, now)
        out.append(
            {
                "subject": {"id": artifact.pk, "kind": artifact.kind, "uri": artifact.uri},
                "changed_at": _iso(changed_at),
                "as_of": _iso(now),
                "evidence": _change_evidence(facts.get(artifact_id), changed_at),
                "signoffs": signoffs.get(artifact_id, []),
                "results": results.get(artifact_id, []),
            }
        )
    return out


@population(
    "production-changes",
    "Production changes in the observation window, with their evidence and rule results",
    describe=production_change_attributes,
)
def production_changes(engagement) -> list[PopulationItem]:
    """Each deployment that reached production in the window (first time there, then id), one item per change.

    A deployment reports several statuses (queued, in progress, success): it is one change, so
    the items are deployment artifacts, not deployment evidence."""
    changed = _change_times(engagement)
    names = dict(Artifact.objects.filter(pk__in=changed).values_list("pk", "uri"))
    ordered = sorted(changed.items(), key=lambda pair: (pair[1], pair[0]))
    return [
        PopulationItem("evidence.artifact", str(pk), f"{names[pk]} (in production {at:%Y-%m-%d %H:%M})")
        for pk, at in ordered
    ]
