"""C2SP tlog-checkpoint bodies in C2SP signed notes, signed with Ed25519. Pure: no Django.

A checkpoint commits to the log's tree head::

    <origin>\\n<tree size>\\n<base64 root hash>\\n[extension lines]

and is wrapped in a signed note: the body, a blank line, then one line per signature::

    \u2014 <key name> <base64(4-byte key ID || Ed25519 signature over the body)>

Keys use the formats of golang.org/x/mod/sumdb/note, so Go tooling (and witnesses built
on it) can read our checkpoints and keys:

- verifier key ``<name>+<8 hex key ID>+<base64(0x01 || 32-byte public key)>``
- signer key ``PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 || 32-byte seed)>``
- key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4]

Specs: https://c2sp.org/tlog-checkpoint and https://c2sp.org/signed-note
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
ROOT_SIZE = 32
# The note spec requires accepting at least 16; Go's note package stops at 100.
MAX_SIGNATURES = 100

_SIZE_RE = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_RE = re.compile(r"[0-9a-fA-F]{8}")


class NoteError(ValueError):
    """A note, key string or checkpoint is malformed, or its signatures do not check out."""


class CheckpointError(NoteError):
    """A checkpoint body does not follow c2sp.org/tlog-checkpoint."""


class InvalidSignatureError(NoteError):
    """A signature line from a known key does not verify: the note was altered or forged."""

    def __init__(self, key_name: str, key_id: bytes) -> None:
        self.key_name = key_name
        self.key_id = key_id
        super().__init__(
            f"signature by known key {key_name}+{key_id.hex()} does not verify: "
            f"the note text was changed after signing, or the signature was forged"
        )


class UnverifiedNoteError(NoteError):
    """The note is well-formed but carries no signature from any trusted key."""

    def __init__(self, signed_by: Sequence[str], trusted: Sequence[str]) -> None:
        self.signed_by = list(signed_by)
        self.trusted = list(trusted)
        super().__init__(
            f"no signature from a trusted key: the note is signed by "
            f"[{', '.join(self.signed_by)}], trusted keys are [{', '.join(self.trusted) or 'none'}]"
        )


# ---------------------------------------------------------------------------
# Checkpoint body
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """One signed tree head: the log's origin, its size, and its RFC 6962 root hash."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or _has_control(self.origin):
            raise CheckpointError(f"checkpoint origin {self.origin!r} must be one non-empty line")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise CheckpointError(f"checkpoint size {self.size!r} must be an integer >= 0")
        if not isinstance(self.root, bytes) or len(self.root) != ROOT_SIZE:
            raise CheckpointError(f"checkpoint root must be {ROOT_SIZE} bytes, got {self.root!r}")
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for line in self.extensions:
            if not line or "\n" in line or _has_control(line):
                raise CheckpointError(f"checkpoint extension line {line!r} must be one non-empty line")

    def body(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each ending in newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii"), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse a checkpoint note text strictly; CheckpointError says what is wrong."""
        if not isinstance(body, str):
            raise CheckpointError(f"checkpoint body must be str, got {type(body).__name__}")
        if not body.endswith("\n"):
            raise CheckpointError("checkpoint body must end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(f"checkpoint body has {len(lines)} lines, needs origin, size and root hash")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise CheckpointError("checkpoint origin (line 1) is empty")
        if not _SIZE_RE.fullmatch(size_text):
            raise CheckpointError(
                f"checkpoint tree size (line 2) {size_text!r} is not a decimal number without leading zeros"
            )
        try:
            root = _b64decode_strict(root_text)
        except ValueError:
            raise CheckpointError(f"checkpoint root hash (line 3) {root_text!r} is not canonical base64") from None
        if len(root) != ROOT_SIZE:
            looks_hex = re.fullmatch(r"[0-9a-fA-F]{64}", root_text)
            hint = " (it looks like hex; checkpoints carry base64)" if looks_hex else ""
            raise CheckpointError(
                f"checkpoint root hash (line 3) decodes to {len(root)} bytes, expected {ROOT_SIZE}{hint}"
            )
        for number, line in enumerate(extensions, start=4):
            if not line:
                raise CheckpointError(f"checkpoint extension line {number} is empty")
        return cls(origin=origin, size=int(size_text), root=root, extensions=tuple(extensions))


# ---------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte note key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    _check_key_name(name)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


class Verifier:
    """A trusted Ed25519 note key: checks signature lines carrying its name and key ID."""

    def __init__(self, name: str, public_key: bytes | Ed25519PublicKey) -> None:
        if isinstance(public_key, Ed25519PublicKey):
            raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        else:
            raw = bytes(public_key)
        if len(raw) != 32:
            raise NoteError(f"Ed25519 public key must be 32 bytes, got {len(raw)}")
        self.name = name
        self.public_key_bytes = raw
        self.key_id = key_id(name, raw)
        self._key = Ed25519PublicKey.from_public_bytes(raw)

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse ``<name>+<hex key ID>+<base64(0x01 || public key)>``; NoteError if malformed."""
        name, sep1, rest = vkey.partition("+")
        id_hex, sep2, key_b64 = rest.partition("+")
        if not (sep1 and sep2) or not _is_valid_name(name) or not _KEY_ID_RE.fullmatch(id_hex):
            raise NoteError(f"malformed verifier key {vkey!r}: expected <name>+<8 hex digits>+<base64 key>")
        try:
            key = _b64decode_strict(key_b64)
        except ValueError:
            raise NoteError(f"malformed verifier key {vkey!r}: key data is not canonical base64") from None
        if len(key) != 33 or key[0] != ALG_ED25519:
            raise NoteError(f"verifier key {vkey!r} is not an Ed25519 key (0x01 followed by 32 bytes)")
        verifier = cls(name, key[1:])
        if verifier.key_id != bytes.fromhex(id_hex):
            raise NoteError(
                f"verifier key {vkey!r}: key ID {id_hex} does not match the key (computed {verifier.key_id.hex()})"
            )
        return verifier

    def vkey(self) -> str:
        """This key in the Go note verifier-key format."""
        data = base64.b64encode(bytes([ALG_ED25519]) + self.public_key_bytes).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{data}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True if ``signature`` is this key's Ed25519 signature over ``message``."""
        if len(signature) != 64:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"Verifier({self.vkey()!r})"


class Signer:
    """An Ed25519 note signing key with its key name (normally the log origin)."""

    def __init__(self, name: str, private_key: bytes | str | Ed25519PrivateKey) -> None:
        """``private_key``: a 32-byte raw seed, a PEM (PKCS#8, unencrypted), or a key object."""
        _check_key_name(name)
        self.name = name
        self._key = _load_private_key(private_key)
        self.public_key_bytes = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id(name, self.public_key_bytes)

    @classmethod
    def from_skey(cls, skey: str) -> Signer:
        """Parse ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>`` (Go note format)."""
        # Never echo the key material in errors: this string is a secret.
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise NoteError("malformed signer key: expected PRIVATE+KEY+<name>+<8 hex digits>+<base64 seed>")
        _, _, name, id_hex, key_b64 = parts
        if not _is_valid_name(name) or not _KEY_ID_RE.fullmatch(id_hex):
            raise NoteError(f"malformed signer key for {name!r}: bad key name or key ID")
        try:
            key = _b64decode_strict(key_b64)
        except ValueError:
            raise NoteError(f"malformed signer key for {name!r}: key data is not canonical base64") from None
        if len(key) != 33 or key[0] != ALG_ED25519:
            raise NoteError(f"signer key for {name!r} is not an Ed25519 key (0x01 followed by a 32-byte seed)")
        signer = cls(name, key[1:])
        if signer.key_id != bytes.fromhex(id_hex):
            raise NoteError(f"signer key for {name!r}: key ID {id_hex} does not match the key")
        return signer

    def skey(self) -> str:
        """This key in the Go note signer-key format. Secret."""
        seed = self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        data = base64.b64encode(bytes([ALG_ED25519]) + seed).decode("ascii")
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{data}"

    def verifier(self) -> Verifier:
        """The matching public Verifier."""
        return Verifier(self.name, self.public_key_bytes)

    def verifier_key(self) -> str:
        """The public verifier-key string to publish and to ship in evidence packs."""
        return self.verifier().vkey()

    def signature_line(self, body: str) -> str:
        """``— <name> <base64(key ID || signature)>\\n`` over the note text ``body``."""
        _check_note_text(body)
        signature = self._key.sign(body.encode("utf-8"))
        payload = base64.b64encode(self.key_id + signature).decode("ascii")
        return f"{SIGNATURE_PREFIX}{self.name} {payload}\n"

    def sign(self, body: str) -> str:
        """The signed note: ``body``, a blank line, and this key's signature line."""
        return sign_note(body, [self])

    def __repr__(self) -> str:
        return f"Signer({self.name!r}, key_id={self.key_id.hex()})"


def generate_signing_key(name: str) -> tuple[str, str]:
    """A new Ed25519 key pair as (signer key, verifier key) strings in the Go note format."""
    signer = Signer(name, Ed25519PrivateKey.generate())
    return signer.skey(), signer.verifier_key()


# ---------------------------------------------------------------------------
# Signed notes
# ---------------------------------------------------------------------------


def sign_note(body: str, signers: Sequence[Signer]) -> str:
    """``body`` signed by each of ``signers`` (e.g. old and new key during a rotation)."""
    if not signers:
        raise NoteError("sign_note needs at least one signer")
    _check_note_text(body)
    return body + "\n" + "".join(signer.signature_line(body) for signer in signers)


def add_signature(note: str, signer: Signer) -> str:
    """Append (or replace) ``signer``'s signature on an already signed note: cosigning.

    Existing signature lines are kept as they are, except one by the same name and key
    ID, which is replaced. Nothing is verified here; open_note() does that.
    """
    body, lines = _split_note(note)
    kept = [line for line in lines if _line_key(line) != (signer.name, signer.key_id)]
    return body + "\n" + "".join(line + "\n" for line in kept) + signer.signature_line(body)


def open_note(note: str | bytes, verifiers: Iterable[Verifier | str]) -> tuple[str, list[str]]:
    """Check a signed note against trusted keys; return (note text, names of verified keys).

    Follows c2sp.org/signed-note: lines from unknown keys (name or key ID not trusted)
    are ignored; a line from a trusted key that does not verify rejects the whole note
    (InvalidSignatureError); a note without any verified signature is rejected
    (UnverifiedNoteError); a malformed note or signature line raises NoteError.
    ``verifiers`` may mix Verifier objects and verifier-key strings.
    """
    trusted: dict[tuple[str, bytes], Verifier] = {}
    for item in verifiers:
        verifier = Verifier.from_vkey(item) if isinstance(item, str) else item
        key = (verifier.name, verifier.key_id)
        if key in trusted and trusted[key].public_key_bytes != verifier.public_key_bytes:
            raise NoteError(
                f"ambiguous trusted keys: two different keys are named {verifier.name}+{verifier.key_id.hex()}"
            )
        trusted[key] = verifier

    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("malformed note: not valid UTF-8") from None
    body, lines = _split_note(note)
    message = body.encode("utf-8")

    verified: list[str] = []
    signed_by: list[str] = []
    seen: set[tuple[str, bytes]] = set()
    for line in lines:
        name, key, signature = _parse_signature_line(line)
        signed_by.append(f"{name}+{key.hex()}")
        verifier = trusted.get((name, key))
        if verifier is None or (name, key) in seen:
            continue  # unknown keys are ignored; a repeated key is checked once (as Go does)
        seen.add((name, key))
        if not verifier.verify(message, signature):
            raise InvalidSignatureError(name, key)
        verified.append(name)
    if not verified:
        raise UnverifiedNoteError(signed_by, [f"{v.name}+{v.key_id.hex()}" for v in trusted.values()])
    return body, verified


def note_signers(note: str) -> tuple[str, list[str]]:
    """(note text, ``name+hexkeyid`` of every signature line), checking no signature: for reports only."""
    body, lines = _split_note(note)
    return body, [f"{name}+{key.hex()}" for name, key in map(_line_key, lines)]


def _split_note(note: str) -> tuple[str, list[str]]:
    """(text, signature lines without newlines) of a note; NoteError if malformed."""
    if not isinstance(note, str):
        raise NoteError(f"note must be text, got {type(note).__name__}")
    if _has_control(note.replace("\n", "")):
        raise NoteError("malformed note: contains control characters other than newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line separating the text from the signatures")
    body, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise NoteError("malformed note: the signature block must be non-empty and end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: {len(lines)} signature lines, at most {MAX_SIGNATURES} are accepted")
    return body, lines


def _parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError(f"malformed signature line {line!r}: must start with an em dash and a space")
    name, sep, payload_b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not sep or not _is_valid_name(name) or not payload_b64:
        raise NoteError(f"malformed signature line {line!r}: expected '\u2014 <key name> <base64 signature>'")
    try:
        payload = _b64decode_strict(payload_b64)
    except ValueError:
        raise NoteError(f"malformed signature line {line!r}: signature is not canonical base64") from None
    if len(payload) < 5:
        raise NoteError(f"malformed signature line {line!r}: signature is shorter than a key ID plus one byte")
    return name, payload[:4], payload[4:]


def _line_key(line: str) -> tuple[str, bytes]:
    name, key, _ = _parse_signature_line(line)
    return name, key


def _check_note_text(body: str) -> None:
    if not body.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if _has_control(body.replace("\n", "")):
        raise NoteError("note text must not contain control characters other than newline")


def _is_valid_name(name: str) -> bool:
    # Go: non-empty, valid UTF-8, no Unicode spaces, no '+'.
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name) and not _has_control(name)


def _check_key_name(name: str) -> None:
    if not _is_valid_name(name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 for ch in text)


def _b64decode_strict(text: str) -> bytes:
    """Standard padded base64 that re-encodes to exactly ``text``; ValueError otherwise."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not canonical base64")
    return raw


def _load_private_key(private_key: bytes | str | Ed25519PrivateKey) -> Ed25519PrivateKey:
    if isinstance(private_key, Ed25519PrivateKey):
        return private_key
    if isinstance(private_key, (bytes, bytearray)) and len(private_key) == 32:
        return Ed25519PrivateKey.from_private_bytes(bytes(private_key))
    # A str is only ever PEM: a 32-character string must not be mistaken for a raw seed.
    if isinstance(private_key, str):
        private_key = private_key.encode("utf-8")
    if isinstance(private_key, (bytes, bytearray)) and private_key.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(bytes(private_key), password=None)
        except (ValueError, TypeError) as exc:
            raise NoteError(f"cannot load PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise NoteError(f"PEM private key is {type(key).__name__}, expected Ed25519")
        return key
    raise NoteError("private key must be a 32-byte Ed25519 seed, a PEM private key, or an Ed25519PrivateKey")
