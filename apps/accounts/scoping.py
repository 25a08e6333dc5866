"""What a user may see: the one place every selector asks.

Every list and detail selector narrows its queryset with these functions, so that scoping
rules (today: everyone signed in sees every system; with audit engagements: an auditor sees
only the systems of an engagement whose access window is open, and only evidence effective
within its observation window) change in one place and hold on every page and endpoint.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

ALL = None  # "no restriction"


def visible_system_ids(user) -> set[int] | None:
    """Ids of the systems the user may see, or None when the user may see all of them."""
    if not getattr(user, "is_authenticated", False):
        return set()
    return ALL


def scope_by_system(user, queryset: QuerySet, system_field: str = "system") -> QuerySet:
    """Narrow a queryset to rows whose `system_field` is a system the user may see.

    Rows without a system (NULL) stay visible only to users who see everything."""
    ids = visible_system_ids(user)
    if ids is ALL:
        return queryset
    return queryset.filter(Q(**{f"{system_field}__in": ids}))


def effective_window(user) -> tuple | None:
    """(start, end) of the evidence time window the user may see, or None for no limit."""
    return None


def can_see_system(user, system_id: int | None) -> bool:
    ids = visible_system_ids(user)
    return ids is ALL or (system_id is not None and system_id in ids)
