"""Reads of the ledger for pages: filtered lists, an object's timeline, an entry with its proof."""

from __future__ import annotations

import json
from datetime import datetime

from django.db.models import Model, QuerySet

from apps.accounts.roles import Role
from apps.accounts.scoping import auditor_grants, is_scoped_auditor
from apps.ledger.models import LedgerEntry, PendingEntry

LEDGER_ROLES = (Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR)


def ledger_visible_to(user) -> bool:
    if user.is_superuser or user.has_role(Role.ADMIN, Role.COMPLIANCE_OFFICER):
        return True
    # An auditor reads the ledger only while one of their engagements is open.
    return user.has_role(Role.AUDITOR) and (not is_scoped_auditor(user) or bool(auditor_grants(user)))


def ledger_entry_list(
    *,
    actor: str = "",
    action: str = "",
    object_type: str = "",
    object_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[LedgerEntry]:
    """Sequenced entries, newest first, filtered. `actor` matches the actor's label exactly."""
    qs = LedgerEntry.objects.defer("canonical").order_by("-index")
    if actor:
        qs = qs.filter(actor_label=actor)
    if action:
        qs = qs.filter(action__startswith=action) if action.endswith(".") else qs.filter(action=action)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if since:
        qs = qs.filter(recorded_at__gte=since)
    if until:
        qs = qs.filter(recorded_at__lt=until)
    return qs


def ledger_timeline_for(obj: Model, *, limit: int = 50) -> list[dict]:
    """An object's history: its sequenced entries plus any still pending, newest first."""
    object_type, object_id = obj._meta.label_lower, str(obj.pk)
    rows = []
    for entry in PendingEntry.objects.filter(object_type=object_type, object_id=object_id).order_by("-id")[:limit]:
        rows.append({"index": None, "entry": entry, "data": json.loads(bytes(entry.canonical))["data"]})
    for entry in LedgerEntry.objects.filter(object_type=object_type, object_id=object_id).order_by("-index")[
        : max(0, limit - len(rows))
    ]:
        rows.append({"index": entry.index, "entry": entry, "data": json.loads(bytes(entry.canonical))["data"]})
    return rows


def ledger_action_names() -> list[str]:
    return list(LedgerEntry.objects.order_by("action").values_list("action", flat=True).distinct()[:200])
