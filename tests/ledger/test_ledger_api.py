"""Issue 19, gaps 2 and 3: checkpoints, consistency proofs and the log export over the API, checked with an
INDEPENDENT RFC 9162 implementation written here (recursive definitions, not apps.ledger.merkle), across a key
rotation; the export verified by the portal's stand-alone verifier with only `cryptography` importable."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.management import call_command
from django.db import transaction

from apps.accounts.roles import Role
from apps.ledger.checkpoint import Signer
from apps.ledger.services import ledger_checkpoint, ledger_integrate_all, ledger_record
from apps.packs.verifier import verifier_file
from tests.standalone_verifier import run_verifier

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- RFC 9162, from the RFC's text, independently


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1: MTH(D[n]) over the entries' bytes."""
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 2.1.4.1: SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def consistency_ok(first: int, second: int, first_hash: bytes, second_hash: bytes, path: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2, for 0 < first < second."""
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _h(b"\x01" + c + fr), _h(b"\x01" + c + sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _h(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_hash and sr == second_hash


def note_root(note: str, vkeys: list[str]) -> tuple[int, bytes]:
    """(size, root) of a C2SP checkpoint note after checking its Ed25519 signature with one of `vkeys`."""
    body, _, sigs = note.rpartition("\n\n")
    body += "\n"
    for line in sigs.strip("\n").split("\n"):
        name, payload = line.removeprefix("\u2014 ").split(" ")
        raw = base64.b64decode(payload)
        for vkey in vkeys:
            key_name, key_id, key = vkey.split("+", 2)
            if key_name == name and bytes.fromhex(key_id) == raw[:4]:
                Ed25519PublicKey.from_public_bytes(base64.b64decode(key)[1:]).verify(raw[4:], body.encode())
                origin, size, root = body.split("\n")[:3]
                assert name == origin  # the key is named after the log's origin
                return int(size), base64.b64decode(root)
    raise AssertionError(f"no signature by {vkeys} on {note!r}")


# ---------------------------------------------------------------- fixtures


def ledger_grow(count: int) -> None:
    """Record `count` entries and sequence them."""
    with transaction.atomic():
        for n in range(count):
            ledger_record(actor="system:test", action="test.grow", data={"n": n})
    ledger_integrate_all()


@pytest.fixture
def officer(make_user):
    return make_user(Role.COMPLIANCE_OFFICER)


@pytest.fixture
def rotated_log(settings):
    """Checkpoints at sizes 3 and 8 under the first key, 13 under a second key (rotation in between)."""
    from apps.ledger.models import LedgerEntry

    base = LedgerEntry.objects.count()
    ledger_grow(3 - base if base < 3 else 0)
    ledger_checkpoint()
    ledger_grow(5)
    first = ledger_checkpoint()
    old_vkey = first.verifier_key
    new = Signer(settings.PORTAL_LEDGER_ORIGIN, Ed25519PrivateKey.generate())
    settings.PORTAL_LEDGER_SIGNING_KEY = new.skey()
    settings.PORTAL_LEDGER_TRUSTED_KEYS = [old_vkey]
    ledger_grow(5)
    last = ledger_checkpoint()
    assert last.verifier_key == new.verifier_key() != old_vkey
    return [bytes(e.canonical) for e in LedgerEntry.objects.order_by("index")]


def _keys(client) -> list[str]:
    return [k["vkey"] for k in client.get("/.well-known/compliance-portal/keys.json").json()["keys"]
            if k["purpose"] == "ledger"]


def test_checkpoints_are_listed_newest_first_with_the_note_exactly_as_signed(client, officer, rotated_log):
    client.force_login(officer)
    response = client.get("/api/v1/ledger/checkpoints")
    assert response.status_code == 200
    rows = response.json()["checkpoints"]
    sizes = [r["size"] for r in rows]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == len(rotated_log)
    keys = _keys(client)
    for row in rows:
        size, root = note_root(row["note"], keys)
        assert (size, base64.b64encode(root).decode()) == (row["size"], row["root"])
        assert root == mth(rotated_log[:size])

    one = client.get(f"/api/v1/ledger/checkpoints?size={sizes[-1]}").json()["checkpoints"]
    assert [r["size"] for r in one] == [sizes[-1]]
    missing = client.get("/api/v1/ledger/checkpoints?size=999999")
    assert missing.status_code == 404 and "error" in missing.json()


def test_consistency_proofs_match_rfc_9162_across_a_key_rotation(client, officer, rotated_log):
    client.force_login(officer)
    keys = _keys(client)
    notes = {r["size"]: r["note"] for r in client.get("/api/v1/ledger/checkpoints").json()["checkpoints"]}
    sizes = sorted(notes)
    assert len(sizes) >= 3
    checked = 0
    for first in sizes:
        for second in sizes:
            if not 0 < first < second:
                continue
            answer = client.get(f"/api/v1/ledger/consistency?first={first}&second={second}").json()
            proof = [base64.b64decode(p) for p in answer["proof"]]
            assert (answer["first"], answer["second"]) == (first, second)
            assert proof == subproof(first, rotated_log[:second], True)  # RFC 9162 2.1.4.1
            _, first_root = note_root(notes[first], keys)
            _, second_root = note_root(notes[second], keys)  # a different key signed the last one
            assert consistency_ok(first, second, first_root, second_root, proof)
            checked += 1
    assert checked >= 3
    # and every other size up to the latest checkpoint, against the roots recomputed here
    n = len(rotated_log)
    for first in range(1, n):
        answer = client.get(f"/api/v1/ledger/consistency?first={first}&second={n}").json()
        proof = [base64.b64decode(p) for p in answer["proof"]]
        assert consistency_ok(first, n, mth(rotated_log[:first]), mth(rotated_log), proof), first


@pytest.mark.parametrize("query", ["first=5&second=2", "first=x&second=2", "first=1", f"first=1&second={10**9}"])
def test_bad_consistency_requests_get_a_400_with_the_reason(client, officer, rotated_log, query):
    client.force_login(officer)
    response = client.get(f"/api/v1/ledger/consistency?{query}")
    assert response.status_code == 400
    assert response.json()["error"]


def test_checkpoints_and_proofs_are_for_officers_and_auditors_of_an_open_engagement(client, make_user, rotated_log):
    from tests.engagements.conftest import engaged_auditor

    lone_auditor = make_user(Role.AUDITOR, username="lone")
    engineer = make_user(Role.ENGINEER, username="eng")
    from apps.inventory.models import System

    auditor = engaged_auditor(make_user, [System.objects.create(name="Payments", slug="payments")])
    for user, expected in ((lone_auditor, 403), (engineer, 403), (auditor, 200)):
        client.force_login(user)
        for url in ("/api/v1/ledger/checkpoints", "/api/v1/ledger/consistency?first=3&second=8"):
            assert client.get(url).status_code == expected, (user.username, url)
    client.force_login(lone_auditor)
    assert client.get("/api/v1/ledger/entries").status_code == 403
    client.logout()
    assert client.get("/api/v1/ledger/checkpoints").status_code in (401, 403)


def test_the_export_recomputes_to_the_signed_roots_and_verifies_offline(client, officer, rotated_log, tmp_path):
    client.force_login(officer)
    response = client.get("/api/v1/ledger/entries")
    assert response.status_code == 200 and response["Content-Type"] == "application/jsonl"
    export = b"".join(response.streaming_content)
    lines = export.splitlines()
    rows = [json.loads(line) for line in lines]  # JSON Lines: every line parses
    assert [r["index"] for r in rows] == list(range(len(rotated_log)))
    for line, row, canonical in zip(lines, rows, rotated_log, strict=True):
        # the entry is embedded verbatim: the bytes after "entry": up to the final } are the hashed bytes
        assert line.split(b',"entry":', 1)[1][:-1] == canonical
        assert row["entry"] == json.loads(canonical)
        assert base64.b64decode(row["leaf_hash"]) == _h(b"\x00" + canonical)
    part = b"".join(client.get("/api/v1/ledger/entries?start=2&end=5").streaming_content)
    assert [json.loads(line)["index"] for line in part.splitlines()] == [2, 3, 4]
    assert client.get("/api/v1/ledger/entries?start=9&end=4").status_code == 400

    # manage.py ledger_export writes the same bytes, and the checkpoints next to them
    path = tmp_path / "ledger.jsonl"
    call_command("ledger_export", "--output", str(path))
    assert path.read_bytes() == export
    checkpoints = tmp_path / "ledger.jsonl.checkpoints.json"
    keys = tmp_path / "keys.json"
    keys.write_bytes(client.get("/.well-known/compliance-portal/keys.json").content)

    verifier = tmp_path / "compliance_verify.py"
    verifier.write_bytes(verifier_file().content)
    ok = run_verifier(verifier, path, "--checkpoint", checkpoints, "--keys-file", keys, where=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"OK: {len(rotated_log)} exported entries recomputed" in ok.stdout

    unpinned = run_verifier(verifier, path, "--checkpoint", checkpoints, where=tmp_path)
    assert unpinned.returncode == 2 and "OK" not in unpinned.stdout, unpinned.stdout + unpinned.stderr
    assert "UNVERIFIED: the checkpoints signed by" in unpinned.stdout

    lines = export.splitlines(keepends=True)
    head, entry = lines[4].split(b',"entry":', 1)
    forged = entry[:-2].replace(b'"action":"', b'"action":"forged.', 1)  # and its leaf_hash made to match
    head = head.split(b',"leaf_hash":')[0] + b',"leaf_hash":"' + base64.b64encode(_h(b"\x00" + forged)) + b'"'
    lines[4] = head + b',"entry":' + forged + b"}\n"
    path.write_bytes(b"".join(lines))
    bad = run_verifier(verifier, path, "--checkpoint", checkpoints, "--keys-file", keys, where=tmp_path)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "FAILED:" in bad.stderr and "entries 0..4 was altered" in bad.stderr

    lines[4] = lines[4].replace(b'"action":"forged.', b'"action":"other.')  # leaf_hash no longer matches
    path.write_bytes(b"".join(lines))
    edited = run_verifier(verifier, path, "--checkpoint", checkpoints, "--keys-file", keys, where=tmp_path)
    assert edited.returncode == 1 and "export line 5: leaf_hash" in edited.stderr, edited.stderr
