"""Issue 21, item 6: the portal is usable at 390 px wide (a phone), for every role.

Each role signs in through the login page at 390x844 and opens representative pages; none of them
scrolls the page sideways (tables scroll inside their own box, long values wrap), and the navigation
starts collapsed behind a menu button that opens it from the keyboard.
"""

import pytest

from apps.accounts.roles import Role
from apps.policy.services import coverage_snapshot
from tests.conftest import TEST_PASSWORD
from tests.engagements.conftest import open_engagement, world  # noqa: F401 - fixture
from tests.engagements.test_workspace import REF, control_with_evidence

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
ROLES = [Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.RISK_OWNER, Role.ENGINEER, Role.AUDITOR]
# Pages every role reads, then the ones only some roles find in their navigation.
EVERYONE = ["/", "/evidence/", "/controls/", "/controls/soc2-cc7-1/", "/exceptions/", "/search/?q=pytest"]
AUDIT_SIDE = ["/ledger/", "/packs/", "/engagements/"]
NAV_LINK = "nav[aria-label=Main] [data-nav=evidence]"


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, url, user):
    page.goto(f"{url}/accounts/login/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")


def widest(page) -> list[str]:
    """Elements reaching past the window's right edge outside any scrolling box, to say what to fix."""
    return page.locator("body *").evaluate_all(
        "els => els.filter(e => { if (e.getBoundingClientRect().right <= window.innerWidth) return false;"
        " for (let a = e.parentElement; a; a = a.parentElement) {"
        " if (getComputedStyle(a).overflowX !== 'visible') return false; } return true; })"
        ".slice(-3).map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').trim().slice(0, 40))"
    )


def pages_for(role, evidence, engagement):
    paths = [*EVERYONE, f"/evidence/{evidence.pk}/"]
    if role in (Role.ADMIN, Role.COMPLIANCE_OFFICER, Role.AUDITOR):
        # the workspace of a control whose evidence has a row per piece, each with its flag form
        paths += [*AUDIT_SIDE, f"/engagements/{engagement.pk}/", f"/engagements/{engagement.pk}/controls/{REF}/"]
    return paths


@pytest.mark.parametrize("role", ROLES)
def test_every_role_uses_the_portal_at_390_px_without_sideways_scrolling(live_server, phone, make_user, world,  # noqa: F811
                                                                        role):
    control_with_evidence(world)  # evaluates the policy; soc2-cc8-1's result used evidence in the window
    coverage_snapshot()  # the home page then carries the overview's framework rollup and charts
    user = make_user(role)
    engagement = world.engagement
    if role == Role.AUDITOR:  # an auditor reads evidence through an engagement that covers it
        engagement = open_engagement(world.officer, auditors=[user], systems=[world.system_in], name="Phone audit")
    sign_in(phone, live_server.url, user)

    too_wide = []
    for path in pages_for(role, world.evidence_in, engagement):
        response = phone.goto(f"{live_server.url}{path}")
        assert response.ok, f"{path}: {response.status}"
        phone.wait_for_load_state("networkidle")
        widths = phone.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1]:
            too_wide.append(f"{path}: page is {widths[0]} px wide in a {widths[1]} px window, by {widest(phone)}")
    assert not too_wide, "\n".join(too_wide)


def test_the_navigation_is_collapsed_on_a_phone_and_opens_from_the_keyboard(live_server, phone, make_user):
    sign_in(phone, live_server.url, make_user(Role.ENGINEER))
    menu = phone.locator("summary", has_text="Menu")
    assert menu.is_visible()
    assert not phone.locator(NAV_LINK).is_visible()

    menu.focus()
    phone.keyboard.press("Enter")
    assert phone.locator(NAV_LINK).is_visible()
    phone.locator(NAV_LINK).click()
    phone.wait_for_url(f"{live_server.url}/evidence/")
    assert not phone.locator(NAV_LINK).is_visible()  # the next page starts collapsed again
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_navigation_stays_a_sidebar_on_a_desktop(live_server, page, make_user):
    sign_in(page, live_server.url, make_user(Role.ENGINEER))
    assert page.locator(NAV_LINK).is_visible()
    assert not page.locator("summary", has_text="Menu").is_visible()
