"""Deployment edges written without a period may get one, once (issue 20, lineage backfill).

Edges written before migration 0005, or by a path that sets no period (lineage_edges_bulk_record),
have valid_from null: they hold whenever asked, so a superseded deployment looks in production.
The edge trigger keeps refusing every change but two moves: a running deployment edge ends (0005),
and now an edge into a deployment with no period gets one (valid_from, and valid_to with the
evidence that ended it, or neither), every other column unchanged. Only the backfill
(apps.evidence.lineage.backfill) makes the second move.
"""

from django.db import migrations

ALLOW_BACKFILL = """
CREATE OR REPLACE FUNCTION lineage_edge_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.valid_to IS NULL
       AND NEW.id = OLD.id AND NEW.source_id = OLD.source_id AND NEW.target_id = OLD.target_id
       AND NEW.relation = OLD.relation AND NEW.evidence_id = OLD.evidence_id
       AND NEW.created_at = OLD.created_at THEN
        -- A running deployment edge ends, once.
        IF OLD.valid_from IS NOT NULL AND NEW.valid_from = OLD.valid_from
           AND NEW.valid_to IS NOT NULL AND NEW.ended_by_id IS NOT NULL THEN
            RETURN NEW;
        END IF;
        -- A deployment edge written without a period gets one, once.
        IF OLD.valid_from IS NULL AND OLD.ended_by_id IS NULL AND NEW.valid_from IS NOT NULL
           AND (NEW.valid_to IS NULL) = (NEW.ended_by_id IS NULL)
           AND NEW.relation IN ('deployed-as', 'deployed-from', 'promoted-to')
           AND EXISTS (SELECT 1 FROM evidence_artifact WHERE id = NEW.target_id AND kind = 'deployment') THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'evidence is immutable: % on % refused (record new evidence instead)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""
ENDING_ONLY = """
CREATE OR REPLACE FUNCTION lineage_edge_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.valid_to IS NULL AND OLD.valid_from IS NOT NULL
       AND NEW.valid_to IS NOT NULL AND NEW.ended_by_id IS NOT NULL
       AND NEW.id = OLD.id AND NEW.source_id = OLD.source_id AND NEW.target_id = OLD.target_id
       AND NEW.relation = OLD.relation AND NEW.evidence_id = OLD.evidence_id
       AND NEW.created_at = OLD.created_at AND NEW.valid_from = OLD.valid_from THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'evidence is immutable: % on % refused (record new evidence instead)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("evidence", "0006_h15_artifact_deleted_at"),
    ]

    operations = [
        migrations.RunSQL(ALLOW_BACKFILL, ENDING_ONLY),
    ]
