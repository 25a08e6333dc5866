"""Full-text search (PostgreSQL) over whatever apps register, always within what the user may see.

A target names a scoped queryset (the app's own `*_list_for_user` selector, so scoping
holds), the text columns that make its search vector, and how to show a hit. Each
target's vector has a GIN expression index (migrations of this app), built from the same
`search_vector()` so the planner uses it. Controls and exceptions register theirs when
their apps land: `register(SearchTarget(...))`.

A target may also search inside its objects (`content`, a ContentSource): evidence does, through
apps.search.content (test names, failure messages, rule ids, paths, purls, resource addresses). Its
matches join the target's candidates under the same scoping and bound, rank below title matches, and
the hit says where it matched (`matched_in`) with a short snippet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet

from apps.search.content import snippet, snippet_html

CONFIG = "simple"  # identifiers, URIs and digests: no stemming, no stop words


@dataclass(frozen=True)
class ContentSource:
    """Search inside a target's objects: `matching_ids(query, text)` is a subquery of matching ids (the
    target scopes it); `best(ids, query, text)` gives, per id, an object with `rank` (weighted below
    titles), `field` (what the hit shows as "matched in") and `value` (what the snippet is cut from)."""

    matching_ids: Callable[..., QuerySet]
    best: Callable[..., dict]


@dataclass(frozen=True)
class SearchTarget:
    key: str
    label: str
    fields: tuple[str, ...]
    queryset_for_user: Callable[..., QuerySet]
    title: Callable[[object], str]
    detail: Callable[[object], str] = lambda obj: ""
    content: ContentSource | None = None

    def vector(self) -> SearchVector:
        return search_vector(*self.fields)


def search_vector(*fields: str) -> SearchVector:
    return SearchVector(*fields, config=CONFIG)


TARGETS: dict[str, SearchTarget] = {}


def register(target: SearchTarget) -> SearchTarget:
    TARGETS[target.key] = target
    return target


@dataclass(frozen=True)
class Hit:
    kind: str
    kind_label: str
    title: str
    detail: str
    url: str
    rank: float
    matched_in: str = ""  # a content-only match: the field inside the object that matched ("" for the title)
    snippet: str = ""  # plain text around the match (escape it; `snippet_html` does)
    query: str = ""

    @property
    def snippet_html(self) -> str:
        return snippet_html(self.snippet, self.query)


# The bound on a search's cost (docs/architecture.md, "Search"):
# per target, only the CANDIDATES most recent matches (highest id) the user may see are ranked; a
# target with more matches reports "CANDIDATES+" instead of an exact count. Ranking means computing the
# text vector of each row again (the GIN index does not store it), so it is the part that must not grow.
CANDIDATES = 1000
PAGE_SIZE = 50  # as many as the page showed before it had pages


@dataclass(frozen=True)
class SearchResults:
    """One page of a search: `hits` best first; `count` ranked candidates over all kinds (each kind at
    most CANDIDATES), `capped` when some kind had more matches than that, so the true total is higher."""

    hits: list[Hit]
    count: int
    capped: bool
    page: int
    page_size: int

    @property
    def count_label(self) -> str:
        return f"{self.count:,}+" if self.capped else f"{self.count:,}"

    @property
    def cap(self) -> int:
        return CANDIDATES

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // self.page_size))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.num_pages

    @property
    def previous_page_number(self) -> int:
        return self.page - 1

    @property
    def next_page_number(self) -> int:
        return self.page + 1


def _query(text: str) -> SearchQuery | None:
    text = (text or "").strip()[:200]
    return SearchQuery(text, search_type="websearch", config=CONFIG) if text else None


def _candidate_ids(target: SearchTarget, user, query: SearchQuery, text: str) -> tuple[list[int], bool, set[int]]:
    """Ids of the newest matches of one target within what the user may see (at most CANDIDATES), whether
    there were more, and which of them matched by their title vector (the others matched inside).

    Scoping comes first (the target's selector), the bound after it, so an auditor's candidates are
    always their own. The matches are fenced in a subquery (`OFFSET 0` keeps PostgreSQL from pulling it
    up): planned on their own they come from the GIN index, a bitmap scan that reads only ids and never
    computes a text vector; left to see the LIMIT, the planner walks the primary key backwards (or the
    table) and computes the vector of every row it passes, which is what made search grow."""
    scoped = target.queryset_for_user(user).order_by()  # a default ordering would sort every match for nothing
    titled = _newest(scoped.annotate(search=target.vector()).filter(search=query).values("pk"))
    ids = titled
    if target.content is not None:  # matches inside the objects, under the same scoping and the same bound
        inside = _newest(scoped.filter(pk__in=target.content.matching_ids(query, text)).values("pk"))
        ids = sorted(set(titled) | set(inside), reverse=True)
    return ids[:CANDIDATES], len(ids) > CANDIDATES, set(titled)


def _newest(qs: QuerySet) -> list[int]:
    """The newest CANDIDATES + 1 ids of a `values("pk")` queryset, its matches fenced (see _candidate_ids)."""
    try:
        sql, params = qs.query.sql_with_params()
    except EmptyResultSet:  # nothing the user may see (an auditor without an open engagement)
        return []
    with connections[qs.db].cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM ({sql} OFFSET 0) AS matches ORDER BY 1 DESC LIMIT %s",  # noqa: S608 - Django's SQL
            (*params, CANDIDATES + 1),
        )
        return [row[0] for row in cursor.fetchall()]


Ranked = tuple[float, str, int, object]  # (rank, kind, id, content match or None)


def _ranked(user, query: SearchQuery, text: str, kinds: list[str] | None) -> tuple[list[Ranked], bool]:
    """(rank, kind, id, content match) of every candidate of every target, best first; among equal ranks,
    targets in registration order (as before), then newest first. A content match adds its (lower) rank."""
    ranked: list[Ranked] = []
    capped = False
    for key, target in TARGETS.items():
        if kinds and key not in kinds:
            continue
        ids, more, titled = _candidate_ids(target, user, query, text)
        capped = capped or more
        if not ids:
            continue
        model = target.queryset_for_user(user).model
        rows = model.objects.filter(pk__in=ids).annotate(rank=SearchRank(target.vector(), query))
        title_ranks = dict(rows.values_list("pk", "rank"))
        inside = target.content.best(ids, query, text) if target.content is not None else {}
        for pk in ids:
            match = inside.get(pk)
            # ts_rank scores the words a vector has even when the query does not match it: count it only
            # for a title match. A content-only match shows where it matched; a title match needs no snippet.
            title_rank = title_ranks.get(pk, 0.0) if pk in titled else 0.0
            if match is None:
                ranked.append((title_rank, key, pk, None))
            else:
                ranked.append((title_rank + match.rank, key, pk, None if pk in titled else match))
    order = {key: i for i, key in enumerate(TARGETS)}
    ranked.sort(key=lambda r: (-r[0], order[r[1]], -r[2]))
    return ranked, capped


def _hits(user, ranked: list[Ranked], text: str) -> list[Hit]:
    """Hits for (rank, kind, id, match) rows, in their order; objects are read again through the scoped selector."""
    by_kind: dict[str, list[int]] = {}
    for _rank, key, pk, _match in ranked:
        by_kind.setdefault(key, []).append(pk)
    objects = {}
    for key, ids in by_kind.items():
        for obj in TARGETS[key].queryset_for_user(user).filter(pk__in=ids):
            objects[key, obj.pk] = obj
    hits = []
    for rank, key, pk, match in ranked:
        obj = objects.get((key, pk))
        if obj is not None:
            target = TARGETS[key]
            where = (match.field, snippet(match.value, text)) if match is not None else ("", "")
            title, detail, url = target.title(obj), target.detail(obj), obj.get_absolute_url()
            hits.append(Hit(key, target.label, title, detail, url, rank, *where, text))
    return hits


def search_page_for_user(
    *, user, text: str, kinds: list[str] | None = None, page: int = 1, page_size: int | None = None
) -> SearchResults:
    """One page of hits for a web-search style query ("a b", "\"exact phrase\"", "-not") across targets."""
    page_size = page_size or PAGE_SIZE
    text = (text or "").strip()[:200]
    query = _query(text)
    if query is None:
        return SearchResults([], 0, False, page, page_size)
    ranked, capped = _ranked(user, query, text, kinds)
    start = (page - 1) * page_size
    return SearchResults(_hits(user, ranked[start : start + page_size], text), len(ranked), capped, page, page_size)


def search_all_for_user(*, user, text: str, kinds: list[str] | None = None, chunk: int = 500):
    """Every ranked candidate as hits, best first (the CSV export), read chunk by chunk."""
    text = (text or "").strip()[:200]
    query = _query(text)
    if query is None:
        return
    ranked, _capped = _ranked(user, query, text, kinds)
    for start in range(0, len(ranked), chunk):
        yield from _hits(user, ranked[start : start + chunk], text)


def search_for_user(*, user, text: str, kinds: list[str] | None = None, limit: int = 50) -> list[Hit]:
    """The first `limit` hits, best first (see search_page_for_user)."""
    return search_page_for_user(user=user, text=text, kinds=kinds, page=1, page_size=limit).hits
