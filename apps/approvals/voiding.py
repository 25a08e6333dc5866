"""Voiding on material change: decisions given on what has since changed stop counting, and stay listed."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

VOID_REASON_MAX = 300  # the clients' void_reason columns


def decisions_void(decisions: QuerySet, *, reason: str, now: datetime) -> list[int]:
    """Void the live decisions of `decisions` (rows with `voided_at` and `void_reason`); their ids.

    Run inside the client's transaction, with the decided-on row locked; the client records the
    ledger entry (its action names what changed). Voided rows are kept: the page lists them."""
    live = decisions.filter(voided_at__isnull=True)
    ids = list(live.values_list("pk", flat=True))
    if ids:
        decisions.model.objects.filter(pk__in=ids).update(voided_at=now, void_reason=reason[:VOID_REASON_MAX])
    return ids
