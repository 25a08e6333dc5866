"""Issue 19, gap 1: the verifier never says OK for a signature without a pinned key; a forged pack never passes;
the verifier and the keys come from the portal (one file, `cryptography` only), not from the pack."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from apps.ledger.checkpoint import Signer
from apps.packs.bundle import PackKey, dsse_sign
from apps.packs.verifier import SOURCES, top_level_names, verifier_file
from tests.standalone_verifier import assert_only_cryptography_importable, run_verifier

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def portal_verifier(client, tmp_path) -> Path:
    """The verifier as an auditor gets it: downloaded from /verify/, its sha256 checked against that page."""
    page = client.get("/verify/")
    assert page.status_code == 200
    download = client.get("/verify/compliance_verify.py")
    assert download.status_code == 200
    digest = hashlib.sha256(download.content).hexdigest()
    assert digest in page.content.decode()
    path = tmp_path / "compliance_verify.py"
    path.write_bytes(download.content)
    return path


@pytest.fixture
def keys_file(client, tmp_path) -> Path:
    """keys.json as published, fetched without signing in."""
    response = client.get("/.well-known/compliance-portal/keys.json")
    assert response.status_code == 200
    path = tmp_path / "keys.json"
    path.write_bytes(response.content)
    return path


def _forge(path: Path, *, extra: dict[str, bytes] | None = None) -> None:
    """Change the manifest and re-sign the pack with an attacker's key that the statement names."""
    attacker = Ed25519PrivateKey.generate()
    key = PackKey(private=attacker, vkey=Signer("compliance-portal.local/ledger", attacker).verifier_key())
    with zipfile.ZipFile(path) as zf:
        members = {info.filename: zf.read(info.filename) for info in zf.infolist()}
    manifest = json.loads(members["manifest.json"])
    manifest["evidence"][0]["verdict"] = "pass" if manifest["evidence"][0].get("verdict") != "pass" else "fail"
    members["manifest.json"] = json.dumps(manifest).encode()
    members.update(extra or {})
    statement = json.loads(base64.b64decode(json.loads(members["manifest.dsse.json"])["payload"]))
    statement["subject"] = [{"name": name, "digest": {"sha256": hashlib.sha256(data).hexdigest()}}
                            for name, data in sorted(members.items()) if name != "manifest.dsse.json"]
    statement["predicate"]["signing_key"] = key.vkey
    members["manifest.dsse.json"] = json.dumps(dsse_sign(json.dumps(statement).encode(), key)).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members.items():
            out.writestr(name, data)
    path.write_bytes(buffer.getvalue())


