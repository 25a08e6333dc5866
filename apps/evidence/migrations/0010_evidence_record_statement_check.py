"""Detail rows are checked against their evidence once per statement, not once per row.

A parse writes its detail rows with one COPY: up to hundreds of thousands of rows naming one
evidence row. The foreign key ran a query for each of them (for a 50,000-result SARIF log, ~0.28 s
of the ~0.6 s PostgreSQL spent on the COPY). A statement-level trigger now looks up the distinct
evidence ids of the whole statement, with the lock a foreign key check takes (FOR KEY SHARE), and
refuses the statement with a foreign-key violation when one is missing. Evidence is never deleted
or re-keyed (0003), so checking inserts is the whole guarantee. The foreign key's own index goes
too: evidence_record_unique (evidence, ordinal) serves lookups by evidence. The trigger is made
before the constraint is dropped, and the index is dropped concurrently.
"""

import django.db.models.deletion
from django.db import migrations, models

CONSTRAINT = "evidence_evidencerec_evidence_id_0fe4b401_fk_evidence_"
INDEX = "evidence_evidencerecord_evidence_id_0fe4b401"

CHECK = """
CREATE FUNCTION evidence_record_check_evidence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT n.evidence_id INTO missing
    FROM (SELECT DISTINCT evidence_id FROM new_records) n
    LEFT JOIN LATERAL (
        SELECT e.id FROM evidence_evidence e WHERE e.id = n.evidence_id FOR KEY SHARE
    ) found ON true
    WHERE found.id IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'no such evidence: detail rows name evidence id %, which does not exist', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER evidence_record_evidence_exists AFTER INSERT ON evidence_evidencerecord
    REFERENCING NEW TABLE AS new_records
    FOR EACH STATEMENT EXECUTE FUNCTION evidence_record_check_evidence();
"""
UNCHECK = """
DROP TRIGGER IF EXISTS evidence_record_evidence_exists ON evidence_evidencerecord;
DROP FUNCTION IF EXISTS evidence_record_check_evidence();
"""


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY: parse workers keep writing detail rows meanwhile

    dependencies = [
        ("evidence", "0009_artifact_deployment_slot"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="evidencerecord",
                    name="evidence",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="records",
                        to="evidence.evidence",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(CHECK, UNCHECK),
                migrations.RunSQL(
                    f"ALTER TABLE evidence_evidencerecord DROP CONSTRAINT IF EXISTS {CONSTRAINT}",
                    f"ALTER TABLE evidence_evidencerecord ADD CONSTRAINT {CONSTRAINT} FOREIGN KEY (evidence_id) "
                    "REFERENCES evidence_evidence (id) DEFERRABLE INITIALLY DEFERRED",
                ),
                migrations.RunSQL(
                    f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}",
                    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON evidence_evidencerecord (evidence_id)",
                ),
            ],
        ),
    ]
