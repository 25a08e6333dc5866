"""A compliance officer requests a release pack in the browser, watches it build, downloads it,
and the stand-alone verifier passes on the download offline."""

from __future__ import annotations

import json
import zipfile

import pytest

from apps.ledger.models import LedgerEntry, PendingEntry
from apps.packs.models import Pack
from tests.conftest import TEST_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_officer_requests_a_release_pack_watches_it_build_and_downloads_it(
    live_server, page, scenario, officer, heavy_workers, tmp_path
):
    heavy_workers("heavy-browser")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(officer.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.locator("nav[aria-label=Main] [data-nav=packs]").click()
    page.wait_for_url(f"{live_server.url}/packs/")

    # Issue 21, item 4: the form shows only the chosen scope's fields
    page.get_by_label("System over a period", exact=True).check()
    shown = {name: page.locator(f"[name={name}]").is_visible()
             for name in ("artifact", "system", "framework", "engagement", "start", "end")}
    assert shown == {"artifact": False, "system": True, "framework": False, "engagement": False,
                     "start": True, "end": True}
    page.get_by_label("Release or deployment", exact=True).check()
    assert page.locator("[name=artifact]").is_visible() and not page.locator("[name=system]").is_visible()
    page.locator("select[name=artifact]").select_option(str(scenario["release"].pk))
    page.get_by_role("button", name="Request the pack").click()
    pack = Pack.objects.get()
    page.wait_for_url(f"{live_server.url}/packs/{pack.pk}/")

    # htmx polls the progress panel: the stage shows up, then the panel turns into the download
    page.wait_for_selector("#progress[data-status=building] [data-stage]", timeout=60_000)
    page.wait_for_selector("#progress[data-status=built]", timeout=180_000)
    # Issue 21, item 1: what the live page then shows is true, with nothing stale left from "queued"
    pack = Pack.objects.get()
    assert "queued" not in page.locator("main").inner_text().lower()
    def fact(name):
        return page.locator("dl.facts dt", has_text=name).locator("xpath=following-sibling::dd[1]").inner_text()
    assert fact("Attempts") == str(pack.attempts) == "1"
    assert fact("Built") == f"{pack.built_at:%Y-%m-%d %H:%M:%S} UTC"
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the ZIP").click()
    path = tmp_path / "pack.zip"
    download.value.save_as(path)

    pack.refresh_from_db()
    assert pack.status == Pack.Status.BUILT
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == pack.sha256
    downloads = PendingEntry.objects.filter(action="pack.downloaded", object_id=str(pack.pk)).count()
    downloads += LedgerEntry.objects.filter(action="pack.downloaded", object_id=str(pack.pk)).count()
    assert downloads == 1

    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(path) as zf:
        zf.extractall(unpacked)
    # the auditor's verifier comes from the portal's /verify/ page, the keys from its keys.json
    from apps.packs.selectors import verification_key_list
    from apps.packs.verifier import verifier_file
    from tests.standalone_verifier import run_verifier

    verifier = tmp_path / "compliance_verify.py"
    verifier.write_bytes(verifier_file().content)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": verification_key_list()}, default=str))
    result = run_verifier(verifier, unpacked, "--keys-file", keys, where=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
