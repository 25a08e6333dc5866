"""Issue 21, item 6: styled 403, 404 and 500 pages with navigation; JSON errors for every /api/ path."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from compliance_portal import api as errors
from tests.engagements.conftest import world  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db


def _has_navigation(body: str) -> bool:
    return '<nav class="sidenav" aria-label="Main">' in body and 'href="/evidence/"' in body


def test_an_unknown_page_answers_a_styled_404_with_navigation(client, engineer):
    client.force_login(engineer)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "404.html" in [t.name for t in response.templates]
    body = response.content.decode()
    assert "Page not found" in body and _has_navigation(body)


def test_an_object_outside_the_users_scope_gets_the_same_404_page(client, world):  # noqa: F811
    client.force_login(world.auditor_in)
    response = client.get(f"/evidence/{world.evidence_out.pk}/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_a_refused_page_answers_a_styled_403_with_navigation(client, engineer):
    client.force_login(engineer)
    response = client.get("/systems/new/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "Not allowed" in body and _has_navigation(body)


def test_a_server_error_answers_a_styled_500_page_with_navigation(engineer):
    request = RequestFactory().get("/evidence/")
    request.user = engineer
    response = errors.server_error(request)
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body and 'href="/"' in body


def test_a_server_error_page_renders_even_without_a_request_user():
    response = errors.server_error(RequestFactory().get("/evidence/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/api/no-such-version/evidence", "/api/", "/api"])
def test_an_unknown_api_path_answers_a_json_404(client, engineer, path):
    client.force_login(engineer)
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert "error" in response.json()


@pytest.mark.parametrize(
    "handler,status", [(errors.server_error, 500), (errors.permission_denied, 403), (errors.bad_request, 400)]
)
def test_every_error_under_api_answers_json(handler, status):
    request = RequestFactory().get("/api/v1/evidence")
    response = handler(request) if handler is errors.server_error else handler(request, Exception("no"))
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert set(json.loads(response.content)) == {"error"}


def test_an_unknown_api_path_answers_json_to_anonymous_callers_too(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404 and "error" in response.json()


def test_a_post_to_an_api_path_without_its_trailing_slash_answers_json_not_an_html_redirect(client, engineer):
    """CommonMiddleware's APPEND_SLASH answered a 301 with an HTML body, and the client's retry became a GET."""
    client.force_login(engineer)
    response = client.post("/api/v1/systems", data={"name": "x"}, content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"error": "no API endpoint at /api/v1/systems; did you mean /api/v1/systems/?"}


def test_a_get_to_an_api_path_without_its_trailing_slash_still_redirects_to_it(client, engineer):
    client.force_login(engineer)
    response = client.get("/api/v1/systems")
    assert response.status_code == 301 and response["Location"] == "/api/v1/systems/"


def test_a_method_the_schema_endpoint_refuses_answers_json_not_openapi_yaml(client, engineer):
    """The schema view renders YAML; its 405 said 'error: Method "POST" not allowed.' as an OpenAPI document."""
    client.force_login(engineer)
    response = client.post("/api/schema/")
    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"error": 'Method "POST" not allowed.'}


def test_a_form_posted_without_its_csrf_token_answers_the_styled_403_with_navigation(engineer):
    """Django's own CSRF failure page is a bare one without the portal's frame or a way on."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(engineer)
    response = client.post("/accounts/notifications/read/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "Not allowed" in body and _has_navigation(body)
    assert "reload the page" in body


def test_a_csrf_failure_under_api_answers_json():
    request = RequestFactory().post("/api/v1/packs")
    response = errors.csrf_failure(request, reason="CSRF cookie not set.")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content) == {"error": "CSRF check failed: CSRF cookie not set."}
