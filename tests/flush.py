"""The flush between transactional tests, without re-running post_migrate when nothing it wrote changed.

After each transactional test Django empties every table (one TRUNCATE) and then emits post_migrate,
whose handlers write again what every migrate writes: content types, permissions, the shipped policy
catalogs and rules, the executive group. That is ~500 queries, 1-3 s on this machine, after each of
~95 tests, and it writes the same rows every time.

So the first flush of a database is Django's own; right after it, this notes the tables post_migrate
filled ("reference tables") and a digest of each one's rows. Each later flush first compares the
digests: all unchanged, it truncates every other table and leaves the reference rows as they are,
which is the state a full flush would leave (the same rows; only their ids, which a full flush renews,
stay). A test that changed a reference row (loaded a catalog, edited a rule, added a group) gets
Django's full flush, and the digests are taken again.
"""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connections
from django.test import TransactionTestCase

# Table names in the SQL below come from Django's introspection, quoted (S608).
_django_fixture_teardown = TransactionTestCase._fixture_teardown
# database alias -> how to empty it keeping the reference tables (_Plan); None: only Django's flush.
_plans: dict[str, _Plan | None] = {}


def _tables(connection) -> list[str]:
    """The tables Django's flush empties."""
    return sorted(connection.introspection.django_table_names(only_existing=True, include_views=False))


def _filled(connection, tables: list[str]) -> list[str]:
    qn = connection.ops.quote_name
    sql = " UNION ALL ".join(f"SELECT %s WHERE EXISTS (SELECT 1 FROM {qn(table)})" for table in tables)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, tables)
        return [name for (name,) in cursor.fetchall()]


def _digests(connection, tables) -> dict[str, str]:
    """md5 of each table's rows (every column, as text, in a fixed order): one query for all."""
    qn = connection.ops.quote_name
    sql = " UNION ALL ".join(
        f"SELECT %s, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {qn(table)} t"  # noqa: S608
        for table in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, list(tables))
        return dict(cursor.fetchall())


def _foreign_keys(connection) -> list[tuple[str, str]]:
    """(referencing table, referenced table) of every foreign key."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
                       "WHERE contype = 'f'")
        return cursor.fetchall()


class _Plan:
    """How to empty a database while keeping its reference tables: TRUNCATE all the other tables but
    those a kept table references (accounts_user: a rule version's author), which TRUNCATE refuses
    to empty; those, and what they reference in turn, are emptied with DELETE."""

    def __init__(self, connection, kept: list[str]) -> None:
        self.digests = _digests(connection, kept)
        tables, foreign_keys = _tables(connection), _foreign_keys(connection)
        self.delete = set()
        pending = set(kept)
        while pending:
            pending = {target for source, target in foreign_keys
                       if source in pending and target in tables and target not in kept and target not in self.delete}
            self.delete |= pending
        self.truncate = [t for t in tables if t not in kept and t not in self.delete]

    def run(self, connection) -> None:
        qn = connection.ops.quote_name
        statements = connection.ops.sql_flush(no_style(), self.truncate) if self.truncate else []
        # Django's foreign keys are checked at commit: the order of the DELETEs does not matter.
        statements += [f"DELETE FROM {qn(table)}" for table in sorted(self.delete)]  # noqa: S608
        connection.ops.execute_sql_flush(statements)


def _full_flush(connection, alias: str) -> None:
    call_command("flush", verbosity=0, interactive=False, database=alias, reset_sequences=False,
                 allow_cascade=False, inhibit_post_migrate=False)
    kept = _filled(connection, _tables(connection))
    _plans[alias] = _Plan(connection, kept) if connection.vendor == "postgresql" and kept else None


def _fixture_teardown(self) -> None:
    """TransactionTestCase._fixture_teardown: Django's flush, or the short one when post_migrate's rows
    are as it left them (see the module docstring)."""
    if self.available_apps is not None or self.serialized_rollback:
        return _django_fixture_teardown(self)
    for alias in self._databases_names(include_mirrors=False):
        connection = connections[alias]
        plan = _plans.get(alias)
        if plan is not None and _digests(connection, plan.digests) == plan.digests:
            plan.run(connection)
        else:
            _full_flush(connection, alias)
    return None


def install() -> None:
    """Use the short flush in every transactional test of this session (pytest-django's included)."""
    TransactionTestCase._fixture_teardown = _fixture_teardown
