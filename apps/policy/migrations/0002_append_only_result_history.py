"""The database refuses to rewrite the result history: "as of any date" reads it.

UPDATE and DELETE are refused on policy_controlresultchange, always. TRUNCATE is left
alone (pytest-django empties tables with it; no application code path truncates), as for
evidence (evidence migration 0003).
"""

from django.db import migrations

SQL = """
CREATE FUNCTION policy_refuse_history_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'control result history is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER policy_controlresultchange_append_only BEFORE UPDATE OR DELETE ON policy_controlresultchange
    FOR EACH ROW EXECUTE FUNCTION policy_refuse_history_rewrite();
"""

REVERSE = """
DROP TRIGGER IF EXISTS policy_controlresultchange_append_only ON policy_controlresultchange;
DROP FUNCTION IF EXISTS policy_refuse_history_rewrite();
"""


class Migration(migrations.Migration):
    dependencies = [("policy", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
