"""An admin filters the evidence browser to failures, opens one, and sees its sha256."""

import pytest
from playwright.sync_api import expect

from apps.accounts.roles import Role
from apps.evidence.models import Evidence
from apps.ingest.services import receipt_accept, receipt_parse, source_create
from tests.conftest import TEST_PASSWORD
from tests.ingest.conftest import COMMIT, fixture_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_filters_failing_evidence_and_opens_one(live_server, page, make_user):
    ci = source_create(actor="system:test", kind="generic-ci", name="ci")
    for fixture in ("junit_pytest.xml", "cyclonedx_py_env.cdx.json"):
        receipt, _ = receipt_accept(
            source=ci.source,
            channel="upload",
            body=fixture_bytes(fixture),
            subject=COMMIT,
            filename=fixture,
            enqueue=False,
        )
        receipt_parse(receipt_id=receipt.pk)
    failing = Evidence.objects.get(verdict="fail")
    admin = make_user(Role.ADMIN)

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.locator("nav[aria-label=Main] [data-nav=evidence]").click()
    page.wait_for_url(f"{live_server.url}/evidence/")
    assert page.locator("#results tbody tr").count() == 2

    page.get_by_label("Verdict").select_option("fail")  # htmx swaps the results in place
    # (a locator, not wait_for_function: the CSP forbids evaluating strings as script, Playwright's too)
    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert "verdict=fail" in page.url
    page.locator("#results tbody tr a").first.click()
    page.wait_for_url(f"{live_server.url}/evidence/{failing.pk}/")
    assert page.locator("[data-sha256]").inner_text() == failing.sha256
