"""C2SP checkpoints, signed notes, and interop with golang.org/x/mod/sumdb/note."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from apps.ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    InvalidSignatureError,
    NoteError,
    Signer,
    UnverifiedNoteError,
    Verifier,
    add_signature,
    generate_signing_key,
    key_id,
    open_note,
    sign_note,
)

# From golang.org/x/mod/sumdb/note (note.go package docs and note_test.go).
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)

ROOT = hashlib.sha256(b"some root").digest()
ORIGIN = "example.com/ledger"


@pytest.fixture
def signer():
    return Signer(ORIGIN, bytes(range(32)))


# ---------------------------------------------------------------------------
# Checkpoint bodies
# ---------------------------------------------------------------------------


def test_checkpoint_body_has_origin_size_and_base64_root_lines():
    cp = Checkpoint(ORIGIN, 20852163, ROOT)
    assert cp.body() == f"{ORIGIN}\n20852163\n{base64.b64encode(ROOT).decode()}\n"
    assert Checkpoint.parse(cp.body()) == cp


def test_checkpoint_round_trips_with_extension_lines():
    cp = Checkpoint(ORIGIN, 0, ROOT, ("ext one", "ext two"))
    assert cp.body().endswith("ext one\next two\n")
    assert Checkpoint.parse(cp.body()) == cp


def test_published_c2sp_example_checkpoint_parses():
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = Checkpoint.parse(body)
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)
    assert cp.body() == body


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (f"{ORIGIN}\n5\n{base64.b64encode(ROOT).decode()}", "end with a newline"),
        (f"{ORIGIN}\n5\n", "needs origin, size and root"),
        (f"\n5\n{base64.b64encode(ROOT).decode()}\n", "origin"),
        (f"{ORIGIN}\n05\n{base64.b64encode(ROOT).decode()}\n", "leading zeros"),
        (f"{ORIGIN}\n-5\n{base64.b64encode(ROOT).decode()}\n", "tree size"),
        (f"{ORIGIN}\n 5\n{base64.b64encode(ROOT).decode()}\n", "tree size"),
        (f"{ORIGIN}\n\u0665\n{base64.b64encode(ROOT).decode()}\n", "tree size"),  # Arabic-Indic digit
        (f"{ORIGIN}\n5\n{base64.b64encode(ROOT[:31]).decode()}\n", "31 bytes"),
        (f"{ORIGIN}\n5\n{base64.b64encode(ROOT).decode().rstrip('=')}\n", "base64"),
        (f"{ORIGIN}\n5\n{ROOT.hex()}\n", "looks like hex"),
        (f"{ORIGIN}\n5\n{base64.b64encode(ROOT).decode()}\n\n", "extension line 4 is empty"),
    ],
)
def test_malformed_checkpoint_bodies_are_refused_with_the_reason(body, complaint):
    with pytest.raises(CheckpointError, match=complaint):
        Checkpoint.parse(body)


def test_checkpoint_refuses_bad_fields():
    with pytest.raises(CheckpointError):
        Checkpoint("", 1, ROOT)
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, 1, ROOT[:16])
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, 1, ROOT, ("two\nlines",))


# ---------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------


def test_key_id_is_sha256_of_name_newline_alg_and_public_key():
    verifier = Verifier.from_vkey(PETER_VKEY)
    assert verifier.key_id.hex() == "c74f20a3"
    expected = hashlib.sha256(b"PeterNeumann\n\x01" + verifier.public_key_bytes).digest()[:4]
    assert key_id("PeterNeumann", verifier.public_key_bytes) == expected
    assert verifier.vkey() == PETER_VKEY


def test_go_signer_key_parses_to_the_published_verifier_key():
    signer = Signer.from_skey(PETER_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.verifier_key() == PETER_VKEY
    assert signer.skey() == PETER_SKEY


def test_generated_keys_round_trip_through_their_string_forms():
    skey, vkey = generate_signing_key(ORIGIN)
    assert skey.startswith(f"PRIVATE+KEY+{ORIGIN}+")
    signer = Signer.from_skey(skey)
    assert signer.verifier_key() == vkey
    assert open_note(signer.sign("hello\n"), [vkey]) == ("hello\n", [ORIGIN])


def test_signer_accepts_a_raw_seed_a_pem_or_a_key_object():
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    vkeys = {
        Signer(ORIGIN, bytes(range(32))).verifier_key(),
        Signer(ORIGIN, pem).verifier_key(),
        Signer(ORIGIN, pem.decode()).verifier_key(),
        Signer(ORIGIN, key).verifier_key(),
    }
    assert len(vkeys) == 1


def test_signer_refuses_unusable_keys_and_names():
    with pytest.raises(NoteError):
        Signer(ORIGIN, b"short")
    with pytest.raises(NoteError):
        Signer(ORIGIN, "x" * 32)  # a str is PEM only, never a raw seed
    with pytest.raises(NoteError):
        Signer("has space", bytes(32))
    with pytest.raises(NoteError):
        Signer("has+plus", bytes(32))


def test_every_mangling_of_the_go_verifier_key_is_refused():
    # As TestNewVerifier in note_test.go: every proper substring and every byte bump.
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(NoteError):
                    Verifier.from_vkey(PETER_VKEY[i:j])
    for i in range(len(PETER_VKEY)):
        bumped = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(NoteError):
            Verifier.from_vkey(bumped)
    # Wrong length key and unknown algorithm, each with an adjusted key hash.
    with pytest.raises(NoteError):
        Verifier.from_vkey("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    with pytest.raises(NoteError):
        Verifier.from_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_every_mangling_of_the_go_signer_key_is_refused():
    for i in range(len(PETER_SKEY) + 1):
        for j in range(i + 1, len(PETER_SKEY) + 1):
            if (i, j) != (0, len(PETER_SKEY)):
                with pytest.raises(NoteError):
                    Signer.from_skey(PETER_SKEY[i:j])
    for i in range(len(PETER_SKEY)):
        bumped = PETER_SKEY[:i] + chr(ord(PETER_SKEY[i]) + 1) + PETER_SKEY[i + 1 :]
        with pytest.raises(NoteError):
            Signer.from_skey(bumped)


def test_signer_key_errors_never_echo_the_secret():
    bad = PETER_SKEY[:-4] + "!!!!"
    with pytest.raises(NoteError) as excinfo:
        Signer.from_skey(bad)
    assert "AYEKFALV" not in str(excinfo.value)


# ---------------------------------------------------------------------------
# Signed notes: Go interop
# ---------------------------------------------------------------------------


def test_signing_reproduces_the_go_note_signature_byte_for_byte():
    assert Signer.from_skey(PETER_SKEY).sign(GO_TEXT) == GO_TEXT + "\n" + PETER_SIG


def test_go_signed_note_opens_with_the_go_verifier_key():
    assert open_note(GO_TEXT + "\n" + PETER_SIG, [PETER_VKEY]) == (GO_TEXT, ["PeterNeumann"])


def test_go_cosigned_note_reports_every_trusted_signer():
    note = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [PETER_VKEY, ENOCH_VKEY])[1] == ["PeterNeumann", "EnochRoot"]
    # An unknown key's line is ignored, not an error.
    assert open_note(note, [PETER_VKEY])[1] == ["PeterNeumann"]
    assert open_note(note, [ENOCH_VKEY])[1] == ["EnochRoot"]


def test_note_without_a_trusted_signature_is_rejected_naming_who_signed_it():
    with pytest.raises(UnverifiedNoteError, match=r"signed by \[PeterNeumann\+c74f20a3, EnochRoot\+af0cfe78\]"):
        open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [Signer(ORIGIN, bytes(32)).verifier()])


def test_corrupted_signature_from_a_known_key_rejects_the_note():
    corrupted = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(InvalidSignatureError, match=r"PeterNeumann\+c74f20a3"):
        open_note(GO_TEXT + "\n" + corrupted, [PETER_VKEY])


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name"),
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + PETER_SIG.replace("\u2014", "-"),
        GO_TEXT + "\n" + "\u2014 PeterNeumann x08go\n",
        GO_TEXT + "\n" + "\u2014 PeterNeumann not*base64\n",
        GO_TEXT + "\n" + PETER_SIG * 101,
    ],
)
def test_malformed_notes_are_refused(note):
    with pytest.raises(NoteError):
        open_note(note, [PETER_VKEY])


def test_note_bytes_must_be_utf8():
    with pytest.raises(NoteError, match="UTF-8"):
        open_note(b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode(), [PETER_VKEY])
    assert open_note((GO_TEXT + "\n" + PETER_SIG).encode(), [PETER_VKEY])[0] == GO_TEXT


# ---------------------------------------------------------------------------
# Signed checkpoints
# ---------------------------------------------------------------------------


def test_signed_checkpoint_round_trips(signer):
    cp = Checkpoint(ORIGIN, 42, ROOT)
    note = signer.sign(cp.body())
    assert note.startswith(cp.body() + "\n\u2014 example.com/ledger ")
    body, names = open_note(note, [signer.verifier_key()])
    assert Checkpoint.parse(body) == cp
    assert names == [ORIGIN]


def test_checkpoint_signed_by_a_different_key_is_rejected(signer):
    impostor = Signer(ORIGIN, bytes(32))  # same name, different key: different key ID
    note = impostor.sign(Checkpoint(ORIGIN, 42, ROOT).body())
    with pytest.raises(UnverifiedNoteError):
        open_note(note, [signer.verifier_key()])


def test_tampered_checkpoint_body_is_rejected(signer):
    note = signer.sign(Checkpoint(ORIGIN, 42, ROOT).body())
    with pytest.raises(InvalidSignatureError):
        open_note(note.replace("\n42\n", "\n43\n"), [signer.verifier_key()])


def test_key_rotation_note_carries_both_signatures(signer):
    new_signer = Signer(ORIGIN, bytes(range(1, 33)))
    note = sign_note(Checkpoint(ORIGIN, 7, ROOT).body(), [signer, new_signer])
    assert note.count("\n\u2014 ") == 2
    assert open_note(note, [signer.verifier_key()])[1] == [ORIGIN]
    assert open_note(note, [new_signer.verifier_key()])[1] == [ORIGIN]
    assert open_note(note, [signer.verifier_key(), new_signer.verifier_key()])[1] == [ORIGIN, ORIGIN]


def test_witness_cosignature_is_appended_and_replaces_its_own_older_line(signer):
    witness = Signer("witness.example", bytes(range(2, 34)))
    note = signer.sign(Checkpoint(ORIGIN, 7, ROOT).body())
    cosigned = add_signature(note, witness)
    assert add_signature(cosigned, witness) == cosigned  # Ed25519 is deterministic
    assert cosigned.startswith(note)
    assert open_note(cosigned, [signer.verifier_key(), witness.verifier_key()])[1] == [ORIGIN, "witness.example"]


def test_open_note_refuses_two_different_trusted_keys_with_the_same_name_and_id():
    first = Verifier.from_vkey(PETER_VKEY)
    clash = Verifier("PeterNeumann", bytes(32))
    clash.key_id = first.key_id  # forge a key ID collision
    with pytest.raises(NoteError, match="ambiguous"):
        open_note(GO_TEXT + "\n" + PETER_SIG, [first, clash])
