"""Issue 21, item 1, done-when: in the browser, the auditor flags an item in a control's workspace and sees the
owner's answer; then accepts it and the control's status and the engagement's progress bar follow.

PORTAL_SHOTS_DIR keeps screenshots of the workspace (desktop and 390 px wide) for a reviewer."""

import re

import pytest

from apps.accounts.roles import Role
from apps.engagements.models import FlagMessage, FlagThread
from tests.conftest import TEST_PASSWORD
from tests.dashboard import demo_browser
from tests.dashboard.demo_browser import shot
from tests.engagements.conftest import world  # noqa: F401 - fixture
from tests.engagements.test_workspace import CONTROL, control_with_evidence

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

def sign_in(page, base: str, username: str) -> None:
    demo_browser.sign_in(page, base, username, TEST_PASSWORD)


def test_the_auditor_flags_an_item_and_sees_the_owners_answer(live_server, browser, world, make_user):  # noqa: F811
    control_with_evidence(world)
    owner = make_user(Role.ENGINEER, username="owner", first_name="Olive", last_name="Owner")
    world.system_in.engineering_owners.add(owner)
    auditor = world.auditor_in
    auditor.set_password(TEST_PASSWORD)
    auditor.save(update_fields=["password"])
    base = live_server.url
    auditor_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    owner_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    a, o = auditor_ctx.new_page(), owner_ctx.new_page()
    console_errors = []
    for p in (a, o):
        p.on("console", lambda msg: msg.type == "error" and console_errors.append(msg.text))

    # issue 21's done-when: from their home page, two clicks reach the control's evidence in the window
    sign_in(a, base, auditor.username)
    a.locator(f"[data-home-link=controls][href^='/engagements/{world.engagement.pk}/']").click()  # click 1
    a.wait_for_url(re.compile(rf"{re.escape(base)}/engagements/{world.engagement.pk}/(#.*)?$"))
    bar = a.get_by_role("progressbar")
    # a native <progress>: the browser exposes its value and max as the progressbar's values
    assert bar.evaluate("b => [b.value, b.max]") == [0, 61]
    a.locator(f"[data-workspace={CONTROL}]").click()  # click 2
    a.wait_for_url(f"{base}/engagements/{world.engagement.pk}/controls/soc2:{CONTROL}/")
    assert a.locator("[data-workspace-status]").get_attribute("data-workspace-status") == "evidence-complete"
    row = a.locator(f"tr[data-evidence='{world.evidence_in.pk}']")
    assert row.evaluate("r => r.getBoundingClientRect().bottom <= window.innerHeight")  # on the first screen
    assert a.locator(f"tr[data-evidence='{world.evidence_old.pk}']").count() == 0  # before the window

    shot(a, "engagement-workspace-before-flag")
    # flag an item, saying what is wrong
    row.get_by_label("What is wrong").fill("Two failing tests were waived: who approved the waiver?")
    row.get_by_role("button", name="Flag").click()
    a.wait_for_selector("[data-status=open]")
    thread = FlagThread.objects.get()
    assert a.url == f"{base}{thread.get_absolute_url()}"

    # the owner finds it among their requests and answers in the thread
    sign_in(o, base, owner.username)
    o.goto(f"{base}/engagements/requests/")
    o.locator(f"[data-flag='{thread.pk}'] a").click()
    o.wait_for_url(f"{base}{thread.get_absolute_url()}")
    assert "who approved the waiver?" in o.locator("#thread").inner_text()
    o.get_by_label("Your answer to the auditor").fill("Approved by the risk owner in ticket PAY-12.")
    o.get_by_role("button", name="Send answer").click()
    o.wait_for_selector("[data-status=answered]")

    # the auditor sees the owner's answer in the workspace, then re-reviews and accepts
    a.goto(f"{base}/engagements/{world.engagement.pk}/controls/soc2:{CONTROL}/")
    flags = a.locator("section[aria-labelledby=flags-title]")
    assert "Approved by the risk owner in ticket PAY-12." in flags.inner_text()
    assert "Olive Owner" in flags.inner_text()
    assert a.locator("[data-workspace-status]").get_attribute("data-workspace-status") == "flagged"
    shot(a, "engagement-workspace-desktop")
    a.set_viewport_size({"width": 390, "height": 844})
    a.reload()
    widths = a.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the workspace scrolls sideways at 390 px: {widths}"
    shot(a, "engagement-workspace-390")
    a.set_viewport_size({"width": 1280, "height": 900})

    a.locator(f"[data-flag-link='{thread.pk}']").click()
    a.get_by_label("Re-review").fill("Thanks, the ticket shows the approval.")
    a.get_by_role("button", name="Accept").click()
    a.wait_for_selector("[data-status=accepted]")
    a.goto(f"{base}/engagements/{world.engagement.pk}/controls/soc2:{CONTROL}/")
    assert a.locator("[data-workspace-status]").get_attribute("data-workspace-status") == "accepted"
    a.goto(f"{base}/engagements/{world.engagement.pk}/")
    assert a.get_by_role("progressbar").evaluate("b => b.value") == 1
    shot(a, "engagement-progress")
    assert list(FlagMessage.objects.values_list("kind", flat=True).order_by("at", "id")) == [
        "flagged", "answered", "accepted"
    ]  # fmt: skip
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
    auditor_ctx.close()
    owner_ctx.close()
