"""Issue 21, item 6: an unknown address shows the portal's styled 404 page, with its navigation, in Chromium."""

import os
from pathlib import Path

import pytest

from apps.accounts.roles import Role
from tests.conftest import TEST_PASSWORD
from tests.engagements.conftest import world  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Set to a folder to keep the screenshots (the closing note shows them).
SHOTS = os.environ.get("PORTAL_SCREENSHOT_DIR")


def _sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def _shot(page, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


def test_an_unknown_address_shows_the_styled_404_page_with_navigation(live_server, page, make_user):
    user = make_user(Role.ENGINEER)
    _sign_in(page, live_server, user.username)
    response = page.goto(f"{live_server.url}/no-such-page/")
    assert response.status == 404
    assert page.get_by_role("heading", name="Page not found").is_visible()
    nav = page.locator("nav[aria-label=Main]")
    assert nav.is_visible() and nav.locator("[data-nav=evidence]").is_visible()
    _shot(page, "404.png")
    nav.locator("[data-nav=evidence]").click()
    page.wait_for_url(f"{live_server.url}/evidence/")
    assert page.get_by_role("heading", name="Evidence", exact=True).is_visible()


def test_an_auditors_evidence_page_offers_only_their_systems(live_server, page, world):  # noqa: F811
    auditor = world.auditor_in
    auditor.set_password(TEST_PASSWORD)
    auditor.save(update_fields=["password"])
    _sign_in(page, live_server, auditor.username)
    page.goto(f"{live_server.url}/evidence/")
    options = page.locator("select[name=system] option").all_inner_texts()
    assert options == ["Any", world.system_in.name]
    _shot(page, "evidence-auditor.png")
