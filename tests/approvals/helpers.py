"""Reading the ledger in tests: entries about an object, sequenced or still pending."""

from __future__ import annotations

import json

from apps.ledger.models import LedgerEntry, PendingEntry


def ledger_entries(*, action: str | None = None, object_id=None) -> list[dict]:
    """Entries (as their JSON bodies) with this action and/or about this object id."""
    rows = []
    for model in (LedgerEntry, PendingEntry):
        qs = model.objects.all()
        if action:
            qs = qs.filter(action=action)
        if object_id is not None:
            qs = qs.filter(object_id=str(object_id))
        rows += [json.loads(bytes(c)) for c in qs.values_list("canonical", flat=True)]
    return rows
