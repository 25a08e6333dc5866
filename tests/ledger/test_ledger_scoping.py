"""Issue 19, gap 4: an auditor reads full ledger entries only for objects in their engagement's scope.

Out of scope, an entry shows at most its index and leaf hash, with its inclusion proof, so proofs
still verify; lists (`/ledger/?action=…`) hold only in-scope entries."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.exceptions.services import ExceptionInput, exception_request
from apps.ledger.models import LedgerEntry
from apps.ledger.scoping import ledger_entries_visible_to, ledger_entry_for_user
from apps.ledger.services import ledger_checkpoint, ledger_integrate_all
from tests.engagements.conftest import world  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

def _root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes | None:
    """RFC 9162 section 2.1.3.2, written here from the RFC (not the code under test)."""
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


SECRET_IN = "payments: change approvals move to the new tool"
SECRET_OUT = "credit scoring: the model card is late"


@pytest.fixture
def exceptions(world):  # noqa: F811
    now = timezone.now()
    made = {}
    for system, text in ((world.system_in, SECRET_IN), (world.system_out, SECRET_OUT)):
        made[system.slug] = exception_request(actor=world.officer, submit=True, data=ExceptionInput(
            control="soc2-cc8-1", system=system.slug, likelihood=1, impact=1, expires_at=now + timedelta(days=30),
            justification=text, compensating_controls=f"{text}: two reviewers"))
        # Requested inside the engagements' observation windows (which end when the world was built).
        type(made[system.slug]).objects.filter(pk=made[system.slug].pk).update(created_at=now - timedelta(days=1))
    ledger_integrate_all()
    ledger_checkpoint(force=True)
    return made


def _created_entry(exception) -> LedgerEntry:
    return LedgerEntry.objects.get(
        action="exception.created", object_type="exceptions.exceptionrequest", object_id=str(exception.pk))


def test_an_auditor_cannot_read_an_out_of_scope_exceptions_entry(client, world, exceptions):  # noqa: F811
    entry = _created_entry(exceptions["credit-scoring"])
    client.force_login(world.auditor_in)
    assert client.get(f"/exceptions/{exceptions['credit-scoring'].pk}/").status_code == 404
    response = client.get(f"/ledger/{entry.index}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert SECRET_OUT not in page
    assert "exception.created" not in page
    leaf = hashlib.sha256(b"\x00" + bytes(entry.canonical)).hexdigest()
    assert leaf in page


def test_an_auditor_reads_an_in_scope_exceptions_entry_in_full(client, world, exceptions):  # noqa: F811
    entry = _created_entry(exceptions["payments-api"])
    client.force_login(world.auditor_in)
    page = client.get(f"/ledger/{entry.index}/").content.decode()
    assert SECRET_IN in page


def test_the_ledger_list_of_an_auditor_holds_only_their_scopes_entries(client, world, exceptions):  # noqa: F811
    client.force_login(world.auditor_in)
    page = client.get("/ledger/?action=exception.created").content.decode()
    # the list links each entry's object (issue 21): the in-scope exception, never the other one
    assert f'href="{exceptions["payments-api"].get_absolute_url()}"' in page
    assert f'href="{exceptions["credit-scoring"].get_absolute_url()}"' not in page
    visible = set(ledger_entries_visible_to(world.auditor_in).values_list("index", flat=True))
    assert _created_entry(exceptions["payments-api"]).index in visible
    assert _created_entry(exceptions["credit-scoring"]).index not in visible


def test_a_compliance_officer_still_reads_every_entry(client, world, exceptions):  # noqa: F811
    client.force_login(world.officer)
    page = client.get(f"/ledger/{_created_entry(exceptions['credit-scoring']).index}/").content.decode()
    assert SECRET_OUT in page


def test_an_out_of_scope_entry_proof_bundle_holds_no_payload_and_still_verifies(client, world, exceptions):  # noqa: F811
    entry = _created_entry(exceptions["credit-scoring"])
    client.force_login(world.auditor_in)
    bundle = client.get(f"/ledger/{entry.index}/?format=json").json()
    assert SECRET_OUT not in json.dumps(bundle)
    assert bundle["entry"] is None
    leaf = bytes.fromhex(bundle["leaf_hash"])
    assert leaf == hashlib.sha256(b"\x00" + bytes(entry.canonical)).digest()
    checkpoint = bundle["checkpoint"].split("\n")
    size, root = int(checkpoint[1]), base64.b64decode(checkpoint[2])
    proof = [base64.b64decode(h) for h in bundle["proof"]]
    assert _root_from_inclusion_proof(leaf, entry.index, size, proof) == root


def test_the_portals_verifier_proves_a_withheld_entry_from_its_leaf_hash(client, world, exceptions, tmp_path):  # noqa: F811
    from apps.packs.verifier import verifier_file
    from tests.standalone_verifier import run_verifier

    entry = _created_entry(exceptions["credit-scoring"])
    client.force_login(world.auditor_in)
    bundle = client.get(f"/ledger/{entry.index}/?format=json").json()
    assert bundle["entry"] is None
    verifier, keys, path = tmp_path / "compliance_verify.py", tmp_path / "keys.json", tmp_path / "entry.json"
    verifier.write_bytes(verifier_file().content)
    keys.write_bytes(client.get("/.well-known/compliance-portal/keys.json").content)
    path.write_text(json.dumps(bundle))
    ok = run_verifier(verifier, path, "--keys-file", keys, where=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"OK: entry {entry.index} (its content withheld: only its leaf hash) is included" in ok.stdout
    # another leaf in its place does not lead to the signed root
    path.write_text(json.dumps({**bundle, "leaf_hash": hashlib.sha256(b"\x00forged").hexdigest()}))
    bad = run_verifier(verifier, path, "--keys-file", keys, where=tmp_path)
    assert bad.returncode == 1 and "root mismatch" in bad.stderr, bad.stdout + bad.stderr


def test_the_redaction_selector_keeps_index_and_leaf_hash_only(world, exceptions):  # noqa: F811
    entry = _created_entry(exceptions["credit-scoring"])
    redacted = ledger_entry_for_user(world.auditor_in, entry)
    assert redacted == {
        "index": entry.index, "redacted": True,
        "leaf_hash": hashlib.sha256(b"\x00" + bytes(entry.canonical)).hexdigest(),
    }
    full = ledger_entry_for_user(world.officer, entry)
    assert full["redacted"] is False and SECRET_OUT in full["entry"]


def test_an_auditors_log_export_redacts_out_of_scope_entries_and_still_verifies_offline(
        client, world, exceptions, tmp_path):  # noqa: F811
    from apps.packs.verifier import verifier_file
    from tests.standalone_verifier import run_verifier

    client.force_login(world.auditor_in)
    export = b"".join(client.get("/api/v1/ledger/entries").streaming_content)
    assert SECRET_OUT not in export.decode() and SECRET_IN in export.decode()
    rows = {row["index"]: row for row in map(json.loads, export.splitlines())}
    out, inside = _created_entry(exceptions["credit-scoring"]), _created_entry(exceptions["payments-api"])
    assert rows[out.index] == {"index": out.index, "redacted": True, "leaf_hash": base64.b64encode(
        hashlib.sha256(b"\x00" + bytes(out.canonical)).digest()).decode()}
    assert rows[inside.index]["entry"]["action"] == "exception.created"
    assert sorted(rows) == list(range(LedgerEntry.objects.count()))

    path, checkpoints, keys = tmp_path / "ledger.jsonl", tmp_path / "checkpoints.json", tmp_path / "keys.json"
    path.write_bytes(export)
    checkpoints.write_bytes(client.get("/api/v1/ledger/checkpoints").content)
    keys.write_bytes(client.get("/.well-known/compliance-portal/keys.json").content)
    verifier = tmp_path / "compliance_verify.py"
    verifier.write_bytes(verifier_file().content)
    ok = run_verifier(verifier, path, "--checkpoint", checkpoints, "--keys-file", keys, where=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    redacted = sum(1 for row in rows.values() if row.get("redacted"))
    assert redacted and f"note: {redacted} of the {len(rows)} entries are withheld" in ok.stdout

    # a redacted line whose leaf was swapped no longer leads to the signed root
    lines = export.splitlines(keepends=True)
    forged = base64.b64encode(hashlib.sha256(b"\x00forged").digest())
    lines[out.index] = b'{"index":%d,"leaf_hash":"%s","redacted":true}\n' % (out.index, forged)
    path.write_bytes(b"".join(lines))
    bad = run_verifier(verifier, path, "--checkpoint", checkpoints, "--keys-file", keys, where=tmp_path)
    assert bad.returncode == 1 and "FAILED:" in bad.stderr, bad.stdout + bad.stderr
