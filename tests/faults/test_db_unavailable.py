"""Which database errors become 503 (compliance_portal/db_unavailable.py), and the schema saying so.
The middleware itself is exercised against a real PostgreSQL restart in test_postgres_restart.py."""

from __future__ import annotations

import psycopg
import pytest
from django.db import DataError, InterfaceError, OperationalError
from drf_spectacular.generators import SchemaGenerator

from compliance_portal.db_unavailable import is_database_unavailable


def _django_error(cls, cause):
    error = cls(str(cause))
    error.__cause__ = cause
    return error


@pytest.mark.parametrize("cause", [
    psycopg.OperationalError("connection failed: Connection refused"),  # raised by the client: no SQLSTATE
    psycopg.errors.AdminShutdown("terminating connection due to administrator command"),  # 57P01
    psycopg.errors.CannotConnectNow("the database system is starting up"),  # 57P03
    psycopg.errors.ConnectionFailure("connection failure"),  # 08006
])
def test_an_unreachable_or_restarting_database_is_unavailable(cause):
    assert is_database_unavailable(_django_error(OperationalError, cause))


def test_a_closed_connection_is_unavailable():
    assert is_database_unavailable(InterfaceError("connection already closed"))


@pytest.mark.parametrize("error", [
    _django_error(OperationalError, psycopg.errors.QueryCanceled("canceling statement due to statement timeout")),
    _django_error(DataError, psycopg.errors.InvalidTextRepresentation("invalid input syntax")),
    ValueError("not a database error"),
])
def test_other_errors_are_not_called_unavailable(error):
    assert not is_database_unavailable(error)


def test_every_api_operation_documents_the_503():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    github = schema["paths"]["/api/v1/ingest/github"]["post"]["responses"]["503"]
    assert "Retry-After" in github["headers"]
    assert github["content"]["application/json"]["schema"]["required"] == ["error"]
    operations = [op for path, ops in schema["paths"].items() if path.startswith("/api/") for op in ops.values()]
    assert operations and all("503" in op["responses"] for op in operations)
