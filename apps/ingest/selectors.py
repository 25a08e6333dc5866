"""Reads of sources and receipts for the admin pages, and the reconciliation of what was accepted."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.evidence.models import Evidence
from apps.ingest.models import Receipt, ReceiptState, Source

# The evidence kind of content no parser read: parse_generic's files and the webhook
# parsers' unknown events. A receipt whose latest parse wrote one is "not recognised".
UNRECOGNISED_KIND = "generic"


def _unrecognised_evidence():
    """Evidence of the receipt at OuterRef, from its latest parse, that no parser read."""
    return Evidence.objects.filter(receipt=OuterRef("pk"), generation=OuterRef("attempts"), kind=UNRECOGNISED_KIND)


def receipt_list_unrecognised(*, source_id: int | None = None) -> QuerySet[Receipt]:
    """Parsed receipts whose content was kept as generic evidence (no rule judges it)."""
    qs = Receipt.objects.filter(state=ReceiptState.PARSED).filter(Exists(_unrecognised_evidence()))
    return qs.filter(source_id=source_id) if source_id else qs


def receipt_recognised(receipt: Receipt) -> bool | None:
    """True when a parser read the receipt's content, False when it was kept as generic evidence,
    None while it is not parsed (queued, parsing or failed)."""
    if receipt.state != ReceiptState.PARSED:
        return None
    return not Evidence.objects.filter(
        receipt=receipt, generation=receipt.generation, kind=UNRECOGNISED_KIND
    ).exists()


def source_list() -> QuerySet[Source]:
    unrecognised = (
        receipt_list_unrecognised()
        .filter(source=OuterRef("pk"))
        .order_by()
        .values("source")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        Source.objects.select_related("system", "created_by")
        .annotate(
            receipt_count=Count("receipts"),
            unrecognised_count=Coalesce(Subquery(unrecognised, output_field=IntegerField()), 0),
        )
        .order_by("name")
    )


def receipt_list(*, state: str = "", source_id: int | None = None, unrecognised: bool = False) -> QuerySet[Receipt]:
    """Receipts newest first; each says whether its latest parse was `unrecognised` (generic evidence)."""
    qs = (
        Receipt.objects.select_related("source")
        .defer("headers")
        .annotate(unrecognised=Exists(_unrecognised_evidence()))
        .order_by("-received_at", "-id")
    )
    if unrecognised:
        qs = qs.filter(state=ReceiptState.PARSED, unrecognised=True)
    if state:
        qs = qs.filter(state=state)
    if source_id:
        qs = qs.filter(source_id=source_id)
    return qs


def receipt_state_counts() -> dict[str, int]:
    counts = dict(Receipt.objects.values_list("state").annotate(n=Count("id")).order_by())
    return {state: counts.get(state, 0) for state in Receipt.State.values}


# ---------------------------------------------------------------- reconciliation (manage.py ingest_reconcile)


@dataclass
class SourceReconciliation:
    """What the database says one source (or all, source_id None) sent and what became of it."""

    source_id: int | None
    name: str
    receipts: int = 0
    by_state: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ReceiptState.values, 0))
    stuck: int = 0  # queued or parsing longer than the sweep lets a receipt wait
    failed_without_reason: int = 0
    parsed_without_evidence: int = 0
    evidence: int = 0
    # Evidence no finished parse accounts for: no receipt, or written by an attempt that did not finish.
    evidence_without_receipt: int = 0
    accepted_entries: int = 0  # ledger `receipt.accepted` entries (sequenced or pending)
    receipts_without_accepted_entry: int = 0
    receipts_with_several_accepted_entries: int = 0
    accepted_entries_without_receipt: int = 0
    # Receipts with more `receipt.parsed` entries than parses were asked for (1 + re-parse requests).
    parsed_more_than_once: int = 0

    @property
    def settled(self) -> int:
        return self.by_state[ReceiptState.PARSED] + self.by_state[ReceiptState.FAILED]

    def add(self, other: SourceReconciliation) -> None:
        for name in (
            "receipts", "stuck", "failed_without_reason", "parsed_without_evidence", "evidence",
            "evidence_without_receipt", "accepted_entries", "receipts_without_accepted_entry",
            "receipts_with_several_accepted_entries", "accepted_entries_without_receipt", "parsed_more_than_once",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for state, count in other.by_state.items():
            self.by_state[state] += count

    def client_problems(self, *, sent: int | None, accepted: int | None) -> list[str]:
        """How a sender's own counts (deliveries sent, distinct receipts it was given) disagree with these."""
        out = []
        if sent is not None and accepted is not None and accepted != sent:
            out.append(f"sent {sent} deliveries but only {accepted} were accepted")
        if accepted is not None and accepted != self.receipts:
            out.append(f"was given {accepted} receipts, the database holds {self.receipts}")
        return out

    def problems(self, *, settled: bool = False) -> list[str]:
        """Every way the database's own counts fail to match, as sentences; empty when they all match."""
        out = []
        if self.accepted_entries != self.receipts or self.receipts_without_accepted_entry:
            out.append(
                f"{self.receipts} receipts but {self.accepted_entries} ledger receipt.accepted entries "
                f"({self.receipts_without_accepted_entry} receipts without one)"
            )
        checks = [
            (self.receipts_with_several_accepted_entries, "receipts with more than one receipt.accepted entry"),
            (self.accepted_entries_without_receipt, "receipt.accepted entries whose receipt does not exist"),
            (self.parsed_without_evidence, "parsed receipts without evidence"),
            (self.evidence_without_receipt, "evidence rows without a receipt whose parse finished"),
            (self.parsed_more_than_once, "receipts parsed more often than asked (duplicate processing)"),
            (self.failed_without_reason, "failed receipts without a reason"),
            (self.stuck, "receipts stuck queued or parsing past the sweep's limits"),
        ]
        out += [f"{count} {what}" for count, what in checks if count]
        unsettled = self.receipts - self.settled
        if settled and unsettled:
            out.append(f"{unsettled} receipts not yet parsed or failed")
        return out


