"""Browser look at the demo programme (issue 24, item 5): the overview splits automated from manual
coverage, and the SOC 2 and HIPAA engagement pages list every control with its status. Set
PORTAL_SHOTS_DIR to keep full-page screenshots (the reviewer looks at them; the assertions do not
depend on them)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.engagements.models import Engagement
from apps.policy.models import Control
from tests.dashboard.demo_browser import shot as _shot
from tests.dashboard.demo_browser import sign_in as _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



def test_the_demo_overview_and_engagement_pages_show_the_programme(live_server, browser, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo")
    base = live_server.url

    officer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _sign_in(officer, base, "compliance")
    officer.goto(f"{base}/")
    assert officer.locator("[data-chart=assessment-chart]").count() == 1
    _shot(officer, "overview")

    auditor = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _sign_in(auditor, base, "auditor")
    for code, name in (("soc2", "soc2-engagement"), ("hipaa", "hipaa-engagement")):
        engagement = Engagement.objects.get(frameworks=[code])
        auditor.goto(f"{base}{engagement.get_absolute_url()}")
        rows = auditor.locator(f"#controls-{code} tr[data-control]")
        assert rows.count() == Control.objects.filter(framework__code=code).count()
        assert auditor.locator(f"#controls-{code} tr[data-status=fail]").count() >= 1
        _shot(auditor, name)
