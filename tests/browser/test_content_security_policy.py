"""Pages work under the Content Security Policy (no inline script, no eval): Chromium reports no violation."""

import pytest

from apps.accounts.roles import Role
from tests.conftest import TEST_PASSWORD
from tests.engagements.conftest import world  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = [
    "/",
    "/systems/",
    "/evidence/",
    "/engagements/",
    "/search/?q=pytest",
    "/ledger/",
    "/sources/",
    "/receipts/",
    "/accounts/notifications/",
    "/accounts/mfa/setup/",
    "/api/docs/",
    "/admin/",
    "/engagements/requests/",
    "/controls/",
    "/exceptions/",
    "/releases/",
    "/retention/",
]


def test_pages_raise_no_csp_violation_in_chromium(live_server, page, make_user, world):  # noqa: F811
    admin = make_user(Role.ADMIN)
    violations = []
    page.on(
        "console", lambda msg: "Content Security Policy" in msg.text and violations.append(f"{page.url}: {msg.text}")
    )
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.wait_for_selector("[data-chart][data-rendered=true]")  # Plotly drew without 'unsafe-eval'
    for path in PAGES:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/evidence/{world.evidence_in.pk}/")
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .information-container", timeout=15000)  # Swagger UI ran, from files
    assert not violations, "\n".join(violations)
