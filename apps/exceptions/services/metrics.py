"""The daily snapshot of exception counts the dashboard reads."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.exceptions.models import ExceptionMetricSnapshot, ExceptionRequest
from apps.exceptions.services.validation import Status
from apps.inventory.models import System

# ---------------------------------------------------------------- metrics


def exception_metrics_snapshot(*, now: datetime | None = None) -> int:
    """Beat: today's exception metrics per system (upsert): by tier, by age, approval latency."""
    now = now or timezone.now()
    day = timezone.localdate(now)
    rows = {}
    for system_id in System.objects.values_list("pk", flat=True):
        rows[system_id] = ExceptionMetricSnapshot(day=day, system_id=system_id, computed_at=now)
    latencies: dict[int, list[float]] = {}
    recent = now - timedelta(days=30)
    for sid, status, tier, approved_at, submitted_at, decided_at, expires_at in ExceptionRequest.objects.values_list(
        "system_id", "status", "tier", "approved_at", "submitted_at", "decided_at", "expires_at"
    ):
        row = rows.get(sid)
        if row is None:
            continue
        if status == Status.PENDING:
            row.pending += 1
        elif status == Status.APPROVED:
            setattr(row, f"active_{tier}", getattr(row, f"active_{tier}") + 1)
            age = (now - approved_at).days
            if age <= 30:
                row.active_age_0_30 += 1
            elif age <= 90:
                row.active_age_31_90 += 1
            else:
                row.active_age_91_plus += 1
            if expires_at <= now + timedelta(days=14):
                row.expiring_14d += 1
        if decided_at and submitted_at and decided_at >= recent and status != Status.REVOKED:
            row.decided_30d += 1
            latencies.setdefault(sid, []).append((decided_at - submitted_at).total_seconds() / 3600)
    for sid, values in latencies.items():
        values.sort()
        mid = len(values) // 2
        rows[sid].latency_median_hours = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        rows[sid].latency_max_hours = values[-1]
    fields = [f.name for f in ExceptionMetricSnapshot._meta.concrete_fields if f.name not in ("id", "day", "system")]
    with transaction.atomic():
        ExceptionMetricSnapshot.objects.bulk_create(
            list(rows.values()), update_conflicts=True, unique_fields=["day", "system"], update_fields=fields
        )
    return len(rows)
