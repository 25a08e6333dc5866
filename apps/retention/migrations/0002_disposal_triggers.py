"""Disposal rows are append-only; evidence detail rows may be deleted only by a disposal.

1. UPDATE and DELETE on retention_disposal are refused (TRUNCATE is left to the test runner),
   like the evidence tables: the record of what was disposed of, when and why, never changes.
2. The evidence app's trigger refuses UPDATE and DELETE on evidence_evidencerecord. Retention
   must dispose of the parsed personal data those rows carry, so this migration replaces that
   one trigger with a narrower one: UPDATE is still always refused, and DELETE is allowed only
   when BOTH the transaction has set `portal.retention_dispose = 'on'` (only
   `apps.retention.services.receipt_dispose` does, with SET LOCAL) AND a Disposal row exists
   for the receipt the evidence was parsed from. Evidence, subjects and lineage edges keep the
   original trigger: the record that evidence existed, and its sha256, stay.
"""

from django.db import migrations

SQL = """
CREATE FUNCTION retention_disposal_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'disposal records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER retention_disposal_immutable BEFORE UPDATE OR DELETE ON retention_disposal
    FOR EACH ROW EXECUTE FUNCTION retention_disposal_refuse_rewrite();

CREATE FUNCTION evidence_record_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('portal.retention_dispose', true) = 'on'
       AND EXISTS (
           SELECT 1 FROM evidence_evidence e JOIN retention_disposal d ON d.receipt_id = e.receipt_id
           WHERE e.id = OLD.evidence_id
       ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'evidence is immutable: % on % refused (record new evidence instead)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
DROP TRIGGER evidence_evidencerecord_immutable ON evidence_evidencerecord;
CREATE TRIGGER evidence_evidencerecord_immutable BEFORE UPDATE OR DELETE ON evidence_evidencerecord
    FOR EACH ROW EXECUTE FUNCTION evidence_record_refuse_rewrite();
"""

REVERSE = """
DROP TRIGGER IF EXISTS evidence_evidencerecord_immutable ON evidence_evidencerecord;
CREATE TRIGGER evidence_evidencerecord_immutable BEFORE UPDATE OR DELETE ON evidence_evidencerecord
    FOR EACH ROW EXECUTE FUNCTION evidence_refuse_rewrite();
DROP FUNCTION IF EXISTS evidence_record_refuse_rewrite();
DROP TRIGGER IF EXISTS retention_disposal_immutable ON retention_disposal;
DROP FUNCTION IF EXISTS retention_disposal_refuse_rewrite();
"""


class Migration(migrations.Migration):
    dependencies = [("retention", "0001_initial"), ("evidence", "0003_immutable_evidence")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
