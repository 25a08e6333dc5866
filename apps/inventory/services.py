"""Writes on the inventory: systems and their environments."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db import transaction

from apps.accounts.models import User
from apps.inventory.models import Environment, System
from apps.ledger.services import ledger_record


def ensure_can_edit_inventory(actor: User) -> None:
    if not actor.has_perm("inventory.change_system"):
        raise PermissionDenied("Only compliance officers and admins edit systems.")


@transaction.atomic
def system_save(
    *,
    actor: User,
    system: System,
    risk_owners: Iterable[User] = (),
    engineering_owners: Iterable[User] = (),
    environments: Iterable[str] = (),
) -> System:
    """Create or update a system with its owners and the set of environments it runs in."""
    ensure_can_edit_inventory(actor)
    if system.pk is None and not actor.has_perm("inventory.add_system"):
        raise PermissionDenied("You may not create systems.")
    created = system.pk is None
    system.full_clean()
    system.save()
    system.risk_owners.set(risk_owners)
    system.engineering_owners.set(engineering_owners)
    wanted = set(environments)
    system.environments.exclude(name__in=wanted).delete()
    existing = set(system.environments.values_list("name", flat=True))
    Environment.objects.bulk_create(Environment(system=system, name=name) for name in wanted - existing)
    ledger_record(
        actor=actor, action="system.created" if created else "system.updated", target=system,
        data={
            "slug": system.slug, "name": system.name, "risk_tier": system.risk_tier,
            "data_classes": sorted(system.data_classes), "frameworks": sorted(system.frameworks),
            "risk_owners": sorted(u.username for u in system.risk_owners.all()),
            "engineering_owners": sorted(u.username for u in system.engineering_owners.all()),
            "environments": sorted(wanted),
        },
    )
    return system