@dataclass
class Reconciliation:
    sources: list[SourceReconciliation]
    total: SourceReconciliation


_RECONCILE_SQL = {
    # Receipts per source and state; stuck ones; failed ones that do not say why.
    "states": """
        SELECT source_id, state, count(*),
               count(*) FILTER (WHERE (state = 'queued' AND state_since < %(queued_cutoff)s)
                                   OR (state = 'parsing' AND state_since < %(parsing_cutoff)s)),
               count(*) FILTER (WHERE state = 'failed' AND error = '')
        FROM ingest_receipt {where_r} GROUP BY source_id, state""",
    # Parsed receipts without evidence of their latest parse (the generation is the attempt number).
    "parsed_without_evidence": """
        SELECT r.source_id, count(*) FROM ingest_receipt r
        WHERE r.state = 'parsed' {and_r}
          AND NOT EXISTS (SELECT 1 FROM {evidence} e WHERE e.receipt_id = r.id AND e.generation = r.attempts)
        GROUP BY r.source_id""",
    # Evidence per source, and evidence that no finished parse accounts for: no receipt, a generation the
    # receipt never reached, or the current attempt's evidence on a receipt that failed or is still parsing.
    "evidence": """
        SELECT COALESCE(r.source_id, e.source_id), count(*),
               count(*) FILTER (WHERE r.id IS NULL OR e.generation > r.attempts
                                   OR (e.generation = r.attempts AND r.state IN ('failed', 'parsing')))
        FROM {evidence} e LEFT JOIN ingest_receipt r ON r.id = e.receipt_id {where_e}
        GROUP BY 1""",
    # Ledger receipt.* entries per receipt, sequenced or still pending (one snapshot: see below).
    "ledger": """
        WITH entries AS (
            SELECT object_id, action, actor_type, actor_id, canonical FROM ledger_entry
             WHERE object_type = 'ingest.receipt'
               AND action IN ('receipt.accepted', 'receipt.parsed', 'receipt.requeued')
            UNION ALL
            SELECT object_id, action, actor_type, actor_id, canonical FROM ledger_pending
             WHERE object_type = 'ingest.receipt'
               AND action IN ('receipt.accepted', 'receipt.parsed', 'receipt.requeued')
        ), per AS (
            SELECT object_id,
                   count(*) FILTER (WHERE action = 'receipt.accepted') AS accepted,
                   min(actor_id) FILTER (WHERE action = 'receipt.accepted' AND actor_type = 'source') AS actor,
                   count(*) FILTER (WHERE action = 'receipt.parsed') AS parsed,
                   count(*) FILTER (WHERE action = 'receipt.requeued'
                                      AND convert_from(canonical, 'UTF8')::jsonb #>> '{{data,reason}}' = 're-parse')
                       AS reparses
            FROM entries GROUP BY object_id
        )
        SELECT COALESCE(r.source_id, CASE WHEN per.actor ~ '^[0-9]+$' THEN per.actor::bigint END),
               COALESCE(sum(per.accepted), 0)::bigint,
               count(*) FILTER (WHERE r.id IS NOT NULL AND COALESCE(per.accepted, 0) = 0),
               count(*) FILTER (WHERE r.id IS NOT NULL AND per.accepted > 1),
               COALESCE(sum(per.accepted) FILTER (WHERE r.id IS NULL), 0)::bigint,
               count(*) FILTER (WHERE r.id IS NOT NULL AND per.parsed > 1 + per.reparses)
        FROM ingest_receipt r FULL JOIN per ON per.object_id = r.id::text
        GROUP BY 1""",
}


