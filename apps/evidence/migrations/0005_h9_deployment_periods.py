"""Deployment edges get a period (issue 20): valid_from, valid_to and the evidence that ended them."""

import django.db.models.deletion
from django.db import migrations, models

# Lineage edges stay immutable but for one move (issue 20): a running deployment edge ends, once.
# UPDATE is allowed only from valid_to null to a time with the evidence that ended it, every other
# column unchanged; DELETE is still refused.
ENDING_ONLY = """
CREATE FUNCTION lineage_edge_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
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
DROP TRIGGER evidence_lineageedge_immutable ON evidence_lineageedge;
CREATE TRIGGER evidence_lineageedge_immutable BEFORE UPDATE OR DELETE ON evidence_lineageedge
    FOR EACH ROW EXECUTE FUNCTION lineage_edge_refuse_rewrite();
"""
FULLY_IMMUTABLE = """
DROP TRIGGER evidence_lineageedge_immutable ON evidence_lineageedge;
CREATE TRIGGER evidence_lineageedge_immutable BEFORE UPDATE OR DELETE ON evidence_lineageedge
    FOR EACH ROW EXECUTE FUNCTION evidence_refuse_rewrite();
DROP FUNCTION lineage_edge_refuse_rewrite();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('evidence', '0004_artifact_kind_run_job'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='lineageedge',
            name='lineage_edge_unique',
        ),
        migrations.AddField(
            model_name='lineageedge',
            name='ended_by',
            field=models.ForeignKey(blank=True, help_text='The evidence that ended this deployment edge.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='ended_edges', to='evidence.evidence'),
        ),
        migrations.AddField(
            model_name='lineageedge',
            name='valid_from',
            field=models.DateTimeField(blank=True, help_text='A deployment edge: when it started running.', null=True),
        ),
        migrations.AddField(
            model_name='lineageedge',
            name='valid_to',
            field=models.DateTimeField(blank=True, help_text='A deployment edge: when it stopped (null: runs).', null=True),
        ),
        migrations.AddIndex(
            model_name='lineageedge',
            index=models.Index(condition=models.Q(('valid_from__isnull', False), ('valid_to__isnull', True)), fields=['target'], name='lineage_edge_running'),
        ),
        migrations.AddConstraint(
            model_name='lineageedge',
            constraint=models.UniqueConstraint(fields=('source', 'target', 'relation', 'valid_from'), name='lineage_edge_unique_period', nulls_distinct=False),
        ),
        migrations.AddConstraint(
            model_name='lineageedge',
            constraint=models.CheckConstraint(condition=models.Q(('valid_to__isnull', True), models.Q(('valid_from__isnull', False), ('valid_to__gte', models.F('valid_from'))), _connector='OR'), name='lineage_edge_period_valid', violation_error_message='A lineage edge ends after it starts, and only an edge with a start ends.'),
        ),
        migrations.RunSQL(ENDING_ONLY, FULLY_IMMUTABLE),
    ]
