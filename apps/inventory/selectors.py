"""Reads of systems, scoped to what the user may see."""

from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404

from apps.accounts.models import User
from apps.accounts.scoping import is_scoped_auditor, scope_by_system
from apps.inventory.models import Environment, FrameworkCode, System


@dataclass(frozen=True)
class SystemFilters:
    """The systems list's filters (the page and its CSV export parse into this)."""

    q: str = ""  # part of the name or slug
    kind: str = ""
    risk_tier: str = ""
    framework: str = ""


def system_list_for_user(*, user: User, filters: SystemFilters = SystemFilters()) -> QuerySet[System]:
    """Systems the user may see (apps.accounts.scoping decides), filtered, by name, with owners and environments."""
    qs = scope_by_system(user, System.objects.all(), "id")
    if filters.q:
        qs = qs.filter(Q(name__icontains=filters.q) | Q(slug__icontains=filters.q))
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.risk_tier:
        qs = qs.filter(risk_tier=filters.risk_tier)
    if filters.framework:
        qs = qs.filter(frameworks__contains=[filters.framework])
    return qs.prefetch_related("environments", "risk_owners", "engineering_owners").order_by("name", "id")


def system_get_for_user(*, user: User, slug: str) -> System:
    return get_object_or_404(
        scope_by_system(user, System.objects.all(), "id").prefetch_related(
            Prefetch("environments", queryset=Environment.objects.order_by("name")),
            "risk_owners",
            "engineering_owners",
        ),
        slug=slug,
    )


def system_framework_choices_for_user(*, user: User) -> list[tuple[str, str]]:
    """The frameworks a systems filter menu may offer: every one, or for an auditor those their systems are in
    scope for (issue 21: menus come from the viewer's scope)."""
    if not is_scoped_auditor(user):
        return list(FrameworkCode.choices)
    codes = {code for codes in scope_by_system(user, System.objects.all(), "id").values_list("frameworks", flat=True)
             for code in codes}  # fmt: skip
    return [(value, label) for value, label in FrameworkCode.choices if value in codes]
