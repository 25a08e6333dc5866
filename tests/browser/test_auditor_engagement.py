"""An auditor works an engagement end to end in Chromium, then loses access when its window closes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.accounts.services import user_create
from apps.engagements.models import Engagement, EvidenceRequest
from apps.engagements.selectors import engagement_access_log
from apps.engagements.services import engagement_end_due
from tests.conftest import TEST_PASSWORD
from tests.engagements.conftest import world  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_auditor_browses_searches_requests_evidence_and_loses_access_at_the_end(live_server, page, world):  # noqa: F811
    user_create(username="eng", password=None, roles=[Role.ENGINEER], first_name="Erin", last_name="Eng")
    auditor = world.auditor_in
    auditor.set_password(TEST_PASSWORD)
    auditor.save(update_fields=["password"])
    console_errors = []
    page.on("console", lambda msg: msg.type == "error" and console_errors.append(f"{page.url}: {msg.text}"))
    base = live_server.url

    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(auditor.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")

    # the engagement, then the evidence in scope only
    page.locator("nav[aria-label=Main] [data-nav=engagements]").click()
    page.get_by_role("link", name=world.engagement.name).click()
    page.wait_for_url(f"{base}/engagements/{world.engagement.pk}/")
    page.get_by_role("link", name="Browse the evidence in scope").click()
    assert page.locator("#results tbody tr").count() == 1
    assert world.evidence_in.title[:30] in page.locator("#results").inner_text()

    # search finds what is in scope and nothing else
    page.goto(f"{base}/search/?q=pytest")
    assert page.locator("[data-hit]").count() >= 1
    page.goto(f"{base}/search/?q=credit")
    assert page.locator("[data-hit]").count() == 0

    # raise an evidence request
    page.goto(f"{base}/engagements/{world.engagement.pk}/")
    page.get_by_role("link", name="Request evidence").click()
    page.get_by_label("System").select_option(str(world.system_in.pk))
    page.get_by_label("Control").fill("soc2 CC8.1")
    page.get_by_label("What is needed").fill("Change approvals for the quarter")
    page.get_by_label("Due date").fill((timezone.localdate() + timedelta(days=7)).isoformat())
    page.get_by_label("Assignee").select_option(label="Erin Eng (eng)")
    page.get_by_role("button", name="Send request").click()
    page.wait_for_selector("[data-status=open]")
    assert EvidenceRequest.objects.filter(control_ref="soc2 CC8.1", assignee__username="eng").exists()

    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors

    # the access window closes (the clock moves past access_end): the open session loses everything
    Engagement.objects.filter(pk=world.engagement.pk).update(access_end=timezone.now())
    page.goto(f"{base}/evidence/{world.evidence_in.pk}/")
    assert page.title().startswith("Not Found") or "Not Found" in page.content()
    page.goto(f"{base}/evidence/")
    assert page.locator("#results tbody tr td.muted").count() == 1  # "No evidence matches."
    page.goto(f"{base}/engagements/")
    assert "You have no open engagement" in page.content()
    assert engagement_end_due() >= 1  # the beat task records engagement.ended

    paths = [r["path"] for r in engagement_access_log(engagement=world.engagement)]
    assert "/search/?q=pytest" in paths and f"/engagements/{world.engagement.pk}/requests/new/" in paths
