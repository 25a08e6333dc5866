"""Give deployment edges written without a period one from the data (issue 20, lineage backfill).

Edges into a deployment written before periods existed (migration 0005), or by a path that set
none (lineage_edges_bulk_record and the scale generator before issue 20; an old dump), have
valid_from null: they hold whenever asked, so a deployment superseded long ago still looks "in
production". From the data:

- valid_from is the effective time of the evidence that stated the edge (what
  apps.evidence.services.deployment_edges_record uses as the start);
- valid_to is the start of the next deployment of the same slot (deployment_slot: the alias, tag
  or environment) that is another deployment and not a failed one, and `ended_by` is that
  deployment's evidence; none: the edge runs on;
- a deployment whose evidence failed gets an empty period ended by its own evidence, and ends
  nothing (as deployment_edges_record does).

A running edge that has a period is ended the same way when a later deployment of its slot was
written without one. An edge is left alone when an edge with the same source, target, relation and
start exists (a re-parse after the upgrade wrote it): it would break the unique key, so it is
counted as skipped. The database trigger allows exactly these moves (migration 0007).

Safe on a large table and safe to run twice: one scan of the deployment edges into a temporary
table indexed by slot and start, then batches in id order, each its own transaction (with one
`deployment.period_backfilled` ledger entry per edge) that touches only edges still without a
period or still running. Migration 0008 runs it; `manage.py backfill_deployment_periods` runs it again
(after restoring an old dump, or after a bulk import).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from apps.ledger.services import ledger_record_many

ACTOR = "system:backfill_deployment_periods"
DEPLOYMENT_RELATIONS = ("deployed-as", "deployed-from", "promoted-to")  # apps.evidence.services

# Every deployment edge (period or not): the events of each slot; `open`: still without an end.
_SNAPSHOT = """
CREATE TEMPORARY TABLE deployment_backfill AS
SELECT e.id, e.target_id, a.uri, regexp_replace(a.uri, '/[^/]*$', '') AS slot,
       COALESCE(e.valid_from, ev.effective_at) AS start, e.evidence_id,
       (ev.verdict = 'fail') AS failed,
       (e.valid_from IS NULL) AS legacy, (e.valid_to IS NULL) AS open
FROM evidence_artifact a
JOIN evidence_lineageedge e ON e.target_id = a.id
JOIN evidence_evidence ev ON ev.id = e.evidence_id
WHERE a.kind = 'deployment' AND e.relation = ANY(%s::text[])
"""

_BATCH = "SELECT id FROM deployment_backfill WHERE open AND id > %s ORDER BY id LIMIT %s"

_UPDATE = """
WITH planned AS (
    SELECT b.id, b.uri, b.legacy, b.start,
           CASE WHEN b.failed THEN b.start ELSE nx.start END AS valid_to,
           CASE WHEN b.failed THEN b.evidence_id ELSE nx.evidence_id END AS ended_by
    FROM deployment_backfill b
    LEFT JOIN LATERAL (
        SELECT n.start, n.evidence_id FROM deployment_backfill n
        WHERE n.slot = b.slot AND n.target_id <> b.target_id AND NOT n.failed AND n.start > b.start
        ORDER BY n.start, n.id LIMIT 1
    ) nx ON true
    WHERE b.id = ANY(%s::bigint[])
)
UPDATE evidence_lineageedge e
SET valid_from = p.start, valid_to = p.valid_to, ended_by_id = p.ended_by
FROM planned p
WHERE e.id = p.id AND e.valid_to IS NULL
  AND ((e.valid_from IS NULL AND NOT EXISTS (
            SELECT 1 FROM evidence_lineageedge t WHERE t.source_id = e.source_id AND t.target_id = e.target_id
            AND t.relation = e.relation AND t.valid_from = p.start))
       OR (e.valid_from = p.start AND p.valid_to IS NOT NULL))
RETURNING e.id, p.uri, p.legacy, e.valid_from, e.valid_to, e.ended_by_id
"""


@dataclass
class BackfillCount:
    """What one run of the backfill did."""

    periods: int = 0  # edges without a period that got one
    ended: int = 0  # running edges with a period that a later legacy deployment ended
    skipped: int = 0  # edges without a period left alone (a twin with the same start exists)

    @property
    def changed(self) -> int:
        return self.periods + self.ended


def deployment_periods_backfill_run(*, batch_size: int = 5000) -> BackfillCount:
    """Give every deployment edge without a period one from the data, in batches; see the module."""
    count = BackfillCount()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.deployment_backfill")
        cursor.execute(_SNAPSHOT, [list(DEPLOYMENT_RELATIONS)])
        cursor.execute("CREATE INDEX ON deployment_backfill (slot, start)")
        cursor.execute("CREATE INDEX ON deployment_backfill (id)")
        cursor.execute("ANALYZE deployment_backfill")
        cursor.execute("SELECT count(*) FROM deployment_backfill WHERE legacy")
        legacy = cursor.fetchone()[0]
        after = 0
        try:
            while True:
                cursor.execute(_BATCH, [after, batch_size])
                ids = [row[0] for row in cursor.fetchall()]
                if not ids:
                    break
                after = ids[-1]
                with transaction.atomic():
                    cursor.execute(_UPDATE, [ids])
                    rows = cursor.fetchall()
                    ledger_record_many(
                        (ACTOR, "deployment.period_backfilled", ("evidence.lineageedge", pk),
                         {"deployment": uri, "valid_from": start, "valid_to": end,
                          "ended_by": str(ended_by) if ended_by else None, "had_period": not was_legacy})
                        for pk, uri, was_legacy, start, end, ended_by in rows
                    )  # fmt: skip
                count.periods += sum(1 for r in rows if r[2])
                count.ended += sum(1 for r in rows if not r[2])
        finally:
            cursor.execute("DROP TABLE IF EXISTS pg_temp.deployment_backfill")
    count.skipped = legacy - count.periods
    return count


def deployment_periods_backfill(*, batch_size: int = 5000) -> int:
    """Backfill deployment periods (deployment_periods_backfill_run); returns how many edges changed."""
    return deployment_periods_backfill_run(batch_size=batch_size).changed
