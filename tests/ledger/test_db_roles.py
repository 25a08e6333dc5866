"""Issue 19, gap 5: the database guard holds against the portal's own role, not only against mistakes.

In the prod profile the portal connects as a role that is not a superuser and owns nothing; a
separate migration role owns the schema and grants it (`manage.py db_grant_app_role`). These tests
create such roles in the test's PostgreSQL and act as them with SET ROLE."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from apps.ledger.services import ledger_integrate_all, ledger_record

pytestmark = pytest.mark.django_db

LEDGER_TABLES = ("ledger_entry", "ledger_node", "ledger_checkpoint")
# Every rewrite of the ledger tables, as the app role would try it.
REWRITES = [
    "UPDATE ledger_entry SET action = 'x'",
    "UPDATE ledger_node SET hash = 'x'",
    "UPDATE ledger_checkpoint SET note = 'x'",
    "DELETE FROM ledger_entry",
    "DELETE FROM ledger_node",
    "DELETE FROM ledger_checkpoint",
    "TRUNCATE ledger_entry",
    "TRUNCATE ledger_node",
    "TRUNCATE ledger_checkpoint",
]


class _RolledBack(Exception):
    pass


def as_role(role: str, sql: str) -> str | None:
    """Run `sql` as `role` with the truncate escape set; None when it ran (then rolled back), else the error."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f'SET LOCAL ROLE "{role}"')
            cursor.execute("SET LOCAL portal.ledger_allow_truncate = 'on'")
            cursor.execute(sql)
            raise _RolledBack  # leave nothing changed, and the role and setting undone
    except _RolledBack:
        return None
    except DatabaseError as exc:
        return str(exc)


@pytest.fixture
def ledger_rows(db):
    with transaction.atomic():
        ledger_record(actor="system:test", action="test.recorded", data={"n": 1})
    ledger_integrate_all()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ledger_entry")
        assert cursor.fetchone()[0] >= 1


@pytest.fixture
def role(db):
    """Make a role (NOLOGIN here; LOGIN in a deployment) and drop it, with its grants, afterwards."""
    made = []

    def make(prefix: str, *attributes: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE ROLE "{name}" NOSUPERUSER NOCREATEDB NOCREATEROLE {" ".join(attributes)}')
        made.append(name)
        return name

    yield make
    with connection.cursor() as cursor:
        for name in made:
            cursor.execute(f'DROP OWNED BY "{name}"')
            cursor.execute(f'DROP ROLE "{name}"')


def test_the_app_role_granted_for_prod_refuses_update_delete_and_truncate_even_with_the_setting(ledger_rows, role):
    app = role("portal_app_test")
    call_command("db_grant_app_role", app)
    for sql in REWRITES:
        error = as_role(app, sql)
        assert error is not None, f"{sql!r} ran as the app role"
        assert "permission denied" in error or "append-only" in error, error
    # It still does its work: records (pending rows), reads the log, sequences (deletes pending rows).
    assert as_role(app, "SELECT count(*) FROM ledger_entry") is None
    assert as_role(app, "DELETE FROM ledger_pending") is None
    assert as_role(app, "SELECT count(*) FROM evidence_evidence") is None


def test_the_app_role_is_no_superuser_and_owns_nothing(role):
    app = role("portal_app_test")
    call_command("db_grant_app_role", app)
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [app])
        assert cursor.fetchone() == (False,)
        cursor.execute("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)",
                       [app])
        assert cursor.fetchone() == (0,)


def test_a_role_holding_truncate_but_no_superuser_cannot_use_the_truncate_escape(ledger_rows, role):
    """Even a role granted TRUNCATE (a mistaken grant) gets no escape: the trigger honours the setting
    only for superusers, which only the test profile connects as."""
    granted = role("portal_granted_test")
    with connection.cursor() as cursor:
        cursor.execute(f'GRANT USAGE ON SCHEMA public TO "{granted}"')
        for table in LEDGER_TABLES:
            cursor.execute(f'GRANT SELECT, UPDATE, DELETE, TRUNCATE ON {table} TO "{granted}"')
    for table in LEDGER_TABLES:
        error = as_role(granted, f"TRUNCATE {table}")
        assert error is not None and "append-only" in error, f"TRUNCATE {table}: {error}"
    assert "append-only" in (as_role(granted, "DELETE FROM ledger_entry") or "")


def test_the_test_profiles_superuser_connection_still_may_truncate(ledger_rows):
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (True,)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL portal.ledger_allow_truncate = 'on'")
            cursor.execute("TRUNCATE ledger_entry, ledger_node, ledger_checkpoint")
            raise _RolledBack
    except _RolledBack:
        pass


def test_the_prod_role_check_names_a_superuser_and_passes_the_granted_app_role(role):
    from apps.ledger.dbroles import db_role_problems

    assert any("superuser" in p for p in db_role_problems())  # the test profile's own connection
    app = role("portal_app_test")
    call_command("db_grant_app_role", app)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{app}"')
        assert db_role_problems() == []
        cursor.execute("RESET ROLE")


def test_the_prod_profile_check_refuses_a_superuser_connection(settings):
    from django.core import checks

    settings.PROFILE = "prod"
    errors = [e for e in checks.run_checks(tags=[checks.Tags.database], databases=["default"])
              if e.id == "ledger.W001"]
    assert errors and "superuser" in errors[0].msg
    settings.PROFILE = "test"
    assert not [e for e in checks.run_checks(tags=[checks.Tags.database], databases=["default"])
                if e.id == "ledger.W001"]
