"""The database itself refuses to rewrite the ledger.

UPDATE and DELETE are refused on entries, nodes and checkpoints, always. TRUNCATE is refused
too, except on a connection that sets portal.ledger_allow_truncate=on: only the test
profile's connections do, so that pytest-django can empty the database between
transactional tests (settings.py). The pending table is a queue: rows are inserted by
recorders and deleted by the sequencer once sequenced, never updated.
"""

from django.db import migrations

SQL = """
CREATE FUNCTION ledger_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('portal.ledger_allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""
TABLES = ["ledger_entry", "ledger_node", "ledger_checkpoint"]
for table in TABLES:
    SQL += f"""
CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_rewrite();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_rewrite();
"""
SQL += """
CREATE TRIGGER ledger_pending_no_update BEFORE UPDATE ON ledger_pending
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_rewrite();
"""

REVERSE = "".join(
    f"DROP TRIGGER IF EXISTS {t}_no_update_delete ON {t}; DROP TRIGGER IF EXISTS {t}_no_truncate ON {t};"
    for t in TABLES
) + "DROP TRIGGER IF EXISTS ledger_pending_no_update ON ledger_pending; DROP FUNCTION ledger_refuse_rewrite();"


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
