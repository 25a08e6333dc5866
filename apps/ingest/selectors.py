"""Reads of sources and receipts for the admin pages."""

from django.db.models import Count, QuerySet

from apps.ingest.models import Receipt, Source


def source_list() -> QuerySet[Source]:
    return (
        Source.objects.select_related("system", "created_by").annotate(receipt_count=Count("receipts")).order_by("name")
    )


def receipt_list(*, state: str = "", source_id: int | None = None) -> QuerySet[Receipt]:
    qs = Receipt.objects.select_related("source").defer("headers").order_by("-received_at", "-id")
    if state:
        qs = qs.filter(state=state)
    if source_id:
        qs = qs.filter(source_id=source_id)
    return qs


def receipt_state_counts() -> dict[str, int]:
    counts = dict(Receipt.objects.values_list("state").annotate(n=Count("id")).order_by())
    return {state: counts.get(state, 0) for state in Receipt.State.values}
