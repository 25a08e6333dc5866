"""The whole flow in Chromium: an engineer requests, the risk owner re-authenticates and approves,
the compliance officer approves (high tier), and the control shows excepted."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.exceptions.models import ExceptionRequest
from tests.conftest import TEST_PASSWORD
from tests.exceptions.conftest import CONTROL, control_status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(browser, live_server, user):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")
    return context, page


def test_request_reauthenticate_approve_twice_and_the_control_is_excepted(
    browser, live_server, owners, system, control
):
    # 1. The engineer requests, seeing the tier, its cap and the chain before submitting.
    ctx, page = sign_in(browser, live_server, owners["engineer"])
    page.goto(f"{live_server.url}/exceptions/new/?system={system.slug}&control={CONTROL}")
    page.get_by_label("Likelihood").select_option("3")
    page.get_by_label("Impact").select_option("4")
    page.wait_for_selector('#preview [data-tier="high"]')
    assert "Compliance officer" in page.locator("#preview [data-chain]").inner_text()
    page.get_by_label("Justification").fill("The DPIA is being rewritten by the new DPO this quarter.")
    page.get_by_label("Compensating controls").fill("Data minimised; access limited to two analysts.")
    page.get_by_label("Expires on").fill((timezone.now() + timedelta(days=20)).date().isoformat())
    page.get_by_role("button", name="Submit for approval").click()
    page.wait_for_selector("text=submitted for approval")
    req = ExceptionRequest.objects.get()
    assert req.status == ExceptionRequest.Status.PENDING and req.tier == "high"
    ctx.close()

    # 2. and 3. Each approver finds it in the inbox, re-authenticates and approves.
    for who in ("risk_owner", "compliance"):
        ctx, page = sign_in(browser, live_server, owners[who])
        approvals = page.locator("nav[aria-label=Main] [data-nav=approvals]")
        assert int(approvals.locator(".badge").inner_text()) >= 1  # the menu counts what waits for them
        approvals.click()
        page.get_by_role("link", name="Review and decide").click()
        page.get_by_role("link", name="Re-authenticate to decide").click()
        page.get_by_label("Password").fill(TEST_PASSWORD)
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_url(f"{live_server.url}/exceptions/{req.pk}/")
        page.get_by_label("Comment").fill(f"Accepted by {who} until the DPIA lands.")
        page.get_by_role("button", name="Approve").click()
        page.wait_for_selector("text=is recorded in the ledger")
        ctx.close()

    # 4. The control shows excepted.
    ctx, page = sign_in(browser, live_server, owners["engineer"])
    page.goto(f"{live_server.url}/exceptions/{req.pk}/")
    assert "Approved (active)" in page.locator("main").inner_text()
    assert page.locator('[data-status="excepted"]').count() >= 1
    assert control_status(control, system) == {"excepted"}
    ctx.close()
