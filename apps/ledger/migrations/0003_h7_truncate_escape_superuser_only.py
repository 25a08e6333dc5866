"""The TRUNCATE escape of the append-only triggers works only for a superuser's session.

Migration 0002 let any session that set portal.ledger_allow_truncate=on truncate the ledger. Any
role can set a custom setting, so the escape must also check who asks: a superuser could drop the
trigger anyway, so letting them truncate gives nothing away, and only the test profile connects as
one (pytest-django empties the database between transactional tests). The prod profile's app role
is no superuser and owns nothing (apps/ledger/dbroles.py, docs/deploy/README.md).
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION ledger_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('portal.ledger_allow_truncate', true) = 'on'
       AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""

REVERSE = """
CREATE OR REPLACE FUNCTION ledger_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('portal.ledger_allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_append_only_triggers")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
