"""Full-text search (PostgreSQL) over whatever apps register, always within what the user may see.

A target names a scoped queryset (the app's own `*_list_for_user` selector, so scoping
holds), the text columns that make its search vector, and how to show a hit. Each
target's vector has a GIN expression index (migrations of this app), built from the same
`search_vector()` so the planner uses it. Controls and exceptions register theirs when
their apps land: `register(SearchTarget(...))`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db.models import QuerySet

CONFIG = "simple"  # identifiers, URIs and digests: no stemming, no stop words


@dataclass(frozen=True)
class SearchTarget:
    key: str
    label: str
    fields: tuple[str, ...]
    queryset_for_user: Callable[..., QuerySet]
    title: Callable[[object], str]
    detail: Callable[[object], str] = lambda obj: ""

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


def search_for_user(*, user, text: str, kinds: list[str] | None = None, limit: int = 25) -> list[Hit]:
    """Hits for a web-search style query ("a b", "\"exact phrase\"", "-not") across targets, best first."""
    text = (text or "").strip()[:200]
    if not text:
        return []
    query = SearchQuery(text, search_type="websearch", config=CONFIG)
    hits: list[Hit] = []
    for key, target in TARGETS.items():
        if kinds and key not in kinds:
            continue
        vector = target.vector()
        rows = (
            target.queryset_for_user(user)
            .annotate(search=vector)
            .filter(search=query)
            .annotate(rank=SearchRank(vector, query))
            .order_by("-rank", "-pk")[:limit]
        )
        for obj in rows:
            hits.append(Hit(key, target.label, target.title(obj), target.detail(obj), obj.get_absolute_url(), obj.rank))
    hits.sort(key=lambda h: h.rank, reverse=True)
    return hits[: limit * 2]
