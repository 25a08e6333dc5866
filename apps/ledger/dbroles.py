"""Database roles for the prod profile: the portal connects as a role that owns nothing.

A separate migration role owns the schema (it runs `migrate`) and then grants the app role what the
portal needs: read and write on its tables, but on the ledger only SELECT and INSERT (the pending
queue also DELETE: the sequencer empties it). No TRUNCATE anywhere. With that, neither the append-only
triggers (ledger migrations 0002/0003) nor privileges can be switched off from the app's connections:
only an owner may drop a trigger, and only a superuser may use the truncate escape.
"""

from __future__ import annotations

from django.db import connections

# Tables the app may only append to (and read); the pending queue is inserted into and emptied.
APPEND_ONLY = ("ledger_entry", "ledger_node", "ledger_checkpoint")
QUEUE = ("ledger_pending",)


def _quote(connection, name: str) -> str:
    return connection.ops.quote_name(name)


def db_app_role_grant_sql(role: str, *, connection) -> list[str]:
    """The statements that give `role` what the portal needs, and nothing on the ledger beyond appending."""
    r = _quote(connection, role)
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {r}",
        # Tables the migration role creates later get the same (rerun this command after migrate anyway,
        # so that ledger tables added later lose UPDATE and DELETE).
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {r}",
        f"REVOKE TRUNCATE ON ALL TABLES IN SCHEMA public FROM {r}",
    ]
    statements += [f"REVOKE UPDATE, DELETE ON {table} FROM {r}" for table in APPEND_ONLY]
    statements += [f"REVOKE UPDATE ON {table} FROM {r}" for table in QUEUE]
    return statements


def db_app_role_grant(*, role: str, using: str = "default") -> list[str]:
    """Apply db_app_role_grant_sql() as the connection's role (the schema's owner); returns the statements."""
    connection = connections[using]
    statements = db_app_role_grant_sql(role, connection=connection)
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
    return statements


def db_role_problems(*, using: str = "default") -> list[str]:
    """What is wrong with the role the portal connects as, for the prod profile: a superuser, or an
    owner of the ledger tables, could switch the append-only guard off."""
    connection = connections[using]
    problems = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        user, superuser = cursor.fetchone()
        if superuser:
            problems.append(f"the database role {user!r} is a superuser")
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relname = ANY(%s) AND pg_has_role(c.relowner, 'USAGE')",
            [list(APPEND_ONLY + QUEUE)],
        )
        owned = sorted(row[0] for row in cursor.fetchall())
        if owned and not superuser:
            problems.append(f"the database role {user!r} owns (or acts as the owner of) {', '.join(owned)}")
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) "
            "AND (has_table_privilege(oid, 'UPDATE') OR has_table_privilege(oid, 'TRUNCATE'))",
            [list(APPEND_ONLY)],
        )
        writable = sorted(row[0] for row in cursor.fetchall())
        if writable and not superuser and not owned:
            problems.append(f"the database role {user!r} may UPDATE or TRUNCATE {', '.join(writable)}")
    return problems
