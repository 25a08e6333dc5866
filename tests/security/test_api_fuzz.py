"""Fuzz the REST API from its own OpenAPI schema (schemathesis) against a real server on loopback.

Every operation gets a bounded number of generated requests (PORTAL_FUZZ_EXAMPLES, default 12),
as a signed-in compliance officer with a source's bearer token for the ingestion endpoints.
Checked: no 5xx, and every documented response matches its schema and content type.
"""

from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from django.test import Client
from django.utils.crypto import get_random_string
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from apps.accounts.roles import Role

EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "12"))
INGEST_PREFIXES = ("/api/v1/ingest/",)

pytestmark = [pytest.mark.django_db(transaction=True)]


def api_schema():
    document = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(document)


@pytest.fixture
def api_session(live_server, make_user):
    from apps.ingest.services import source_create
    from apps.inventory.models import System

    System.objects.get_or_create(slug="payments-api", defaults={"name": "Payments API", "risk_tier": "high"})
    officer = make_user(Role.COMPLIANCE_OFFICER)
    client = Client()
    client.force_login(officer)
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    # Writes with a session need the CSRF pair, or every POST would stop at 403 before any code under test.
    csrf = get_random_string(32)
    session.cookies.set("csrftoken", csrf)
    session.headers["X-CSRFToken"] = csrf
    token = source_create(actor="system:fuzz", kind="generic-ci", name="fuzz").token
    return live_server.url, session, token


def _fuzz(operation, base_url, session, token) -> None:
    headers = {}
    if operation.path.startswith(INGEST_PREFIXES) or (
        operation.path == "/api/v1/evidence" and operation.method == "post"
    ):
        headers["Authorization"] = f"Bearer {token}"

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(case):
        case.call_and_validate(
            base_url=base_url,
            session=session,
            headers=headers,
            timeout=30,
            checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
        )

    run()


def test_api_answers_fuzzed_requests_without_server_errors_and_as_documented(api_session):
    base_url, session, token = api_session
    failures, tried = [], []
    for result in api_schema().get_all_operations():
        operation = result.ok()
        tried.append(f"{operation.method.upper()} {operation.path}")
        try:
            _fuzz(operation, base_url, session, token)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - every operation is tried; all failures are reported together
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert len(tried) >= 10, tried
    assert not failures, "\n\n".join(failures)