def reconciliation_summary(*, source_ids: list[int] | None = None, now=None) -> Reconciliation:
    """Count, per source and overall, what was accepted, what became of it, and what the ledger says.

    All queries run in one REPEATABLE READ transaction: one snapshot, so a receipt committed (or an
    entry sequenced from pending into the log) between two queries cannot make the counts disagree.
    """

    now = now or timezone.now()
    sweep = settings.PORTAL_RECEIPT_SWEEP_SECONDS
    params = {
        "ids": list(source_ids or []),
        # The sweep re-queues a receipt queued longer than PORTAL_RECEIPT_SWEEP_SECONDS once a minute, and
        # one parsing longer than the task time limit: past twice that, nothing is picking it up.
        "queued_cutoff": now - timedelta(seconds=2 * max(sweep, 60)),
        "parsing_cutoff": now - timedelta(seconds=2 * max(sweep, settings.CELERY_TASK_TIME_LIMIT + 30, 60)),
    }
    only = source_ids is not None
    fmt = {
        "evidence": connection.ops.quote_name(Evidence._meta.db_table),
        "where_r": "WHERE source_id = ANY(%(ids)s)" if only else "",
        "and_r": "AND r.source_id = ANY(%(ids)s)" if only else "",
        "where_e": "WHERE COALESCE(r.source_id, e.source_id) = ANY(%(ids)s)" if only else "",
    }
    rows: dict[int | None, SourceReconciliation] = {}

    def row(source_id) -> SourceReconciliation:
        if source_id not in rows:
            rows[source_id] = SourceReconciliation(source_id=source_id, name="")
        return rows[source_id]

    own_transaction = not connection.in_atomic_block  # inside a caller's transaction (tests), use its
    with transaction.atomic(), connection.cursor() as cursor:
        if own_transaction:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute(_RECONCILE_SQL["states"].format(**fmt), params)
        for source_id, state, count, stuck, no_reason in cursor.fetchall():
            r = row(source_id)
            r.receipts += count
            r.by_state[state] = r.by_state.get(state, 0) + count
            r.stuck += stuck
            r.failed_without_reason += no_reason
        cursor.execute(_RECONCILE_SQL["parsed_without_evidence"].format(**fmt), params)
        for source_id, count in cursor.fetchall():
            row(source_id).parsed_without_evidence = count
        cursor.execute(_RECONCILE_SQL["evidence"].format(**fmt), params)
        for source_id, count, unaccounted in cursor.fetchall():
            r = row(source_id)
            r.evidence, r.evidence_without_receipt = count, unaccounted
        cursor.execute(_RECONCILE_SQL["ledger"].format(**fmt), params)
        for source_id, entries, without, several, orphaned, twice in cursor.fetchall():
            if only and source_id not in source_ids:
                continue
            r = row(source_id)
            r.accepted_entries += entries
            r.receipts_without_accepted_entry += without
            r.receipts_with_several_accepted_entries += several
            r.accepted_entries_without_receipt += orphaned
            r.parsed_more_than_once += twice
    names = dict(Source.objects.filter(pk__in=[k for k in rows if k is not None]).values_list("pk", "name"))
    for source_id in source_ids or []:
        row(source_id)
    sources = []
    for source_id in sorted(rows, key=lambda k: (k is None, k or 0)):
        r = rows[source_id]
        r.name = names.get(source_id, "(no source)" if source_id is None else f"(unknown source {source_id})")
        sources.append(r)
    total = SourceReconciliation(source_id=None, name="all sources")
    for r in sources:
        total.add(r)
    return Reconciliation(sources=sources, total=total)
