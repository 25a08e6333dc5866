"""Browser look at the demo programme (issue 24, item 5): the overview splits automated from manual
coverage, and the SOC 2 and HIPAA engagement pages list every control with its status; and at the charts
anyone can read (issue 21, item 5): every status bar is drawn with its pattern over its colour, the trend
lines carry symbols, and an exception list with nothing expiring draws its calendar. One test, so the
demo is seeded once. Set PORTAL_SHOTS_DIR to keep full-page screenshots (the reviewer looks at them; the
assertions do not depend on them)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.common.palette import CONTROL_STATUS
from apps.engagements.models import Engagement
from apps.policy.models import Control
from tests.dashboard.demo_browser import shot as _shot
from tests.dashboard.demo_browser import sign_in as _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def _charts_are_patterned(page, base: str) -> None:
    """The overview's status bars carry patterns over the palette's colours, its trend lines symbols; the
    exception list draws its calendar."""
    page.goto(f"{base}/")
    coverage = page.locator("[data-chart=coverage-chart]")
    coverage.locator("svg").first.wait_for()
    assert coverage.get_attribute("data-rendered") == "true"
    # Plotly draws a bar pattern as an SVG <pattern> the bar's fill points to: one per patterned status.
    assert coverage.locator("pattern").count() >= 4
    legend = coverage.locator(".legendtext").all_text_contents()
    assert {"Passing", "Failing", "Missing evidence", "Excepted", "Not assessed"} <= set(legend)
    fills = page.evaluate(
        "() => [...document.querySelectorAll('[data-chart=coverage-chart] pattern rect')]"
        ".map(r => getComputedStyle(r).fill)"
    )
    assert _rgb(CONTROL_STATUS["fail"].colour) in fills  # the colour stays under the pattern
    trend = page.locator("[data-chart=trend-chart]")
    assert trend.locator("path.point").count() >= 1  # symbols on the lines, not colour alone
    _shot(page, "overview-palette")

    page.goto(f"{base}/exceptions/")
    page.locator("[data-chart=calendar-chart] svg").first.wait_for()
    assert page.locator("[data-chart=calendar-chart]").get_attribute("data-rendered") == "true"
    _shot(page, "exceptions-palette")


def test_the_demo_overview_and_engagement_pages_show_the_programme_with_readable_charts(
    live_server, browser, settings
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo")
    base = live_server.url

    officer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _sign_in(officer, base, "compliance")
    officer.goto(f"{base}/")
    assert officer.locator("[data-chart=assessment-chart]").count() == 1
    _shot(officer, "overview")
    _charts_are_patterned(officer, base)

    auditor = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _sign_in(auditor, base, "auditor")
    for code, name in (("soc2", "soc2-engagement"), ("hipaa", "hipaa-engagement")):
        engagement = Engagement.objects.get(frameworks=[code])
        auditor.goto(f"{base}{engagement.get_absolute_url()}")
        rows = auditor.locator(f"#controls-{code} tr[data-control]")
        assert rows.count() == Control.objects.filter(framework__code=code).count()
        assert auditor.locator(f"#controls-{code} tr[data-status=fail]").count() >= 1
        _shot(auditor, name)
