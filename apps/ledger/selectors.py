"""Reads of the ledger for pages: filtered lists, an object's timeline, an entry with its proof."""

from __future__ import annotations

import json
from datetime import datetime

from django.db.models import Max, Min, Model, QuerySet

from apps.ledger.models import Checkpoint, LedgerEntry, PendingEntry
from apps.ledger.readers import ledger_readers
from apps.ledger.services import consistency_proof, read_entries_with_leaves, trusted_verifier_keys
from apps.ledger.verify import encode_hash, encode_proof, export_line, export_redacted_line


def ledger_visible_to(user) -> bool:
    """True when `user` may open the ledger (the accounts app decides: apps.ledger.readers)."""
    return ledger_readers().may_read(user)


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


def ledger_key_list() -> list[dict]:
    """Every ledger key ever used or still trusted, for keys.json: the current one (valid_to null) first.

    Dates come from the checkpoints each key signed (first and last); a key only listed in
    PORTAL_LEDGER_TRUSTED_KEYS and never seen signing here has no dates."""


    used = {
        row["verifier_key"]: row
        for row in Checkpoint.objects.values("verifier_key").annotate(first=Min("created_at"), last=Max("created_at"))
    }
    current, *older = trusted_verifier_keys()
    older += [k for k in used if k != current and k not in older]
    keys = [{"purpose": "ledger", "vkey": current,
             "valid_from": used[current]["first"] if current in used else None, "valid_to": None}]
    for vkey in older:
        row = used.get(vkey) or {}
        keys.append({"purpose": "ledger", "vkey": vkey, "valid_from": row.get("first"), "valid_to": row.get("last")})
    return keys


def checkpoint_list(*, size: int | None = None, limit: int = 1000):
    """Signed checkpoints, newest (largest) first; one size only when `size` is given."""

    qs = Checkpoint.objects.order_by("-size")
    if size is not None:
        qs = qs.filter(size=size)
    return list(qs[:limit])


def ledger_export_lines(*, start: int = 0, end: int | None = None, readable=None):
    """The log export: one JSON line per sequenced entry in [start, end), in index order, streamed.

    Each line is verify.EXPORT_FORMAT, the canonical entry embedded verbatim: what the stand-alone
    verifier recomputes the tree from. With `readable` (a set of indexes, for a scoped auditor), every
    other entry is written as verify.EXPORT_REDACTED_FORMAT: its index and leaf hash, no payload."""

    for index, canonical, _stored in read_entries_with_leaves(start=start, end=end):
        if readable is None or index in readable:
            yield export_line(index, canonical)
        else:
            yield export_redacted_line(index, canonical)


def consistency_bundle(old, new) -> dict:
    """Everything needed to check, offline, that checkpoint `new` extends checkpoint `old` (RFC 9162 2.1.4):
    both signed notes, their sizes and roots, the proof, and the keys that signed them (for reference only:
    a verifier pins its own). The JSON compliance_verify.py takes."""

    return {
        "first": old.size,
        "second": new.size,
        "first_root": encode_hash(bytes(old.root)),
        "second_root": encode_hash(bytes(new.root)),
        "proof": encode_proof(consistency_proof(old.size, new.size)),
        "first_checkpoint": old.note,
        "second_checkpoint": new.note,
        "verifier_keys": list(dict.fromkeys([old.verifier_key, new.verifier_key])),
    }


def ledger_lag_summary() -> dict[str, datetime | None]:
    """How far behind the sequencer and the checkpoints are, for /healthz: three index lookups.

    `oldest_pending_at`: when the oldest entry still waiting for an index was recorded (None: none waits).
    `oldest_unchecked_at`: when the first entry no checkpoint covers yet was sequenced (None: all covered).
    `checkpoint_at`: when the latest checkpoint was signed (None: none yet).
    """

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
