"""Reads of systems, scoped to what the user may see."""

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from apps.accounts.models import User
from apps.accounts.scoping import scope_by_system
from apps.inventory.models import Environment, System


def system_list_for_user(*, user: User) -> QuerySet[System]:
    """Systems the user may see (apps.accounts.scoping decides), with owners and environments."""
    return scope_by_system(user, System.objects.all(), "id").prefetch_related(
        "environments", "risk_owners", "engineering_owners"
    ).order_by("name")


def system_get_for_user(*, user: User, slug: str) -> System:
    return get_object_or_404(
        scope_by_system(user, System.objects.all(), "id").prefetch_related(
            Prefetch("environments", queryset=Environment.objects.order_by("name")),
            "risk_owners",
            "engineering_owners",
        ),
        slug=slug,
    )

