"""Issue 19, gap 2: an engagement records the checkpoint current when it opens; its page shows "Verify that
nothing was rewritten since the engagement opened" with the proof's inputs; the proof verifies offline with the
portal's verifier, and the engagement's pack carries it."""

from __future__ import annotations

import base64
import json
import zipfile

import pytest

from apps.accounts.roles import Role
from apps.inventory.models import System
from apps.ledger.services import ledger_checkpoint
from apps.packs.verifier import verifier_file
from tests.engagements.conftest import open_engagement
from tests.engagements.test_engagement_pack import build_engagement_pack
from tests.ledger.test_ledger_api import consistency_ok, ledger_grow, note_root
from tests.standalone_verifier import run_verifier

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def opened(make_user):
    """An engagement opened at a signed checkpoint; the log grew and was checkpointed again since."""
    officer = make_user(Role.COMPLIANCE_OFFICER, username="officer")
    auditor = make_user(Role.AUDITOR, username="auditor")
    system = System.objects.create(name="Payments", slug="payments")
    ledger_grow(5)
    at_open = ledger_checkpoint()
    engagement = open_engagement(officer, auditors=[auditor], systems=[system])
    ledger_grow(6)
    latest = ledger_checkpoint()
    assert at_open.size < latest.size
    return {"officer": officer, "auditor": auditor, "engagement": engagement, "at_open": at_open, "latest": latest}


def _keys(client, tmp_path):
    path = tmp_path / "keys.json"
    path.write_bytes(client.get("/.well-known/compliance-portal/keys.json").content)
    return path


def test_an_engagement_records_the_checkpoint_current_when_it_opens(opened):
    engagement = opened["engagement"]
    engagement.refresh_from_db()
    assert engagement.opening_checkpoint_size == opened["at_open"].size
    assert engagement.opening_checkpoint == opened["at_open"]


def test_the_page_shows_the_proof_and_its_inputs_and_it_verifies_independently(client, opened):
    client.force_login(opened["auditor"])
    page = client.get(f"/engagements/{opened['engagement'].pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Verify that nothing was rewritten since the engagement opened" in html
    data = page.context["consistency"]
    assert (data["first"], data["second"]) == (opened["at_open"].size, opened["latest"].size)
    assert 'id="consistency-data"' in html and "engagements/consistency.js" in html
    for h in data["proof"]:
        assert h in html  # the inputs are shown
    keys = [opened["at_open"].verifier_key]
    assert note_root(data["first_checkpoint"], keys) == (data["first"], base64.b64decode(data["first_root"]))
    assert consistency_ok(data["first"], data["second"], base64.b64decode(data["first_root"]),
                          base64.b64decode(data["second_root"]), [base64.b64decode(p) for p in data["proof"]])


def test_the_downloaded_proof_verifies_offline_and_a_rewritten_log_does_not(client, opened, tmp_path):
    client.force_login(opened["auditor"])
    response = client.get(f"/engagements/{opened['engagement'].pk}/consistency.json")
    assert response.status_code == 200
    path = tmp_path / "consistency.json"
    path.write_bytes(response.content)
    verifier = tmp_path / "compliance_verify.py"
    verifier.write_bytes(verifier_file().content)
    keys = _keys(client, tmp_path)

    ok = run_verifier(verifier, path, "--keys-file", keys, where=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "nothing was rewritten" in ok.stdout

    bundle = json.loads(response.content)
    bundle["proof"][0] = base64.b64encode(bytes(32)).decode()  # as if an early entry had been rewritten
    path.write_text(json.dumps(bundle))
    bad = run_verifier(verifier, path, "--keys-file", keys, where=tmp_path)
    assert bad.returncode == 1 and "OK" not in bad.stdout, bad.stdout + bad.stderr


def test_the_engagement_pack_carries_the_proof_from_the_opening_checkpoint(
    client, opened, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.PORTAL_PACK_ROOT = tmp_path / "packs"
    pack = build_engagement_pack(opened["officer"], opened["engagement"], django_capture_on_commit_callbacks)
    zip_path = settings.PORTAL_PACK_ROOT / pack.file
    with zipfile.ZipFile(zip_path) as zf:
        ledger = json.loads(zf.read("manifest.json"))["ledger"]
    assert ledger["consistency"]["from_size"] == opened["at_open"].size
    assert ledger["consistency"]["from_checkpoint"] == opened["at_open"].note

    verifier = tmp_path / "compliance_verify.py"
    verifier.write_bytes(verifier_file().content)
    result = run_verifier(verifier, zip_path, "--keys-file", _keys(client, tmp_path), where=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"extension of the engagement's opening checkpoint at size {opened['at_open'].size}" in result.stdout
