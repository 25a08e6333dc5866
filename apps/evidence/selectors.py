"""Reads of evidence and artifacts, scoped to what the user may see."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.accounts.scoping import is_scoped_auditor, scope_by_system, scope_evidence
from apps.evidence.lineage import scope_lineage_edges
from apps.evidence.models import Artifact, Evidence, EvidenceRecord, EvidenceSubject, LineageEdge
from apps.formats import ParseError, normalize_subject
from apps.inventory.models import System

LIST_FIELDS_DEFERRED = ("summary", "verdict_reason")


@dataclass(frozen=True)
class EvidenceFilters:
    """The browser's and the API's filters (both doors parse into this)."""

    systems: tuple[str, ...] = ()  # slugs: evidence of any of them
    kind: str = ""
    verdict: str = ""
    subject: str = ""  # an identity (normalized before matching) or part of one
    source: int | None = None
    artifact: int | None = None
    since: date | datetime | None = None  # on effective_at, inclusive
    until: date | datetime | None = None  # on effective_at; a date includes that whole day
    control: str = ""  # a control id (e.g. soc2-cc7-1): the evidence its current results used


# The evidence layer knows no controls (policy is above it): the policy app registers, from its
# ready(), a function control_id -> a queryset of the ids of the evidence that control's results used.
_CONTROL_EVIDENCE: list[Callable[[str], QuerySet]] = []


def evidence_control_filter_register(evidence_ids_of_control: Callable[[str], QuerySet]) -> None:
    """Let `?control=` filter evidence (called from the policy app's ready())."""
    _CONTROL_EVIDENCE[:] = [evidence_ids_of_control]


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


def filter_systems_for_user(*, user) -> QuerySet[System]:
    """The systems a filter menu may offer the user, by name."""
    return scope_by_system(user, System.objects.all(), "id").order_by("name")


def filter_sources_for_user(*, user) -> QuerySet:
    """The sources a filter menu may offer the user, by name: all, or for an auditor those that sent
    evidence the auditor sees (one index probe per source, not a scan of the evidence)."""
    # ingest.Source, reached through Evidence.source: ingest is the layer above evidence.
    sources = Evidence._meta.get_field("source").related_model.objects.all()
    if is_scoped_auditor(user):
        sources = sources.filter(Exists(_visible_evidence(user).filter(source_id=OuterRef("pk"))))
    return sources.order_by("name")


def evidence_list_for_user(*, user, filters: EvidenceFilters = EvidenceFilters()) -> QuerySet[Evidence]:
    """Evidence the user may see, filtered, newest effective time first, ready for a list page."""
    qs = _visible_evidence(user).select_related("system", "source", "subject").defer(*LIST_FIELDS_DEFERRED)
    if filters.systems:
        # Slugs are resolved to ids first: on `system_id = <id>` PostgreSQL knows how many rows
        # the system has and walks evidence_system_effective; through a join on slug it guesses, and
        # for an auditor at 1M rows it sorted every row of the system instead (docs/architecture.md).
        system_ids = list(System.objects.filter(slug__in=filters.systems).values_list("id", flat=True))
        if not system_ids:
            return qs.none()
        qs = qs.filter(system_id=system_ids[0]) if len(system_ids) == 1 else qs.filter(system_id__in=system_ids)
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
    if filters.control:
        if not _CONTROL_EVIDENCE:
            return qs.none()
        qs = qs.filter(pk__in=_CONTROL_EVIDENCE[0](filters.control))
    if filters.since:
        qs = qs.filter(effective_at__gte=_start(filters.since))
    if filters.until:
        qs = qs.filter(effective_at__lt=_end(filters.until))
    return qs.order_by("-effective_at", "-id")


# ---------------------------------------------------------------- the browser's pages (keyset)
#
# The evidence browser pages by keyset ("older than this row", "newer than this row") on the
# list's own order (-effective_at, -id), never by OFFSET, and counts only up to a cap: the cost of a
# page does not grow with the table, nor with how far back one reads (docs/architecture.md,
# "Evidence browser at scale").

COUNT_CAP = 10_000
_CURSOR = re.compile(r"^(-?\d{1,19})\.(\d{1,19})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class BadCursor(ValueError):
    """A page cursor that is not one this module wrote."""


@dataclass(frozen=True)
class Cursor:
    """A position in the list: the (effective_at, id) of a row."""

    at: datetime
    pk: int

    def __str__(self) -> str:
        # "<microseconds since 1970>.<id>": exact (no float, no time zone text) and URL-safe.
        return f"{(self.at - _EPOCH) // timedelta(microseconds=1)}.{self.pk}"

    @classmethod
    def of(cls, evidence: Evidence) -> Cursor:
        return cls(evidence.effective_at, evidence.pk)

    @classmethod
    def parse(cls, text: str) -> Cursor:
        match = _CURSOR.match(text or "")
        if not match:
            raise BadCursor(f"{text[:40]!r} is not a page cursor (expected <microseconds>.<id>)")
        try:
            return cls(_EPOCH + timedelta(microseconds=int(match[1])), int(match[2]))
        except OverflowError:
            raise BadCursor(f"{text[:40]!r} is out of range") from None


def _older_than(c: Cursor) -> Q:
    # `effective_at <= t` alone is an index range (the scan starts at the cursor); the OR only
    # separates rows that share the cursor's timestamp, by id.
    return Q(effective_at__lte=c.at) & (Q(effective_at__lt=c.at) | Q(pk__lt=c.pk))


def _newer_than(c: Cursor) -> Q:
    return Q(effective_at__gte=c.at) & (Q(effective_at__gt=c.at) | Q(pk__gt=c.pk))


@dataclass(frozen=True)
class EvidencePage:
    """One page of the browser: its rows, whether there are newer/older ones, and a bounded count."""

    items: list[Evidence]
    newer: Cursor | None  # pass as ?before= for the page of newer rows; None on the newest page
    older: Cursor | None  # pass as ?after= for the page of older rows; None on the oldest page
    count: int  # exact when below COUNT_CAP, else COUNT_CAP
    count_capped: bool  # True: at least COUNT_CAP rows match ("10,000+")
    first: bool  # no cursor: the newest page

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_other_pages(self) -> bool:
        return self.newer is not None or self.older is not None or not self.first


def evidence_count_bounded(qs: QuerySet[Evidence], cap: int | None = None) -> tuple[int, bool]:
    """How many rows match, counted up to `cap` (COUNT_CAP): (count, capped). Never a COUNT(*) over the table."""
    cap = COUNT_CAP if cap is None else cap
    n = qs.order_by().values("pk")[: cap + 1].count()  # SELECT COUNT(*) FROM (... LIMIT cap+1)
    return (cap, True) if n > cap else (n, False)


def evidence_page_for_user(
    *,
    user,
    filters: EvidenceFilters = EvidenceFilters(),
    after: Cursor | None = None,
    before: Cursor | None = None,
    size: int = 50,
    oldest_first: bool = False,
) -> EvidencePage:
    """A page of evidence_list_for_user(): the first, the one after `after` or before `before` in list order.

    The list is newest first, or oldest first with `oldest_first`; either way a page is one index range."""
    if after is not None and before is not None:
        raise BadCursor("give either 'after' or 'before', not both")
    ahead, behind = (_newer_than, _older_than) if oldest_first else (_older_than, _newer_than)
    forward = ("effective_at", "id") if oldest_first else ("-effective_at", "-id")
    backward = tuple(f[1:] if f.startswith("-") else f"-{f}" for f in forward)
    qs = evidence_list_for_user(user=user, filters=filters).order_by(*forward)
    if before is not None:
        # The page before the cursor: walk the index the other way from it, then show it in list order.
        rows = list(qs.filter(behind(before)).order_by(*backward)[: size + 1])
        more_newer = len(rows) > size
        items = rows[:size][::-1]
        more_older = bool(items) and qs.filter(ahead(Cursor.of(items[-1]))).exists()
    else:
        rows = list((qs.filter(ahead(after)) if after is not None else qs)[: size + 1])
        more_older = len(rows) > size
        items = rows[:size]
        more_newer = after is not None and bool(items) and qs.filter(behind(Cursor.of(items[0]))).exists()
    # An empty page (a cursor past either end) links to neither side; the template offers "Newest".
    count, capped = evidence_count_bounded(qs)
    return EvidencePage(
        items=items,
        newer=Cursor.of(items[0]) if more_newer and items else None,
        older=Cursor.of(items[-1]) if more_older and items else None,
        count=count,
        count_capped=capped,
        first=after is None and before is None,
    )


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


_KINDS_SQL = """
WITH RECURSIVE kinds(kind) AS (
    (SELECT kind FROM evidence_evidence ORDER BY kind LIMIT 1)
    UNION ALL
    SELECT (SELECT e.kind FROM evidence_evidence e WHERE e.kind > kinds.kind ORDER BY e.kind LIMIT 1)
    FROM kinds WHERE kinds.kind IS NOT NULL
)
SELECT kind FROM kinds WHERE kind IS NOT NULL LIMIT %s
"""


def evidence_kinds(limit: int = 100) -> list[str]:
    """The distinct kinds of evidence, for the browser's filter.

    A loose index scan on evidence_kind_effective (one index probe per kind), not SELECT DISTINCT,
    which reads the whole table (~150 ms at 1M rows)."""
    with connection.cursor() as cursor:
        cursor.execute(_KINDS_SQL, [limit])
        return [row[0] for row in cursor.fetchall()]


def evidence_kinds_for_user(*, user, limit: int = 100) -> list[str]:
    """The kinds the browser's Kind menu offers: every kind, or for an auditor the kinds of the evidence
    in their scope (a distinct over that scope only, which the engagement windows keep small)."""
    if not is_scoped_auditor(user):
        return evidence_kinds(limit)
    return list(_visible_evidence(user).order_by("kind").values_list("kind", flat=True).distinct()[:limit])


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

    upstream, downstream = artifact.upstream_edges.all(), artifact.downstream_edges.all()
    if user is not None:
        upstream, downstream = scope_lineage_edges(user, upstream), scope_lineage_edges(user, downstream)
    return {
        "upstream": list(upstream.select_related("source").order_by("relation", "source__uri")[:limit]),
        "downstream": list(downstream.select_related("target").order_by("relation", "target__uri")[:limit]),
    }


def evidence_counting(evidence: Evidence) -> tuple[bool, str]:
    """(counts, why not) for one piece of evidence, for the system of what it is about.

    The rule of apps.ingest.binding (counted_sql) for one row; the admin's allowance is read
    through Source.allowances (ingest is the layer above evidence)."""
    subject = evidence.subject
    system = subject.system if subject is not None else evidence.system
    if system is None:
        return False, "not counted: what it is about belongs to no system (send it with a system, see the README)"
    source = evidence.source
    if source.system_id == system.pk:
        return True, ""
    if source.system_id:
        return False, (
            f"not counted for {system.slug}: source {source.name!r} is bound to system {source.system.slug}"
        )
    if source.allowances.filter(system_id=system.pk).exists():
        return True, ""
    return False, (
        f"not counted for {system.slug}: source {source.name!r} is bound to no system and no admin allowed it "
        f"for {system.slug}"
    )


def evidence_disposal(evidence: Evidence):
    """The retention app's Disposal of the evidence's raw body, or None.

    Read through the reverse one-to-one (Receipt.disposal) rather than an import: retention is a
    layer above evidence. A receipt without one raises RelatedObjectDoesNotExist, an AttributeError."""
    return getattr(evidence.receipt, "disposal", None)
