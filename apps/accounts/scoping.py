"""What a user may see: the one place every selector asks.

Every list and detail selector narrows its queryset with these functions, so that scoping
rules change in one place and hold on every page and endpoint:

- An auditor (a user whose only role is auditor) sees exactly the systems of the audit
  engagements they belong to whose access window is open *now*, and of those systems only
  the evidence effective within that engagement's observation window. Nothing is cached
  across requests: when the access window closes, the very next request of an open session
  sees nothing.
- Every other signed-in role sees every system (their writes are limited by permissions).
- Anonymous users see nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.accounts.roles import Role

ALL = None  # "no restriction"


@dataclass(frozen=True)
class Grant:
    """What one open engagement lets an auditor see."""

    engagement_id: int
    system_ids: frozenset[int]
    observation_start: datetime
    observation_end: datetime
    access_end: datetime
    # Framework codes in scope: the engagement's own, or (none named) those its systems are in scope for.
    frameworks: frozenset[str] = frozenset()


def is_scoped_auditor(user) -> bool:
    """True for users whose access comes only from engagements (auditor role and no other)."""
    if not getattr(user, "is_authenticated", False) or user.is_superuser:
        return False
    return user.roles == frozenset({Role.AUDITOR})


# Grants are remembered on the user object (a request's own instance) for at most this long, so the
# several selectors of one page ask the database once; a grant whose window has closed is never reused.
_GRANT_CACHE_SECONDS = 1.0


def auditor_grants(user, *, now: datetime | None = None) -> list[Grant]:
    """The open engagements of an auditor, as grants, checked against the clock."""
    if now is not None:
        return _grants_from_db(user, now)
    now = timezone.now()
    cached = getattr(user, "_portal_grants", None)
    if cached is not None and time.monotonic() < cached[0] and all(g.access_end > now for g in cached[1]):
        return cached[1]
    grants = _grants_from_db(user, now)
    user._portal_grants = (time.monotonic() + _GRANT_CACHE_SECONDS, grants)
    return grants


def can_read_ledger(user) -> bool:
    """Admins and compliance officers read the ledger; an auditor only while an engagement is open."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser or user.has_role(Role.ADMIN, Role.COMPLIANCE_OFFICER):
        return True
    return user.has_role(Role.AUDITOR) and (not is_scoped_auditor(user) or bool(auditor_grants(user)))


def reads_whole_ledger(user) -> bool:
    """Everyone who may read the ledger reads every entry in full, except a scoped auditor."""
    return not is_scoped_auditor(user)


def forget_grants(user) -> None:
    """Drop the remembered grants (after opening or ending an engagement in the same request)."""
    user.__dict__.pop("_portal_grants", None)


# The open engagements of a user, as grants: (user, now) -> list[Grant]. Engagements live in a
# layer above accounts, so apps.engagements registers this from its ready(); without it, an
# auditor has no grant and sees nothing.
_grants_provider: list = []


def auditor_grants_provider_register(provider) -> None:
    """Set where auditor grants come from: provider(user, now) -> list[Grant] (apps.engagements)."""
    _grants_provider[:] = [provider]


def _grants_from_db(user, now: datetime) -> list[Grant]:
    return _grants_provider[0](user, now) if _grants_provider else []


def visible_system_ids(user) -> set[int] | None:
    """Ids of the systems the user may see, or None when the user may see all of them."""
    if not getattr(user, "is_authenticated", False):
        return set()
    if is_scoped_auditor(user):
        return set().union(*(g.system_ids for g in auditor_grants(user)))
    return ALL


def scope_by_system(user, queryset: QuerySet, system_field: str = "system") -> QuerySet:
    """Narrow a queryset to rows whose `system_field` is a system the user may see.

    Rows without a system (NULL) stay visible only to users who see everything."""
    ids = visible_system_ids(user)
    if ids is ALL:
        return queryset
    return queryset.filter(Q(**{f"{system_field}__in": ids}))


def scope_evidence(user, queryset: QuerySet, system_field: str = "system", time_field: str = "effective_at"):
    """Narrow evidence-like rows to (system, time) pairs the user may see.

    For an auditor this is the union, over their open engagements, of "a system of that
    engagement and effective within its observation window": evidence of system A is never
    shown for the window of an engagement that only covers system B."""
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    if not is_scoped_auditor(user):
        return queryset
    condition = Q(pk__in=[])
    for grant in auditor_grants(user):
        condition |= Q(
            **{
                f"{system_field}__in": grant.system_ids,
                f"{time_field}__gte": grant.observation_start,
                f"{time_field}__lt": grant.observation_end,
            }
        )
    return queryset.filter(condition)


def scope_interval(
    user, queryset: QuerySet, *, start_field: str, end_field: str, system_field: str = "system"
) -> QuerySet:
    """Narrow rows that live over a time span (start, end; NULL end: still alive) to those the user may see.

    For an auditor: the union, over their open engagements, of "a system of that engagement and
    alive at some point of its observation window" (started before the window ends, not ended
    before it starts) — exceptions, for example, pair with windows as evidence does."""
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    if not is_scoped_auditor(user):
        return queryset
    condition = Q(pk__in=[])
    for grant in auditor_grants(user):
        condition |= (
            Q(**{f"{system_field}__in": grant.system_ids, f"{start_field}__lt": grant.observation_end})
            & (Q(**{f"{end_field}__isnull": True}) | Q(**{f"{end_field}__gte": grant.observation_start}))
        )
    return queryset.filter(condition)


def visible_framework_codes(user) -> set[str] | None:
    """Codes of the frameworks whose controls the user works with, or None for all of them.

    An auditor works with the frameworks of their open engagements (each engagement's own list,
    or the frameworks of its systems when it names none)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    if is_scoped_auditor(user):
        return set().union(*(g.frameworks for g in auditor_grants(user)))
    return ALL


def effective_window(user) -> tuple | None:
    """(start, end) hull of the evidence time windows the user may see, or None for no limit.

    Only a coarse bound (several engagements give several windows): selectors of evidence
    use scope_evidence(), which pairs each window with its own systems."""
    if not is_scoped_auditor(user):
        return None
    grants = auditor_grants(user)
    if not grants:
        now = timezone.now()
        return (now, now)  # an empty window
    return (min(g.observation_start for g in grants), max(g.observation_end for g in grants))


def can_see_system(user, system_id: int | None) -> bool:
    ids = visible_system_ids(user)
    return ids is ALL or (system_id is not None and system_id in ids)


def is_read_only(user) -> bool:
    """Auditors never change anything outside their engagements' own record."""
    return is_scoped_auditor(user)