def test_the_verifier_runs_with_only_cryptography_importable(tmp_path):
    assert_only_cryptography_importable(tmp_path)
    path = tmp_path / "compliance_verify.py"
    path.write_bytes(verifier_file().content)
    result = run_verifier(path, "--help", where=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--keys-url" in result.stdout


def test_the_joined_modules_define_no_name_twice():
    seen: dict[str, Path] = {}
    for path in SOURCES:
        for name in top_level_names(path):
            assert name not in seen, f"{name} is defined in {seen.get(name)} and {path}"
            seen[name] = path


def test_a_good_pack_is_ok_only_against_pinned_keys(pack_zip, portal_verifier, keys_file, tmp_path):
    pinned = run_verifier(portal_verifier, pack_zip, "--keys-file", keys_file, where=tmp_path)
    assert pinned.returncode == 0, pinned.stdout + pinned.stderr
    assert "OK:" in pinned.stdout and "inclusion proofs" in pinned.stdout and "UNVERIFIED" not in pinned.stdout

    unpinned = run_verifier(portal_verifier, pack_zip, where=tmp_path)
    assert unpinned.returncode == 2, unpinned.stdout + unpinned.stderr
    assert "OK:" not in unpinned.stdout
    assert "UNVERIFIED: the manifest signature: signed by compliance-portal.local/ledger+" in unpinned.stdout
    assert "pin a key with --trusted-key or --keys-url" in unpinned.stdout


def test_a_forged_pack_resigned_with_a_new_key_never_prints_ok(pack_zip, portal_verifier, keys_file, tmp_path):
    _forge(pack_zip)
    unpinned = run_verifier(portal_verifier, pack_zip, where=tmp_path)
    assert unpinned.returncode == 2, unpinned.stdout + unpinned.stderr
    assert "OK:" not in unpinned.stdout + unpinned.stderr

    pinned = run_verifier(portal_verifier, pack_zip, "--keys-file", keys_file, where=tmp_path)
    assert pinned.returncode == 1, pinned.stdout + pinned.stderr
    assert "OK:" not in pinned.stdout
    assert "FAILED: manifest.dsse.json: no signature by a trusted key" in pinned.stderr


def test_a_patched_verifier_inside_a_forged_pack_changes_nothing(pack_zip, portal_verifier, keys_file, tmp_path):
    patched = b'print("OK: every check passed")\n'
    assert "verify_pack.py" not in zipfile.ZipFile(pack_zip).namelist()  # packs carry no verifier
    _forge(pack_zip, extra={"verify_pack.py": patched, "compliance_verify.py": patched})
    result = run_verifier(portal_verifier, pack_zip, "--keys-file", keys_file, where=tmp_path)
    assert result.returncode == 1
    assert "OK:" not in result.stdout


def test_keys_json_is_public_and_keeps_rotated_keys(client, settings):
    from django.db import transaction

    from apps.ledger.services import ledger_checkpoint, ledger_integrate_all, ledger_record

    old_skey = settings.PORTAL_LEDGER_SIGNING_KEY
    old_vkey = Signer.from_skey(old_skey).verifier_key()
    with transaction.atomic():
        ledger_record(actor="system:test", action="test.before_rotation")
    ledger_integrate_all()
    assert ledger_checkpoint().verifier_key == old_vkey

    new = Signer("compliance-portal.local/ledger", Ed25519PrivateKey.generate())
    settings.PORTAL_LEDGER_SIGNING_KEY = new.skey()
    settings.PORTAL_LEDGER_TRUSTED_KEYS = [old_vkey]
    response = client.get("/.well-known/compliance-portal/keys.json")
    assert response.status_code == 200  # anonymous
    keys = response.json()["keys"]
    ledger = {k["vkey"]: k for k in keys if k["purpose"] == "ledger"}
    pack = {k["vkey"] for k in keys if k["purpose"] == "pack"}
    assert ledger[new.verifier_key()]["valid_to"] is None
    assert ledger[old_vkey]["valid_from"] and ledger[old_vkey]["valid_to"]
    assert {new.verifier_key(), old_vkey} <= pack  # packs are signed with the ledger key of their day


def test_an_entry_proof_from_the_entry_page_verifies_only_against_a_pinned_key(
    client, officer, portal_verifier, keys_file, tmp_path
):
    from django.db import transaction

    from apps.ledger.models import LedgerEntry
    from apps.ledger.services import ledger_checkpoint, ledger_integrate_all, ledger_record

    with transaction.atomic():
        for n in range(5):
            ledger_record(actor="system:test", action="test.entry", data={"n": n})
    ledger_integrate_all()
    ledger_checkpoint()
    entry = LedgerEntry.objects.filter(action="test.entry").order_by("index")[2]
    client.force_login(officer)
    bundle = client.get(f"/ledger/{entry.index}/?format=json")
    assert bundle.status_code == 200
    path = tmp_path / "entry.json"
    path.write_bytes(bundle.content)

    pinned = run_verifier(portal_verifier, path, "--keys-file", keys_file, where=tmp_path)
    assert pinned.returncode == 0, pinned.stdout + pinned.stderr
    assert f"OK: entry {entry.index} is included" in pinned.stdout
    unpinned = run_verifier(portal_verifier, path, where=tmp_path)
    assert unpinned.returncode == 2 and "OK:" not in unpinned.stdout, unpinned.stdout + unpinned.stderr

    tampered = json.loads(bundle.content)
    tampered["entry"] = tampered["entry"].replace('"n":2', '"n":3')
    path.write_text(json.dumps(tampered))
    result = run_verifier(portal_verifier, path, "--keys-file", keys_file, where=tmp_path)
    assert result.returncode == 1 and "root mismatch" in result.stderr, result.stdout + result.stderr
