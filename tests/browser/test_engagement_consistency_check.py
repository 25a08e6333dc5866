"""Issue 19, gap 2: on an engagement's page the auditor checks, in the browser, that nothing was rewritten since
the engagement opened (RFC 9162 consistency, recomputed by the page's script from the inputs it shows)."""

import json

import pytest

from tests.conftest import TEST_PASSWORD
from tests.engagements.test_engagement_consistency import opened  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_page_checks_the_consistency_proof_and_catches_a_changed_one(live_server, page, opened):  # noqa: F811
    auditor = opened["auditor"]
    auditor.set_password(TEST_PASSWORD)
    auditor.save(update_fields=["password"])
    console_errors = []
    page.on("console", lambda msg: msg.type == "error" and console_errors.append(msg.text))
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(auditor.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/engagements/{opened['engagement'].pk}/")
    page.get_by_role("heading", name="Verify that nothing was rewritten since the engagement opened").wait_for()
    page.get_by_role("button", name="Check the proof in this page").click()
    page.wait_for_selector("#consistency-result[data-result=ok]")
    assert f"size {opened['latest'].size} extends size {opened['at_open'].size}" in page.inner_text(
        "#consistency-result")

    # the same page with one proof hash changed: the script must say so
    data = json.loads(page.inner_text("#consistency-data"))
    data["proof"][0] = "A" * 43 + "="
    page.evaluate("text => { document.getElementById('consistency-data').textContent = text; }", json.dumps(data))
    page.get_by_role("button", name="Check the proof in this page").click()
    page.wait_for_selector("#consistency-result[data-result=failed]")
    assert "NOT consistent" in page.inner_text("#consistency-result")
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors  # the script ran
