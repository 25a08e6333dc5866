"""What goes into a pack: the evidence, control results, exceptions, lineage and ledger entries of a scope.

`pack_content()` reads everything through the owning apps' scoping (`scope_evidence`,
`scope_by_system`, the exceptions and lineage selectors) as the requester, so a pack never
holds more than its requester may see on the screen. It returns plain data the print
templates and the manifest both read; the PDF and the ZIP can never disagree on the list.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

from django.db.models import Q
from django.utils import timezone

from apps.accounts.scoping import scope_by_system, scope_evidence
from apps.engagements.models import Engagement, EvidenceRequestItem, SampleItem
from apps.engagements.populations import POPULATIONS
from apps.engagements.selectors import engagement_list_for_user, review_list, sample_list
from apps.evidence.lineage import ReleaseChain, lineage_walk, release_chains
from apps.evidence.lineage.svg import LineageRenderError, lineage_svg
from apps.evidence.models import Artifact, Evidence
from apps.exceptions.models import ExceptionRequest
from apps.exceptions.selectors import approvals_of, exception_queryset_for_user
from apps.inventory.selectors import system_list_for_user
from apps.packs.models import ScopeKind
from apps.packs.scope import Scope
from apps.policy.models import STATUS_ORDER, ControlResult, ControlResultChange, ResultStatus, worst_status

logger = logging.getLogger(__name__)

# Lineage drawn per scope artifact: how far upstream, how many drawings at most.
LINEAGE_DEPTH = 8
LINEAGE_MAX_DRAWINGS = 3
# Releases whose chain the lineage section lists (newest first).
RELEASE_CHAIN_ROWS = 40
# Artifacts upstream of a release that the pack collects evidence about (the walk's page size).
LINEAGE_MAX_ARTIFACTS = 5000

# Raw evidence file extension by parser, when the upload's own file name has none.
FORMAT_EXTENSIONS = {
    "junit": ".xml",
    "sarif": ".sarif",
    "cyclonedx": ".json",
    "spdx": ".json",
    "intoto": ".json",
    "dsse": ".json",
    "slsa": ".json",
    "model-card": ".md",
    "github": ".json",
    "gitlab": ".json",
    "openlineage": ".json",
    "mlflow": ".json",
    "oci": ".json",
}


@dataclass
class EvidenceItem:
    """One evidence row as the pack shows it, with the raw file it was parsed from."""

    id: int
    title: str
    kind: str
    format: str
    verdict: str
    verdict_reason: str
    source: str
    system: str
    subject: str
    effective_at: datetime
    received_at: datetime
    sha256: str
    extension: str
    facts: list[tuple[str, str]]
    controls: list[str] = field(default_factory=list)
    system_slug: str = ""
    # Working-paper links (the ZIP's index): evidence requests answered with it, sample items that drew it.
    requests: list[str] = field(default_factory=list)
    sample_items: list[str] = field(default_factory=list)

    def readable_name(self, digits: int = 8) -> str:
        """`2026-11-03 sast-scan payments-api 3f2a1b0c….sarif`: day, kind, system, start of the sha256."""
        kind = _slug(self.kind) or "evidence"
        system = _slug(self.system_slug) or "no-system"
        return f"{self.effective_at:%Y-%m-%d} {kind} {system} {self.sha256[:digits]}…{self.extension}"

    def folders(self) -> list[str]:
        """A folder per control it supports (its controls' labels), or `other-evidence`."""
        return [_folder(label) for label in self.controls] or ["other-evidence"]

    @property
    def file_name(self) -> str:
        """Its raw file in the ZIP: in the folder of its first control, with a readable name."""
        return f"{self.folders()[0]}/{self.readable_name()}"


@dataclass
class ControlBlock:
    """A control of the scope: its worst status, each rule's result, and the evidence behind them."""

    control_id: str
    label: str
    title: str
    framework: str
    status: str
    results: list[dict]
    evidence_ids: list[int]

    @property
    def anchor(self) -> str:
        return "control-" + "".join(ch if ch.isalnum() else "-" for ch in self.control_id)


@dataclass
class PackContent:
    scope: Scope
    systems: list
    evidence: dict[int, EvidenceItem]
    controls: list[ControlBlock]
    exceptions: list[dict]
    lineage: list[dict]
    ledger_condition: Q
    figures: dict
    # Engagement packs only: the auditors' review marks and samples (engagement_record()).
    engagement: dict | None = None
    # Statuses are those at this time (the end of the period, read from the results' history), or
    # None: the period has not ended, and they are those current when the pack was built.
    as_of: datetime | None = None
    # Provenance per release: its chain and the links it is missing (_release_chains()).
    release_chains: list[ReleaseChain] = field(default_factory=list)

    @property
    def unlinked_evidence(self) -> list[EvidenceItem]:
        return [item for item in self.evidence.values() if not item.controls]


def _slug(text: str) -> str:
    return "-".join(part for part in "".join(ch if ch.isalnum() else "-" for ch in (text or "").lower()).split("-")
                    if part)


def _folder(label: str) -> str:
    """A control label as a folder name: no path separators, nothing hidden."""
    name = "".join("-" if ch in '/\\:*?"<>|' or ord(ch) < 32 else ch for ch in label).strip(" .")
    return name or "control"


def _facts(summary: dict, limit: int = 8) -> list[tuple[str, str]]:
    """The key parsed facts of an evidence summary: scalar values first, short."""
    out = []
    for key, value in (summary or {}).items():
        if isinstance(value, (dict, list)):
            if isinstance(value, list) and value and all(isinstance(v, (str, int, float)) for v in value):
                text = ", ".join(str(v) for v in value[:6]) + (" …" if len(value) > 6 else "")
            else:
                continue
        else:
            text = str(value)
        out.append((str(key).replace("_", " "), text[:160]))
        if len(out) >= limit:
            break
    return out


def _extension(filename: str, fmt: str) -> str:
    suffix = PurePosixPath(filename or "").suffix.lower()
    if suffix and len(suffix) <= 12 and suffix[1:].replace("-", "").isalnum():
        return suffix
    return FORMAT_EXTENSIONS.get(fmt, ".bin")


def _in_period(qs, scope: Scope, field_name: str = "effective_at"):
    if scope.period_start:
        qs = qs.filter(**{f"{field_name}__gte": scope.period_start})
    if scope.period_end:
        qs = qs.filter(**{f"{field_name}__lt": scope.period_end})
    return qs


def _scope_systems(user, scope: Scope):

    systems = system_list_for_user(user=user)
    if scope.kind == ScopeKind.SYSTEM:
        return list(systems.filter(slug=scope.params["system"]))
    if scope.kind == ScopeKind.ENGAGEMENT:
        return list(systems.filter(engagements__pk=scope.params["engagement"]).distinct())
    if scope.kind == ScopeKind.ARTIFACT:
        artifact = Artifact.objects.filter(pk=scope.params["artifact"]).first()
        return list(systems.filter(pk=artifact.system_id)) if artifact and artifact.system_id else []
    return []  # a framework's systems are those with results for it (pack_content)


def _lineage_artifacts(user, artifact_id: int) -> list[int]:

    ids = [artifact_id]
    after = ""
    while len(ids) < LINEAGE_MAX_ARTIFACTS:
        walk = lineage_walk(user=user, artifact_id=artifact_id, direction="upstream", depth=50, after=after)
        ids += [node.id for node in walk.nodes if node.id != artifact_id]
        if not walk.next_after:
            break
        after = walk.next_after
    return ids


def _results(user, scope: Scope, systems: list, artifact_ids: list[int]):
    qs = ControlResult.objects.select_related("control", "control__framework", "rule", "rule_version", "artifact")
    qs = scope_by_system(user, qs)
    if scope.kind == ScopeKind.ARTIFACT:
        system_ids = [s.pk for s in systems]
        qs = qs.filter(Q(artifact_id__in=artifact_ids) | Q(artifact__isnull=True, system_id__in=system_ids))
    elif scope.kind == ScopeKind.FRAMEWORK:
        qs = qs.filter(control__framework__code=scope.params["framework"])
    else:
        qs = qs.filter(system_id__in=[s.pk for s in systems])
        if scope.kind == ScopeKind.ENGAGEMENT:

            frameworks = Engagement.objects.filter(pk=scope.params["engagement"]).values_list("frameworks", flat=True)
            codes = next(iter(frameworks), []) or []
            if codes:
                qs = qs.filter(control__framework__code__in=codes)
    qs = qs.order_by("control__framework__code", "control__order")
    as_of = _as_of(scope)
    if as_of is None:
        return list(qs.exclude(status=ResultStatus.NOT_APPLICABLE))
    return [r for r in _results_as_of(list(qs), as_of) if r.status != ResultStatus.NOT_APPLICABLE]


def _as_of(scope: Scope) -> datetime | None:
    """The time the pack's statuses are read at: the end of its period, when that has passed."""
    if scope.period_end is not None and scope.period_end <= timezone.now():
        return scope.period_end
    return None


def _results_as_of(results: list[ControlResult], end: datetime) -> list[ControlResult]:
    """Each result as it stood at `end`: its latest change before then (ControlResultChange, append-only).
    A result with no change before `end` did not exist yet and is left out. The rows are not saved."""

    latest: dict[int, ControlResultChange] = {}
    ids = [r.pk for r in results]
    for start in range(0, len(ids), 5000):
        changes = (
            ControlResultChange.objects.filter(result_id__in=ids[start:start + 5000], changed_at__lt=end)
            .order_by("result_id", "-changed_at", "-id").distinct("result_id").select_related("rule_version")
        )
        latest.update({c.result_id: c for c in changes})
    out = []
    for result in results:
        change = latest.get(result.pk)
        if change is None:
            continue
        result.status, result.reason = change.status, change.reason
        result.evidence_ids, result.exception_id = list(change.evidence_ids), change.exception_id
        result.rule_version, result.evaluated_at = change.rule_version, change.changed_at
        out.append(result)
    return out


def _evidence_queryset(user, scope: Scope, systems: list, artifact_ids: list[int], referenced: set[int]):
    base = scope_evidence(user, Evidence.objects.all())
    system_ids = [s.pk for s in systems]
    if scope.kind == ScopeKind.ARTIFACT:
        qs = base.filter(Q(subject_links__artifact_id__in=artifact_ids) | Q(pk__in=list(referenced)))
    else:
        # Only the scope's systems' evidence: a result on a subject another system shares may name that
        # system's evidence (facts pick the newest evidence about a subject), which is not this scope's.
        qs = base.filter(system_id__in=system_ids)
        if scope.kind == ScopeKind.FRAMEWORK:
            qs = qs.filter(pk__in=list(referenced))
    if scope.kind != ScopeKind.ARTIFACT:
        qs = _in_period(qs, scope)
    ids = qs.values("pk").distinct()
    return (
        Evidence.objects.filter(pk__in=ids)
        .select_related("source", "system", "subject", "receipt")
        .only(
            "id", "title", "kind", "format", "verdict", "verdict_reason", "summary", "effective_at", "received_at",
            "sha256", "source__name", "system__name", "system__slug", "subject__uri", "subject__name",
            "receipt__filename",
        )
        .order_by("effective_at", "id")
    )


def exception_register(
    *, user, scope: Scope, systems: list, control_ids: set[int], artifact_ids: list[int]
) -> list[dict]:
    """The exceptions of the scope with their approvals (decisions, approvers, times) and expiries.

    Read through apps.exceptions' own selectors, so drafts and other systems stay hidden exactly
    as on the exceptions pages."""

    qs = exception_queryset_for_user(user=user).exclude(status=ExceptionRequest.Status.DRAFT)
    if scope.kind == ScopeKind.FRAMEWORK:
        qs = qs.filter(control__framework__code=scope.params["framework"])
    else:
        qs = qs.filter(system_id__in=[s.pk for s in systems])
    if scope.kind == ScopeKind.ARTIFACT:
        qs = qs.filter(Q(artifact__isnull=True) | Q(artifact_id__in=artifact_ids))
    if scope.period_start:
        # An exception belongs to a period when it was alive in it: not ended before it started.
        qs = qs.filter(Q(ended_at__isnull=True) | Q(ended_at__gte=scope.period_start))
    if scope.period_end:
        qs = qs.filter(created_at__lt=scope.period_end)
    register = []
    for req in qs.order_by("control__framework__code", "control__order", "pk"):
        approvals = [
            {
                "approver": a.approver.get_full_name() or a.approver.username,
                "slot": a.get_slot_display(),
                "decision": a.get_decision_display(),
                "at": a.at,
                "version": a.request_version,
                "comment": a.comment,
                "voided": a.voided_at is not None,
            }
            for a in approvals_of(req)
        ]
        register.append(
            {
                "id": req.pk,
                "reference": req.reference,
                "control": f"{req.control.label} {req.control.title}",
                "control_id": req.control.control_id,
                "system": req.system.name,
                "artifact": (req.artifact.name or req.artifact.uri) if req.artifact_id else "whole system",
                "status": req.get_status_display(),
                "status_code": req.status,
                "tier": req.get_tier_display(),
                "requested_by": req.requested_by.get_full_name() or req.requested_by.username,
                "created_at": req.created_at,
                "decided_at": req.decided_at,
                "expires_at": req.expires_at,
                "justification": req.justification,
                "compensating_controls": req.compensating_controls,
                "approvals": approvals,
                "in_scope_controls": req.control_id in control_ids,
            }
        )
    return register


def _lineage_drawings(user, scope: Scope, systems: list) -> list[dict]:
    """Up to three vector drawings: the scope's release, or each system's latest release or deployment."""

    roots: list[Artifact] = []
    if scope.kind == ScopeKind.ARTIFACT:
        roots = list(Artifact.objects.filter(pk=scope.params["artifact"]))
    else:
        for system in systems[:LINEAGE_MAX_DRAWINGS]:
            qs = _in_period(
                Artifact.objects.filter(system=system, kind__in=[Artifact.Kind.DEPLOYMENT, Artifact.Kind.RELEASE]),
                scope,
                "first_seen",
            )
            latest = qs.order_by("-first_seen", "-id").first()
            if latest:
                roots.append(latest)
    drawings = []
    for root in roots[:LINEAGE_MAX_DRAWINGS]:
        try:
            svg = lineage_svg(root, "upstream", LINEAGE_DEPTH, user=user)
        except LineageRenderError as exc:
            drawings.append({"title": root.name or root.uri, "uri": root.uri, "svg": "", "error": str(exc)})
            continue
        drawings.append({"title": root.name or root.uri, "uri": root.uri, "svg": svg, "error": ""})
    return drawings


def _release_chains(user, scope: Scope, systems: list, artifact_ids: list[int]) -> list[ReleaseChain]:
    """The chains of the scope's releases: those upstream of a release or deployment pack's artifact,
    else the systems' releases first seen in the period (newest first, at most RELEASE_CHAIN_ROWS)."""
    releases = Artifact.objects.filter(kind=Artifact.Kind.RELEASE)
    if scope.kind == ScopeKind.ARTIFACT:
        releases = releases.filter(pk__in=artifact_ids)
    else:
        releases = _in_period(releases.filter(system__in=systems), scope, "first_seen")
    return release_chains(user=user, releases=list(releases.order_by("-first_seen", "-id")[:RELEASE_CHAIN_ROWS]))


def pack_content(*, user, scope: Scope, pack_id: int | None = None) -> PackContent:
    """Everything a pack of `scope` holds, as `user` (the requester) may see it now."""
    systems = _scope_systems(user, scope)
    artifact_ids: list[int] = []
    if scope.kind == ScopeKind.ARTIFACT:
        artifact_ids = _lineage_artifacts(user, scope.params["artifact"])

    results = _results(user, scope, systems, artifact_ids)
    if scope.kind == ScopeKind.FRAMEWORK:

        systems = list(system_list_for_user(user=user).filter(pk__in={r.system_id for r in results}))
    referenced = {int(e) for r in results for e in r.evidence_ids}
    evidence: dict[int, EvidenceItem] = {}
    for ev in _evidence_queryset(user, scope, systems, artifact_ids, referenced).iterator(chunk_size=2000):
        evidence[ev.pk] = EvidenceItem(
            id=ev.pk,
            title=ev.title,
            kind=ev.kind,
            format=ev.format,
            verdict=ev.verdict,
            verdict_reason=ev.verdict_reason,
            source=ev.source.name,
            system=ev.system.name if ev.system_id else "",
            system_slug=ev.system.slug if ev.system_id else "",
            subject=(ev.subject.name or ev.subject.uri) if ev.subject_id else "",
            effective_at=ev.effective_at,
            received_at=ev.received_at,
            sha256=ev.sha256,
            extension=_extension(ev.receipt.filename, ev.format),
            facts=_facts(ev.summary),
        )

    by_control: dict[int, list[ControlResult]] = defaultdict(list)
    for result in results:
        by_control[result.control_id].append(result)
    controls = []
    for rows in by_control.values():
        control = rows[0].control
        evidence_ids = sorted({int(e) for r in rows for e in r.evidence_ids if int(e) in evidence})
        for ev_id in evidence_ids:
            evidence[ev_id].controls.append(control.label)
        controls.append(
            ControlBlock(
                control_id=control.control_id,
                label=control.label,
                title=control.title,
                framework=control.framework.title,
                status=worst_status(r.status for r in rows),
                results=[
                    {
                        "rule": r.rule.key,
                        "rule_title": r.rule_version.title,
                        "version": r.rule_version.version,
                        "subject": (r.artifact.name or r.artifact.uri) if r.artifact_id else "the system",
                        "status": r.status,
                        "reason": r.reason,
                        "message": r.message,
                        "exception": f"EX-{r.exception_id}" if r.exception_id else "",
                        "evaluated_at": r.evaluated_at,
                    }
                    for r in sorted(rows, key=lambda r: (STATUS_ORDER[r.status], r.rule.key))
                ],
                evidence_ids=evidence_ids,
            )
        )

    _working_paper_links(user, evidence)
    exceptions = exception_register(
        user=user, scope=scope, systems=systems, control_ids={r.control_id for r in results}, artifact_ids=artifact_ids
    )
    lineage = _lineage_drawings(user, scope, systems)
    chains = _release_chains(user, scope, systems, artifact_ids)
    engagement = engagement_record(scope.params["engagement"]) if scope.kind == ScopeKind.ENGAGEMENT else None

    # The ledger entries of the scope: what happened to its evidence, systems, results, exceptions and this pack.
    condition = (
        Q(object_type="evidence.evidence", object_id__in=[str(i) for i in evidence])
        | Q(object_type="inventory.system", object_id__in=[str(s.pk) for s in systems])
        | Q(object_type="policy.controlresult", object_id__in=[str(r.pk) for r in results])
        | Q(object_type="exceptions.exceptionrequest", object_id__in=[str(e["id"]) for e in exceptions])
    )
    if pack_id is not None:
        condition |= Q(object_type="packs.pack", object_id=str(pack_id))
    if engagement is not None:  # each sample's draw and test results (review marks are on their evidence)
        condition |= Q(object_type="engagements.sample", object_id__in=[str(x["id"]) for x in engagement["samples"]])

    status_counts = Counter(c.status for c in controls)
    applicable = sum(status_counts.values())
    covered = status_counts[ResultStatus.PASS] + status_counts[ResultStatus.EXCEPTED]
    figures = {
        "evidence": len(evidence),
        "verdicts": Counter(item.verdict for item in evidence.values()),
        "kinds": Counter(item.kind for item in evidence.values()).most_common(8),
        "controls": applicable,
        "control_status": [(s, ResultStatus(s).label, status_counts.get(s, 0)) for s in STATUS_ORDER
                           if s != ResultStatus.NOT_APPLICABLE],
        "coverage": (covered / applicable) if applicable else None,
        "exceptions": Counter(e["status"] for e in exceptions),
        "systems": len(systems),
        "timeline": _timeline(evidence.values()),
    }
    return PackContent(
        scope=scope,
        systems=systems,
        evidence=evidence,
        controls=controls,
        exceptions=exceptions,
        lineage=lineage,
        ledger_condition=condition,
        figures=figures,
        engagement=engagement,
        as_of=_as_of(scope),
        release_chains=chains,
    )


def _working_paper_links(user, evidence: dict[int, EvidenceItem]) -> None:
    """Fill each item's evidence requests (answered with it) and sample items (that drew it), from the
    engagements the requester may see, for the ZIP's index."""

    engagements = engagement_list_for_user(user=user).order_by().values("pk")
    ids = list(evidence)
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        answers = (
            EvidenceRequestItem.objects.filter(evidence_id__in=chunk, request__engagement__in=engagements)
            .select_related("request").order_by("request_id", "id")
        )
        for answer in answers:
            label = f"R-{answer.request_id} {answer.request.control_ref}: {answer.request.title}"
            if label not in evidence[answer.evidence_id].requests:
                evidence[answer.evidence_id].requests.append(label)
        drawn = SampleItem.objects.filter(
            object_type="evidence.evidence", object_id__in=[str(i) for i in chunk], sample__engagement__in=engagements
        ).order_by("sample_id", "position")
        for item in drawn:
            evidence[int(item.object_id)].sample_items.append(
                f"S-{item.sample_id} #{item.position} {item.get_result_display()}")


def engagement_record(engagement_id: int) -> dict:
    """The engagement's own record for its pack: every review mark (with its comment) and every sample
    (seed, population, its size and digest, the drawn items and each item's test result).

    This is the auditors' work within the engagement, not data of the systems: whoever may request
    the engagement's pack (its auditors while it is open, compliance officers) may read all of it."""

    engagement = Engagement.objects.get(pk=engagement_id)

    def who(user) -> str:
        return (user.get_full_name() or user.username) if user else ""

    reviews = [
        {
            "evidence_id": r.evidence_id,
            "title": r.evidence.title,
            "system": r.evidence.system.name if r.evidence.system_id else "",
            "mark": r.mark,
            "mark_label": r.get_mark_display(),
            "comment": r.comment,
            "reviewer": who(r.reviewer),
            "reviewed_at": r.reviewed_at,
        }
        for r in review_list(engagement=engagement).order_by("reviewed_at", "id")
    ]
    samples = []
    for sample in sample_list(engagement=engagement).order_by("drawn_at", "id"):
        population = POPULATIONS.get(sample.population)
        items = [
            {
                "position": i.position,
                "key": f"{i.object_type}:{i.object_id}",
                "label": i.label,
                "result": i.result,
                "result_label": i.get_result_display(),
                "note": i.note,
                "tested_by": who(i.tested_by),
                "tested_at": i.tested_at,
            }
            for i in sample.items.select_related("tested_by").order_by("position")
        ]
        samples.append(
            {
                "id": sample.pk,
                "population": sample.population,
                "population_label": population.label if population else sample.population,
                "population_size": sample.population_size,
                "population_digest": sample.population_digest,
                "size": sample.size,
                "seed": sample.seed,
                "drawn_by": who(sample.drawn_by),
                "drawn_at": sample.drawn_at,
                "results": Counter(i["result"] for i in items),
                "untested": SampleItem.Result.UNTESTED,
                "items": items,
            }
        )
    return {
        "id": engagement.pk,
        "name": engagement.name,
        "reviews": reviews,
        "review_marks": Counter(r["mark"] for r in reviews),
        "samples": samples,
    }


def _timeline(items) -> list[tuple[str, int]]:
    """Evidence per month (effective time), oldest first: the summary's line chart."""
    months = Counter(f"{item.effective_at:%Y-%m}" for item in items)
    return sorted(months.items())
