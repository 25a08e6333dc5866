"""Done-when of issue 12: a production release of a high-risk model cannot pass the gate until
two risk owners other than its author have signed it off in the browser."""

from __future__ import annotations

import pytest

from apps.releases.models import ReleaseSignoff
from apps.releases.services import release_classify, release_gate_items
from tests.conftest import TEST_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(page, base, user):
    page.context.clear_cookies()
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def _gate(client, artifact) -> dict:
    return client.get(f"/api/v1/gates/{artifact.pk}", {"environment": "prod"}).json()


def _signoff_blocks(body) -> list:
    return [i for i in body["failing"] if i["control"] == "release-signoff"]


def _sign_in_browser(page, base, user, signoff):
    _login(page, base, user)
    page.goto(f"{base}/exceptions/inbox/")
    page.locator(f"[data-release-inbox='{signoff.pk}'] a").first.click()
    page.wait_for_url(f"{base}/releases/{signoff.pk}/")
    page.get_by_role("link", name="Re-authenticate to decide").click()
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"{base}/releases/{signoff.pk}/")
    page.get_by_label("Comment").fill(f"Reviewed the model card and metrics — {user.username}")
    page.get_by_role("button", name="Sign off").click()
    page.wait_for_url(f"{base}/releases/{signoff.pk}/")


def test_two_risk_owners_other_than_the_author_sign_off_in_the_browser(live_server, page, client, world):
    signoff = release_classify(artifact=world.artifact, change_class="model", actor=world.engineer)
    assert signoff.status == ReleaseSignoff.Status.PENDING
    client.force_login(world.officer)
    assert _signoff_blocks(_gate(client, world.artifact))

    # The author is a risk owner of the system, but the page keeps them out of the chain.
    _login(page, live_server.url, world.author)
    page.goto(f"{live_server.url}/releases/{signoff.pk}/")
    assert "separation of duties keeps you out" in page.locator("#decide").inner_text()
    assert page.get_by_role("button", name="Sign off").count() == 0

    _sign_in_browser(page, live_server.url, world.owner1, signoff)
    assert "1 more needed" in page.locator(".chain").inner_text()
    assert _signoff_blocks(_gate(client, world.artifact))  # one of two is not enough

    _sign_in_browser(page, live_server.url, world.owner2, signoff)
    assert page.locator(".signoff-approved").count() >= 1
    assert page.locator("[data-gate]").get_attribute("data-gate") == "clear"
    assert page.locator("[data-step-seconds]").count() == 2
    signoff.refresh_from_db()
    assert signoff.status == ReleaseSignoff.Status.APPROVED
    assert not _signoff_blocks(_gate(client, world.artifact))
    assert release_gate_items(artifact=world.artifact, digest="sha1:" + "f" * 40)  # and still refuses a swap
