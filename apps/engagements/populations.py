"""Populations an auditor can sample from: pluggable selectors, one function each.

A population selector takes an engagement and returns its items in a stable order (the
order is part of reproducibility: the same seed over the same ordered population draws the
same items). Other apps register theirs with `@population(...)`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q

from apps.evidence.models import Evidence
from apps.exceptions.models import ExceptionRequest

PRODUCTION_ENVIRONMENTS = ("production", "prod", "Production", "PROD", "live")


@dataclass(frozen=True)
class PopulationItem:
    object_type: str
    object_id: str
    label: str

    @property
    def key(self) -> str:
        return f"{self.object_type}:{self.object_id}"


@dataclass(frozen=True)
class Population:
    key: str
    label: str
    select: Callable[..., list[PopulationItem]]


POPULATIONS: dict[str, Population] = {}


def population(key: str, label: str):
    """Register a population selector under `key`."""

    def register(fn: Callable[..., list[PopulationItem]]):
        POPULATIONS[key] = Population(key=key, label=label, select=fn)
        return fn

    return register


def population_digest(items: list[PopulationItem]) -> str:
    """sha256 over the ordered item keys: proves which population a sample was drawn from."""
    return hashlib.sha256("\n".join(item.key for item in items).encode()).hexdigest()


def _evidence_in_scope(engagement):
    return Evidence.objects.filter(
        system__in=engagement.systems.all(),
        effective_at__gte=engagement.observation_start,
        effective_at__lt=engagement.observation_end,
    )


def _evidence_items(qs) -> list[PopulationItem]:
    return [
        PopulationItem("evidence.evidence", str(pk), f"{title} ({effective_at:%Y-%m-%d %H:%M})")
        for pk, title, effective_at in qs.order_by("effective_at", "id").values_list("pk", "title", "effective_at")
    ]


@population("production-deployments", "Production deployments in the observation window")
def production_deployments(engagement) -> list[PopulationItem]:
    return _evidence_items(
        _evidence_in_scope(engagement).filter(kind="deployment", summary__environment__in=PRODUCTION_ENVIRONMENTS)
    )


@population("all-evidence", "All evidence in the observation window")
def all_evidence(engagement) -> list[PopulationItem]:
    return _evidence_items(_evidence_in_scope(engagement))


@population("approved-exceptions", "All approved exceptions in the observation window")
def approved_exceptions(engagement) -> list[PopulationItem]:
    """Exceptions of the engagement's systems that were approved and in force at some time of the window.

    Approved before the window ends, and neither ended (expired, revoked) nor past their expiry
    before it starts; whatever their status is now (an exception since expired was still in force)."""

    qs = (
        ExceptionRequest.objects.filter(
            system__in=engagement.systems.all(),
            approved_at__isnull=False,
            approved_at__lt=engagement.observation_end,
            expires_at__gt=engagement.observation_start,
        )
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=engagement.observation_start))
        .select_related("control", "system")
        .order_by("approved_at", "id")
    )
    return [
        PopulationItem(
            "exceptions.exceptionrequest",
            str(req.pk),
            f"{req.reference} {req.control.label} on {req.system.name} (approved {req.approved_at:%Y-%m-%d}, "
            f"expires {req.expires_at:%Y-%m-%d})",
        )
        for req in qs
    ]
