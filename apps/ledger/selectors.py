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


def ledger_lag_summary() -> dict[str, datetime | None]:
    """How far behind the sequencer and the checkpoints are, for /healthz: three index lookups.

    `oldest_pending_at`: when the oldest entry still waiting for an index was recorded (None: none waits).
    `oldest_unchecked_at`: when the first entry no checkpoint covers yet was sequenced (None: all covered).
    `checkpoint_at`: when the latest checkpoint was signed (None: none yet).
    """
    from apps.ledger.models import Checkpoint

    # Ids grow with recording order, so the smallest id is (about) the oldest: the primary key index.
    oldest_pending_at = PendingEntry.objects.order_by("id").values_list("recorded_at", flat=True).first()
    latest = Checkpoint.objects.order_by("-size").values_list("size", "created_at").first()
    covered, checkpoint_at = latest if latest else (0, None)
    # Leaf `covered` is the first entry the latest checkpoint does not include.
    oldest_unchecked_at = LedgerEntry.objects.filter(index=covered).values_list("sequenced_at", flat=True).first()
    return {
        "oldest_pending_at": oldest_pending_at,
        "oldest_unchecked_at": oldest_unchecked_at,
        "checkpoint_at": checkpoint_at,
    }
