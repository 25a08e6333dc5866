"""Server-side column sorting for list pages: `?sort=<col>` ascending, `?sort=-<col>` descending.

Each list declares the columns it may be sorted by (a whitelist): a URL key and what sorts it, either
the model fields to `order_by` (querysets) or a key function (lists built in Python). Anything else in
`?sort=` is ignored and the list keeps its default order: user input never reaches `order_by`. The
header links (`columns`) keep the page's other query parameters, drop its page position, and carry the
`aria-sort` state the template's `_sort_th.html` writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.db.models import Case, IntegerField, Value, When

# Page positions (numbered pages and keyset cursors): a new order starts at its first page.
_PAGE_KEYS = ("page", "after", "before")


@dataclass(frozen=True)
class SortHeader:
    """One sortable column header: the query of its link and its state for `aria-sort`."""

    query: str
    aria: str  # "ascending", "descending" or "" (not the sorted column)

    @property
    def arrow(self) -> str:
        return {"ascending": "▲", "descending": "▼"}.get(self.aria, "")


@dataclass(frozen=True)
class Sort:
    """The order a list page shows: which whitelisted column, which direction."""

    key: str
    descending: bool
    by: Any  # a tuple of model fields, or a key function
    columns: dict[str, SortHeader] = field(default_factory=dict)

    @property
    def value(self) -> str:
        return f"-{self.key}" if self.descending else self.key

    def order_by(self, tiebreak: str = "pk") -> list:
        """The `order_by` arguments: the column's fields (names or expressions) in this direction, then
        `tiebreak` (a stable page order)."""
        sign = "-" if self.descending else ""
        fields = [
            f"{sign}{f}" if isinstance(f, str) else (f.desc(nulls_last=True) if self.descending else f.asc())
            for f in self.by
        ]
        return [*fields, f"{sign}{tiebreak}"] if tiebreak else fields

    def apply(self, queryset, tiebreak: str = "pk"):
        return queryset.order_by(*self.order_by(tiebreak))

    def sorted(self, rows: Iterable) -> list:
        """Rows built in Python, sorted by the column's key function (stable: ties keep their order)."""
        return sorted(rows, key=self.by, reverse=self.descending)


def rank(field_name: str, values: Iterable[str]) -> Case:
    """An expression that sorts a choice field by the order of `values` (e.g. risk tiers by severity, not spelling)."""
    whens = [When(**{field_name: v}, then=Value(i)) for i, v in enumerate(values)]
    return Case(*whens, default=Value(len(whens)), output_field=IntegerField())


def sort_read(
    query: Mapping[str, str],
    columns: Mapping[str, tuple[str, ...] | Callable[[Any], Any]],
    *,
    default: str,
) -> Sort:
    """The order `?sort=` asks for if its column is in `columns`, else `default` (e.g. "-created")."""
    wanted = (query.get("sort") or "").strip()
    key = wanted.removeprefix("-")
    if key not in columns:
        wanted = default
        key = default.removeprefix("-")
    descending = wanted.startswith("-")
    return Sort(key=key, descending=descending, by=columns[key], columns=_headers(query, columns, key, descending))


def _headers(query, columns, current: str, descending: bool) -> dict[str, SortHeader]:
    base = query.copy() if hasattr(query, "copy") else dict(query)
    for k in (*_PAGE_KEYS, "sort"):
        base.pop(k, None)
    headers = {}
    for key in columns:
        if key == current:
            aria = "descending" if descending else "ascending"
            target = key if descending else f"-{key}"  # a second click reverses the order
        else:
            aria, target = "", key
        link = base.copy()
        link["sort"] = target
        headers[key] = SortHeader(query=link.urlencode() if hasattr(link, "urlencode") else urlencode(link), aria=aria)
    return headers
