"""Each role signs in through the real login page in headless Chromium and sees its navigation."""

import pytest

from apps.accounts.roles import Role
from tests.conftest import TEST_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXPECTED_NAV = {
    Role.ADMIN: {"home", "systems", "evidence", "controls", "exceptions", "packs", "ledger", "engagements",
                 "sources", "admin"},
    Role.COMPLIANCE_OFFICER: {"home", "systems", "evidence", "controls", "exceptions", "approvals", "packs",
                              "ledger", "engagements"},
    Role.RISK_OWNER: {"home", "systems", "evidence", "controls", "exceptions", "approvals"},
    Role.ENGINEER: {"home", "systems", "evidence", "controls", "exceptions"},
    # An auditor with no open engagement: the ledger would answer 403, so the menu does not offer it
    # (tests/dashboard/test_navigation.py covers the auditor whose engagement is open).
    Role.AUDITOR: {"home", "systems", "evidence", "controls", "exceptions", "packs", "engagements"},
}
# Release sign-off (issue 12): everyone reads sign-offs; retention is for admins and compliance officers.
for _role, _keys in EXPECTED_NAV.items():
    _keys.add("releases")
    if _role in (Role.ADMIN, Role.COMPLIANCE_OFFICER):
        _keys.add("retention")
# Auditor access (issue 9): everyone searches; the system side answers evidence requests.
for _role, _keys in EXPECTED_NAV.items():
    _keys.add("search")
    if _role != Role.AUDITOR:
        _keys.add("requests")
ALL_KEYS = set().union(*EXPECTED_NAV.values())


@pytest.mark.parametrize("role", list(EXPECTED_NAV))
def test_role_signs_in_and_sees_only_its_navigation(live_server, page, make_user, role):
    user = make_user(role, first_name="Pat", last_name="Lee")
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")

    shown = set(page.locator("nav[aria-label=Main] [data-nav]").evaluate_all("els => els.map(e => e.dataset.nav)"))
    assert shown == EXPECTED_NAV[role]
    assert not (ALL_KEYS - EXPECTED_NAV[role]) & shown
    assert page.get_by_text("Pat Lee").is_visible()
    # The risk chart is drawn by the Plotly bundle served from our own static files.
    page.wait_for_selector("[data-chart][data-rendered=true]")


def test_wrong_password_shows_an_error_and_stays_on_login(live_server, page, engineer):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(engineer.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    assert "/accounts/login/" in page.url
