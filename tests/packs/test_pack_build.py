"""Building a pack in-process: what the PDF says, what the ZIP holds, and the row's life."""

from __future__ import annotations

import json
import re
import subprocess
import zipfile

import pytest
from django.db import DatabaseError, transaction

from apps.accounts.models import Notification
from apps.ledger.models import LedgerEntry, PendingEntry
from apps.packs.models import Pack
from apps.packs.services import pack_build, pack_claim, pack_request

pytestmark = pytest.mark.django_db(transaction=True)


def _build(user, kind, params, django_capture_on_commit_callbacks) -> Pack:
    with django_capture_on_commit_callbacks(execute=False):  # the test builds it, not a worker
        pack = pack_request(user=user, kind=kind, params=params)
    pack_build(pack_id=pack.pk)
    pack.refresh_from_db()
    assert pack.status == Pack.Status.BUILT, pack.error
    return pack


def report_text(zip_path, tmp_path) -> str:
    """The text of a pack ZIP's report.pdf (pdftotext)."""
    with zipfile.ZipFile(zip_path) as zf:
        (tmp_path / "report.pdf").write_bytes(zf.read("report.pdf"))
    return subprocess.run(["pdftotext", str(tmp_path / "report.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout


def _pdf_text(settings, pack: Pack, tmp_path) -> str:
    return report_text(settings.PORTAL_PACK_ROOT / pack.file, tmp_path)


def _actions(pack: Pack) -> list[str]:
    entries = list(PendingEntry.objects.filter(object_type="packs.pack", object_id=str(pack.pk)).order_by("id"))
    entries += list(LedgerEntry.objects.filter(object_type="packs.pack", object_id=str(pack.pk)).order_by("index"))
    return sorted(e.action for e in entries)


def test_a_system_pack_shows_every_evidence_item_and_exception_of_the_scope(
    scenario, officer, settings, tmp_path, django_capture_on_commit_callbacks
):
    pack = _build(officer, "system", {"system": scenario["system"].slug, **scenario["period"]},
                  django_capture_on_commit_callbacks)
    text = _pdf_text(settings, pack, tmp_path)
    flat = " ".join(text.split())
    assert scenario["evidence"], "the scenario has evidence"
    for evidence in scenario["evidence"]:
        assert f"E{evidence.pk}" in flat
        assert evidence.sha256 in re.sub(r"\s", "", text)  # hashes wrap inside their table cell
    for exception in scenario["exceptions"]:
        assert exception.reference in flat
    assert "Approved by" in flat and "Rejected by" in flat  # decisions with their approvers
    for heading in ("Contents", "1 Summary", "2 Control matrix", "3 Controls and evidence", "5 Exception register",
                    "6 Lineage", "7 Ledger entries", "Appendix A"):
        assert heading in flat
    # every page but the cover carries "PK-… • Page X of Y"
    stamped = re.findall(rf"{pack.reference} • Page (\d+) of {pack.pages}", flat)
    assert sorted(map(int, stamped)) == list(range(2, pack.pages + 1))
    assert pack.evidence_count == len(scenario["evidence"])


def test_a_release_pack_follows_lineage_and_is_signed_with_proofs(
    scenario, officer, settings, django_capture_on_commit_callbacks
):
    pack = _build(officer, "artifact", {"artifact": scenario["release"].pk}, django_capture_on_commit_callbacks)
    with zipfile.ZipFile(settings.PORTAL_PACK_ROOT / pack.file) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
    assert {"report.pdf", "manifest.json", "manifest.dsse.json", "README.md"} <= names
    assert not any(name.endswith(".py") for name in names)  # the verifier comes from the portal, not the pack
    assert manifest["evidence"], "a release pack holds the evidence of what it was built from"
    for item in manifest["evidence"]:
        assert item["ledger"]["proof"] is not None
        # in a folder per control, named by day, kind, system and the start of its sha256 (issue 19)
        assert item["file"] in names and f" {item['sha256'][:8]}…" in item["file"]
        assert all(copy in names for copy in item.get("copies", []))
    listed = {f["name"]: f["sha256"] for f in manifest["files"]}
    assert all(listed[item["file"]] == item["sha256"] for item in manifest["evidence"])


def test_building_records_ledger_entries_notifies_the_requester_and_the_built_pack_never_changes(
    scenario, officer, settings, client, django_capture_on_commit_callbacks
):
    """One build for all, of a period before any of the scenario's evidence: the record of a build does not
    depend on what the pack holds, and a pack of the whole period renders ~45 pages (~9 s of CPU)."""
    pack = _build(officer, "system", {"system": scenario["system"].slug, "start": "2000-01-01", "end": "2000-01-02"},
                  django_capture_on_commit_callbacks)
    assert pack.evidence_count == 0 and pack.pages < 15, pack.pages
    assert _actions(pack) == ["pack.built", "pack.requested"]
    note = Notification.objects.get(recipient=officer)
    assert pack.reference in note.title and note.url == pack.get_absolute_url()
    # The report downloads on its own, the same bytes as in the ZIP.
    with zipfile.ZipFile(settings.PORTAL_PACK_ROOT / pack.file) as zf:
        report = zf.read("report.pdf")
    client.force_login(officer)
    response = client.get(f"/packs/{pack.pk}/report.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == report

    with pytest.raises(DatabaseError, match="never changes"), transaction.atomic():
        Pack.objects.filter(pk=pack.pk).update(sha256="0" * 64)
    # building it again does nothing: a rebuild is a new pack
    pack_build(pack_id=pack.pk)
    assert Pack.objects.get(pk=pack.pk).sha256 == pack.sha256


def test_a_pack_whose_builds_keep_dying_fails_with_a_reason(scenario, officer, settings,
                                                           django_capture_on_commit_callbacks):
    settings.PORTAL_PACK_MAX_ATTEMPTS = 2
    with django_capture_on_commit_callbacks(execute=False):
        pack = pack_request(user=officer, kind="system", params={"system": scenario["system"].slug,
                                                                  **scenario["period"]})
    for _ in range(2):  # two claims whose worker then "dies" (the lease lapses)
        assert pack_claim(pack.pk) is not None
        Pack.objects.filter(pk=pack.pk).update(lease_until="2000-01-01T00:00:00Z")
    assert pack_claim(pack.pk) is None
    pack.refresh_from_db()
    assert pack.status == Pack.Status.FAILED
    assert "gave up after 2 interrupted attempts" in pack.error
    assert "pack.failed" in _actions(pack)
