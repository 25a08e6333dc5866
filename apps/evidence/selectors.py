"""Reads of evidence and artifacts, scoped to what the user may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.accounts.scoping import is_scoped_auditor, scope_evidence
from apps.evidence.models import Artifact, Evidence, EvidenceRecord, EvidenceSubject, LineageEdge
from apps.ingest.parsers import ParseError, normalize_subject

LIST_FIELDS_DEFERRED = ("summary", "verdict_reason")


@dataclass(frozen=True)
class EvidenceFilters:
    """The browser's and the API's filters (both doors parse into this)."""

    system: str = ""  # slug
    kind: str = ""
    verdict: str = ""
    subject: str = ""  # an identity (normalized before matching) or part of one
    source: int | None = None
    artifact: int | None = None
    since: date | datetime | None = None  # on effective_at, inclusive
    until: date | datetime | None = None  # on effective_at; a date includes that whole day


def _start(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    return timezone.make_aware(datetime.combine(value, time.min))


def _end(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return _start(value)
    return _start(value + timedelta(days=1))


def _visible_evidence(user) -> QuerySet[Evidence]:
    # The one scoping point of evidence: the browser, the detail page, the raw download and
    # the API all come through here (apps.accounts.scoping decides what a user may see).
    # An auditor sees each engagement's systems within that engagement's own observation window.
    return scope_evidence(user, Evidence.objects.all())


def evidence_list_for_user(*, user, filters: EvidenceFilters = EvidenceFilters()) -> QuerySet[Evidence]:
    """Evidence the user may see, filtered, newest effective time first, ready for a list page."""
    qs = _visible_evidence(user).select_related("system", "source", "subject").defer(*LIST_FIELDS_DEFERRED)
    if filters.system:
        qs = qs.filter(system__slug=filters.system)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.verdict:
        qs = qs.filter(verdict=filters.verdict)
    if filters.source:
        qs = qs.filter(source_id=filters.source)
    if filters.artifact:
        qs = qs.filter(Exists(EvidenceSubject.objects.filter(evidence=OuterRef("pk"), artifact_id=filters.artifact)))
    if filters.subject:
        text = filters.subject.strip()
        try:
            uri = normalize_subject(text).uri
        except ParseError:
            uri = text
        linked = Exists(EvidenceSubject.objects.filter(evidence=OuterRef("pk"), artifact__uri=uri))
        qs = qs.filter(linked | Q(subject__uri__icontains=text) | Q(subject__name__icontains=text))
    if filters.since:
        qs = qs.filter(effective_at__gte=_start(filters.since))
    if filters.until:
        qs = qs.filter(effective_at__lt=_end(filters.until))
    return qs.order_by("-effective_at", "-id")


def evidence_get_for_user(*, user, pk: int) -> Evidence:
    return get_object_or_404(_visible_evidence(user).select_related("system", "source", "subject", "receipt"), pk=pk)


def evidence_subjects(evidence: Evidence) -> list[EvidenceSubject]:
    return list(evidence.subject_links.select_related("artifact").order_by("role", "artifact__uri"))


def evidence_records(evidence: Evidence, *, limit: int = 200) -> tuple[list[dict], int]:
    """The first `limit` detail rows and how many there are."""
    rows = list(
        EvidenceRecord.objects.filter(evidence=evidence).order_by("ordinal").values_list("data", flat=True)[:limit]
    )
    total = len(rows) if len(rows) < limit else EvidenceRecord.objects.filter(evidence=evidence).count()
    return rows, total


def evidence_edges(evidence: Evidence, *, limit: int = 100) -> list[LineageEdge]:
    return list(LineageEdge.objects.filter(evidence=evidence).select_related("source", "target").order_by("id")[:limit])


def evidence_kinds() -> list[str]:
    return list(Evidence.objects.order_by("kind").values_list("kind", flat=True).distinct()[:100])


def artifact_list_for_user(*, user) -> QuerySet[Artifact]:
    """Artifacts the user may see: all of them, or for an auditor those that evidence they may see is about."""
    qs = Artifact.objects.select_related("system")
    if is_scoped_auditor(user):
        visible = EvidenceSubject.objects.filter(artifact=OuterRef("pk"), evidence__in=_visible_evidence(user))
        qs = qs.filter(Exists(visible))
    return qs


def artifact_get_for_user(*, user, pk: int) -> Artifact:
    return get_object_or_404(artifact_list_for_user(user=user), pk=pk)


def artifact_evidence_for_user(*, user, artifact: Artifact, limit: int = 50) -> list[Evidence]:
    """Evidence about the artifact (as primary subject or also), newest first."""
    return list(evidence_list_for_user(user=user, filters=EvidenceFilters(artifact=artifact.pk))[:limit])


def artifact_lineage(artifact: Artifact, *, user=None, limit: int = 100) -> dict[str, list[LineageEdge]]:
    """Direct neighbours: what it came from (upstream) and what came from it (downstream).

    With `user`, only the edges that user may follow (the lineage walks' rule; an auditor never
    sees a neighbour outside their engagements' systems and windows)."""
    from apps.evidence.lineage import scope_lineage_edges

    upstream, downstream = artifact.upstream_edges.all(), artifact.downstream_edges.all()
    if user is not None:
        upstream, downstream = scope_lineage_edges(user, upstream), scope_lineage_edges(user, downstream)
    return {
        "upstream": list(upstream.select_related("source").order_by("relation", "source__uri")[:limit]),
        "downstream": list(downstream.select_related("target").order_by("relation", "target__uri")[:limit]),
    }
