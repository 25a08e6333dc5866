"""The database refuses to edit or delete evidence: a correction is new evidence.

UPDATE and DELETE are refused on evidence and everything hanging off it (subjects, detail
rows, lineage edges). Artifacts are not evidence and stay writable. TRUNCATE is left alone
(pytest-django empties tables with it; no application code path truncates).
"""

from django.db import migrations

TABLES = ["evidence_evidence", "evidence_evidencesubject", "evidence_evidencerecord", "evidence_lineageedge"]

SQL = """
CREATE FUNCTION evidence_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'evidence is immutable: % on % refused (record new evidence instead)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
""" + "".join(
    f"""
CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION evidence_refuse_rewrite();
"""
    for table in TABLES
)

REVERSE = "".join(f"DROP TRIGGER IF EXISTS {t}_immutable ON {t};" for t in TABLES) + (
    "DROP FUNCTION IF EXISTS evidence_refuse_rewrite();"
)


class Migration(migrations.Migration):
    dependencies = [("evidence", "0002_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
