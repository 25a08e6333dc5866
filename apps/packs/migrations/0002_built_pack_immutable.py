"""A built pack never changes: the database refuses UPDATE of a row whose status is built.

Its file, sha256 and size are what was handed out and recorded in the ledger; a rebuild
is a new pack. (Deleting stays possible for retention; the ledger keeps the record.)
"""

from django.db import migrations

SQL = """
CREATE FUNCTION packs_refuse_built_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'pack % is built and never changes: UPDATE refused', OLD.id
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER packs_pack_built_immutable BEFORE UPDATE ON packs_pack
    FOR EACH ROW WHEN (OLD.status = 'built') EXECUTE FUNCTION packs_refuse_built_update();
"""
REVERSE = """
DROP TRIGGER IF EXISTS packs_pack_built_immutable ON packs_pack;
DROP FUNCTION IF EXISTS packs_refuse_built_update();
"""


class Migration(migrations.Migration):
    dependencies = [("packs", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
