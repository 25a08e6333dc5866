"""Verifying packs: a good pack verifies with `manage.py verify_pack` and with the portal's stand-alone
verifier (one file, run with only `cryptography` importable); each kind of tampering fails with a
message that says what is wrong."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command

from apps.packs.bundle import PackKey, dsse_sign, pack_signing_key
from apps.packs.verifier import verifier_file
from tests.standalone_verifier import run_verifier

pytestmark = pytest.mark.django_db(transaction=True)


def _rewrite(path: Path, change) -> None:
    """Rewrite the ZIP with change(name, data) -> data applied to every member."""
    with zipfile.ZipFile(path) as zf:
        members = [(info.filename, zf.read(info.filename)) for info in zf.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members:
            out.writestr(name, change(name, data))
    path.write_bytes(buffer.getvalue())


def _standalone(path: Path, *args: str) -> subprocess.CompletedProcess:
    """The portal's verifier (never the pack's: packs carry none), run with only `cryptography` importable."""
    where = path.parent / "verifier"
    where.mkdir(exist_ok=True)
    verifier = where / "compliance_verify.py"
    verifier.write_bytes(verifier_file().content)
    return run_verifier(verifier, path, *args, where=where)


def _fails(path: Path, message: str) -> None:
    result = _standalone(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        call_command("verify_pack", str(path))


def test_a_good_pack_verifies_with_the_command_and_the_standalone_verifier(pack_zip, tmp_path):
    out = io.StringIO()
    call_command("verify_pack", str(pack_zip), stdout=out)
    assert "signature by a pinned key" in out.getvalue()

    result = _standalone(pack_zip, "--trusted-key", pack_signing_key().vkey)
    assert result.returncode == 0, result.stderr
    assert "OK:" in result.stdout and "inclusion proofs" in result.stdout

    # and in the directory it was unpacked into; the pack itself carries no verifier to be tempted by
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(pack_zip) as zf:
        zf.extractall(unpacked)
    assert not list(unpacked.glob("*.py"))
    result = _standalone(unpacked, "--trusted-key", pack_signing_key().vkey)
    assert result.returncode == 0, result.stderr
    assert not list(unpacked.rglob("__pycache__"))


def test_a_changed_evidence_file_fails(pack_zip):
    def change(name, data):
        # a raw evidence file: in a control's folder (the verifier's own files are under packverify/)
        return data + b"\n" if "/" in name and not name.startswith("packverify/") else data

    _rewrite(pack_zip, change)
    _fails(pack_zip, "does not match the signed statement")


def test_a_changed_manifest_fails(pack_zip):
    def change(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["evidence"][0]["verdict"] = "pass" if manifest["evidence"][0]["verdict"] != "pass" else "fail"
        return json.dumps(manifest).encode()

    _rewrite(pack_zip, change)
    _fails(pack_zip, "manifest.json: sha256")


def test_a_wrong_signature_fails(pack_zip):
    def change(name, data):
        if name != "manifest.dsse.json":
            return data
        envelope = json.loads(data)
        forged = Ed25519PrivateKey.generate().sign(b"something else")
        envelope["signatures"][0]["sig"] = base64.b64encode(forged).decode()
        return json.dumps(envelope).encode()

    _rewrite(pack_zip, change)
    _fails(pack_zip, "does not verify")


def test_a_pack_signed_by_another_key_is_not_trusted_by_the_portal(pack_zip):
    other = PackKey(private=Ed25519PrivateKey.generate(), vkey="")
    from apps.ledger.checkpoint import Signer

    signer = Signer("attacker.example", other.private)
    other = PackKey(private=other.private, vkey=signer.verifier_key())

    def change(name, data):
        if name != "manifest.dsse.json":
            return data
        statement = json.loads(base64.b64decode(json.loads(data)["payload"]))
        statement["predicate"]["signing_key"] = other.vkey
        return json.dumps(dsse_sign(json.dumps(statement).encode(), other)).encode()

    _rewrite(pack_zip, change)
    with pytest.raises(CommandError, match="no signature by a trusted key"):
        call_command("verify_pack", str(pack_zip))


def test_a_bad_inclusion_proof_fails(pack_zip):
    """Only the proof is wrong: the manifest is re-signed, so every other check passes."""
    with zipfile.ZipFile(pack_zip) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        statement = json.loads(base64.b64decode(json.loads(zf.read("manifest.dsse.json"))["payload"]))
    proof = manifest["evidence"][0]["ledger"]["proof"]
    proof[0] = base64.b64encode(bytes(32)).decode()
    new_manifest = json.dumps(manifest).encode()
    import hashlib

    for subject in statement["subject"]:
        if subject["name"] == "manifest.json":
            subject["digest"]["sha256"] = hashlib.sha256(new_manifest).hexdigest()
    envelope = json.dumps(dsse_sign(json.dumps(statement).encode(), pack_signing_key())).encode()

    def change(name, data):
        return {"manifest.json": new_manifest, "manifest.dsse.json": envelope}.get(name, data)

    _rewrite(pack_zip, change)
    _fails(pack_zip, "ledger inclusion proof fails")
