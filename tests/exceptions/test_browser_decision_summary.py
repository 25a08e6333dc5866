"""Issue 18, in Chromium at 1366x768: a risk owner opens a critical exception from the inbox, reads
the summary (what is accepted, for how long, what approving unblocks) without scrolling, then
approves after step-up re-authentication and sees the decision recorded.

The marketing site's release 2.4.0 is blocked only by its missing SBOM, failing three controls
(and those mapped from them); all but one are excepted, so approving it lets the release through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from apps.evidence.models import Artifact
from apps.exceptions.models import Approval, ExceptionRequest
from apps.policy.services import policy_evaluate
from tests.approvals.helpers import ledger_entries
from tests.conftest import TEST_PASSWORD
from tests.exceptions.test_decision_gate_impact import RELEASE, approve, other_sbom_controls, request_on
from tests.policy.conftest import marketing  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1366, "height": 768}
SHOTS = os.environ.get("PORTAL_SHOTS_DIR", "")  # set to keep full-page screenshots of the page


@pytest.fixture
def critical(marketing, owners):  # noqa: F811
    system = marketing["system"]
    system.risk_owners.set([owners["risk_owner"]])
    system.engineering_owners.set([owners["engineer"]])
    site = {"system": system}
    policy_evaluate()  # everything: also answers the evaluation requests the pushes left
    for control in sorted(other_sbom_controls(Artifact.objects.get(uri=RELEASE))):
        approve(request_on(control, site, owners), owners)
    policy_evaluate(system_ids=[system.pk])
    req = request_on("soc2-cc6-8", site, owners, rating=(5, 5))
    assert req.tier == ExceptionRequest.Tier.CRITICAL and req.status == ExceptionRequest.Status.PENDING
    return req


def test_a_risk_owner_reads_the_summary_on_the_first_screen_and_approves_after_step_up(
    browser, live_server, owners, critical
):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(owners["risk_owner"].username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")

    # From the inbox to the request.
    approvals = page.locator("nav[aria-label=Main] [data-nav=approvals]")
    assert int(approvals.locator(".badge").inner_text()) >= 1  # the menu counts what waits for them
    approvals.click()
    page.locator(f'[data-inbox="{critical.pk}"]').get_by_role("link", name="Review and decide").click()
    page.wait_for_url(f"{live_server.url}/exceptions/{critical.pk}/")

    # The summary is inside the first viewport, without scrolling.
    assert page.evaluate("window.scrollY") == 0
    for part in ("[data-summary-accepted]", "[data-summary-duration]", "[data-summary-unblocks]"):
        box = page.locator(part).bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], (part, box)
    # ... and so is the way to decide: no scrolling between reading and deciding.
    button = page.get_by_role("link", name="Re-authenticate to decide").bounding_box()
    assert button is not None and button["y"] + button["height"] <= VIEWPORT["height"], button
    unblocks = page.locator("[data-summary-unblocks]").inner_text()
    assert "Lets 1 subject through the gate" in unblocks and "2.4.0" in unblocks
    assert "left" in page.locator("[data-summary-duration]").inner_text()
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/exception-decision-page.png", full_page=True)

    # Step-up re-authentication, then approve.
    page.get_by_role("link", name="Re-authenticate to decide").click()
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{live_server.url}/exceptions/{critical.pk}/")
    page.get_by_label("Comment").fill("Accepted until the SBOM step moves to the new build system.")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector("text=is recorded in the ledger")
    assert "✔ " + owners["risk_owner"].display_name in page.locator("#decision-panel").inner_text()
    context.close()

    approval = Approval.objects.get(request=critical, approver=owners["risk_owner"], voided_at__isnull=True)
    assert approval.decision == Approval.Decision.APPROVE and approval.request_digest == critical.digest()
    [entry] = ledger_entries(action="exception.approval_recorded", object_id=critical.pk)
    assert entry["actor"]["id"] == str(owners["risk_owner"].pk)
