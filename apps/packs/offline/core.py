"""Offline verification of an evidence pack. Standard library and `cryptography` only; no Django.

`manage.py verify_pack` runs this code with the portal's keys, and it is one part of the
stand-alone verifier the portal publishes (apps/packs/verifier.py joins it with the ledger's
pure modules and cli.py into one file, `compliance_verify.py`). What it checks, in order:

1. `manifest.dsse.json` is a DSSE envelope (payload type `application/vnd.in-toto+json`)
   whose Ed25519 signature over PAE(type, payload) verifies with a trusted key: one given
   by the caller (pinned). With none given it is checked against the key the manifest names,
   which proves nothing about who signed it: the report says UNVERIFIED, never OK.
2. The payload is an in-toto Statement v1 of our predicate type; its subjects are every
   file of the pack but the envelope, and each file's sha256 matches its subject digest.
   No file may be missing, and no unsigned file may be present.
3. `manifest.json` (itself a subject) lists the same files with the same digests and sizes.
4. The ledger checkpoint in the manifest is signed by a trusted ledger key, and each
   evidence item's ledger entry (its exact bytes) is included in the log at its index
   under that checkpoint; the entry records that evidence item and the sha256 of its raw
   file, and that file is in the pack.
5. An engagement pack's consistency proof shows the log at the pack's checkpoint extends the
   checkpoint current when the engagement opened (RFC 9162 section 2.1.4).

Every failure raises PackVerificationError with a message that names the file, item or
proof and says what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from apps.ledger.checkpoint import NoteError, Verifier
from apps.ledger.verify import VerificationError, verify_consistency_between, verify_entry

ENVELOPE = "manifest.dsse.json"
MANIFEST = "manifest.json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://compliance-portal.dev/evidence-pack/v1"
# Never part of what is signed: bytecode Python writes next to the verifier when it runs.
IGNORED_PARTS = ("__pycache__",)
IGNORED_SUFFIXES = (".pyc",)


class PackVerificationError(Exception):
    """The pack failed a check; the message says which and why."""


@dataclass
class Report:
    """What a successful verification established."""

    files: int = 0
    evidence: int = 0
    proofs: int = 0
    signing_key: str = ""
    key_trusted: bool = False
    ledger_key_trusted: bool = False
    checkpoint_origin: str = ""
    checkpoint_size: int = 0
    checkpoint_root: str = ""
    consistency_from: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def unverified(self) -> list[str]:
        """What was checked only against keys the pack itself names: no proof of who signed it."""
        out = []
        if not self.key_trusted:
            out.append(f"the manifest signature: signed by {key_label(self.signing_key)}; "
                       f"pin a key with --trusted-key or --keys-url")
        if not self.ledger_key_trusted:
            out.append("the ledger checkpoint: signed by the key the manifest names; "
                       "pin a key with --trusted-key or --keys-url")
        return out

    def summary(self) -> str:
        """Never says OK for a signature that was not checked against a pinned key."""
        ok = "OK" if not self.unverified else "checked"
        lines = [
            f"{ok}: {self.files} files match the signed statement"
            + (f"; signature by a pinned key: {self.signing_key}" if self.key_trusted else ""),
            f"{ok}: {self.proofs} ledger inclusion proofs for {self.evidence} evidence items lead to "
            f"checkpoint {self.checkpoint_origin} size {self.checkpoint_size} root {self.checkpoint_root}",
        ]
        if self.consistency_from is not None:
            lines.append(f"{ok}: the log at size {self.checkpoint_size} is an append-only extension of the "
                         f"engagement's opening checkpoint at size {self.consistency_from} (consistency proof)")
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"UNVERIFIED: {u}" for u in self.unverified]
        return "\n".join(lines)


def key_label(vkey: str) -> str:
    """``name+keyid`` of a verifier key (what signature lines name), or the text itself if malformed."""
    parts = str(vkey).split("+")
    return "+".join(parts[:2]) if len(parts) == 3 else str(vkey)


# ---------------------------------------------------------------- DSSE and keys


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body (byte lengths)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _b64(text, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise PackVerificationError(f"{what} is not valid base64") from None


def _verifier(vkey: str, what: str) -> Verifier:
    try:
        return Verifier.from_vkey(vkey.strip())
    except (NoteError, AttributeError) as exc:
        raise PackVerificationError(f"{what}: {exc}") from None


def verify_envelope(envelope_bytes: bytes, trusted_keys: Iterable[str]) -> tuple[bytes, str, bool]:
    """Check the DSSE envelope; returns (payload, key that verified, whether that key was trusted by the caller)."""
    try:
        envelope = json.loads(envelope_bytes)
    except ValueError:
        raise PackVerificationError(f"{ENVELOPE} is not JSON") from None
    if not isinstance(envelope, dict) or envelope.get("payloadType") != PAYLOAD_TYPE:
        raise PackVerificationError(f"{ENVELOPE}: payloadType must be {PAYLOAD_TYPE!r}")
    payload = _b64(envelope.get("payload"), f"{ENVELOPE}: payload")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise PackVerificationError(f"{ENVELOPE} carries no signature")
    trusted = [_verifier(k, "trusted key") for k in trusted_keys]
    key_trusted = bool(trusted)
    if not trusted:
        # No key given: fall back to the key the statement names, after checking it signed it.
        try:
            named = json.loads(payload)["predicate"]["signing_key"]
        except (ValueError, KeyError, TypeError):
            raise PackVerificationError(f"{ENVELOPE}: the statement does not name its signing key") from None
        trusted = [_verifier(named, "the statement's signing key")]
    message = pae(PAYLOAD_TYPE, payload)
    for signature in signatures:
        keyid = signature.get("keyid", "") if isinstance(signature, dict) else ""
        sig = _b64(signature.get("sig") if isinstance(signature, dict) else None, f"{ENVELOPE}: signature")
        for verifier in trusted:
            if keyid and keyid != verifier.vkey():
                continue
            try:
                Ed25519PublicKey.from_public_bytes(verifier.public_key_bytes).verify(sig, message)
            except InvalidSignature:
                raise PackVerificationError(
                    f"{ENVELOPE}: the signature by {verifier.vkey()} does not verify: the statement or the "
                    f"envelope was changed after signing, or it was signed by another key"
                ) from None
            return payload, verifier.vkey(), key_trusted
    raise PackVerificationError(
        f"{ENVELOPE}: no signature by a trusted key (signed by: "
        f"{', '.join(str(s.get('keyid', '?')) for s in signatures if isinstance(s, dict))})"
    )


# ---------------------------------------------------------------- the pack's files


class PackFiles:
    """A pack's files, from a ZIP or from the directory it was unpacked into."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            self._zip = None
            self.names = sorted(
                p.relative_to(self.path).as_posix()
                for p in self.path.rglob("*")
                if p.is_file() and not _ignored(p.relative_to(self.path).as_posix())
            )
        else:
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise PackVerificationError(f"{self.path}: not a readable ZIP file ({exc})") from None
            self.names = sorted(n for n in self._zip.namelist() if not n.endswith("/") and not _ignored(n))

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(name)
        return (self.path / name).read_bytes()

    def digest(self, name: str) -> tuple[str, int]:
        """sha256 hex and size, streamed."""
        h = hashlib.sha256()
        size = 0
        opener = self._zip.open(name) if self._zip is not None else open(self.path / name, "rb")  # noqa: SIM115
        with opener as fh:
            while block := fh.read(1 << 20):
                h.update(block)
                size += len(block)
        return h.hexdigest(), size


def _ignored(name: str) -> bool:
    parts = name.split("/")
    return any(p in IGNORED_PARTS for p in parts) or name.endswith(IGNORED_SUFFIXES)


# ---------------------------------------------------------------- the whole check


def verify_pack(path, *, trusted_keys: Iterable[str] = (), ledger_keys: Iterable[str] = ()) -> Report:
    """Verify the pack at `path` (a ZIP, or the directory it was unpacked into). Raises PackVerificationError."""
    files = PackFiles(Path(path))
    report = Report()
    if ENVELOPE not in files.names:
        raise PackVerificationError(f"{ENVELOPE} is missing: the pack is not signed")
    payload, report.signing_key, report.key_trusted = verify_envelope(files.read(ENVELOPE), list(trusted_keys))

    try:
        statement = json.loads(payload)
    except ValueError:
        raise PackVerificationError(f"{ENVELOPE}: the signed payload is not JSON") from None
    if statement.get("_type") != STATEMENT_TYPE:
        raise PackVerificationError(f"the signed statement's _type is not {STATEMENT_TYPE}")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise PackVerificationError(f"the signed statement's predicateType is not {PREDICATE_TYPE}")
    subjects = {}
    for subject in statement.get("subject") or []:
        subjects[subject.get("name")] = (subject.get("digest") or {}).get("sha256")

    present = set(files.names) - {ENVELOPE}
    for name in sorted(set(subjects) - present):
        raise PackVerificationError(f"{name}: listed in the signed statement but missing from the pack")
    for name in sorted(present - set(subjects)):
        raise PackVerificationError(f"{name}: in the pack but not in the signed statement (added afterwards?)")
    sizes = {}
    for name in sorted(subjects):
        digest, size = files.digest(name)
        if digest != subjects[name]:
            raise PackVerificationError(
                f"{name}: sha256 {digest} does not match the signed statement ({subjects[name]}): "
                f"the file was changed after the pack was built"
            )
        sizes[name] = size
    report.files = len(subjects)

    if MANIFEST not in subjects:
        raise PackVerificationError(f"{MANIFEST} is not in the signed statement")
    try:
        manifest = json.loads(files.read(MANIFEST))
    except ValueError:
        raise PackVerificationError(f"{MANIFEST} is not JSON") from None
    listed = {f["name"]: f for f in manifest.get("files", [])}
    expected = set(subjects) - {MANIFEST}
    if set(listed) != expected:
        odd = sorted(set(listed) ^ expected)
        raise PackVerificationError(f"{MANIFEST}: its file list differs from the signed statement: {odd[:5]}")
    for name, entry in listed.items():
        if entry.get("sha256") != subjects[name] or entry.get("size") != sizes[name]:
            raise PackVerificationError(f"{MANIFEST}: the sha256 or size it gives for {name} is wrong")

    _verify_proofs(manifest, listed, report, list(ledger_keys))
    return report


def _verify_proofs(manifest: dict, listed: dict, report: Report, ledger_keys: list[str]) -> None:
    ledger = manifest.get("ledger") or {}
    note = ledger.get("checkpoint")
    if not note:
        raise PackVerificationError(f"{MANIFEST}: no ledger checkpoint")
    keys = ledger_keys or list(ledger.get("verifier_keys") or [])
    report.ledger_key_trusted = bool(ledger_keys)
    evidence = manifest.get("evidence") or []
    checkpoint = None
    for item in evidence:
        what = f"evidence item {item.get('id')}"
        proof = item.get("ledger")
        if not proof:
            raise PackVerificationError(f"{what}: no ledger inclusion proof in {MANIFEST}")
        entry_text = proof.get("entry", "")
        try:
            checkpoint = verify_entry(entry_text.encode("utf-8"), proof.get("index"), proof.get("proof") or [],
                                      note, keys)
        except VerificationError as exc:
            raise PackVerificationError(f"{what}: ledger inclusion proof fails: {exc}") from None
        try:
            entry = json.loads(entry_text)
        except ValueError:
            raise PackVerificationError(f"{what}: its ledger entry is not JSON") from None
        obj = entry.get("object") or {}
        if entry.get("action") != "evidence.recorded" or obj.get("id") != str(item.get("id")):
            raise PackVerificationError(f"{what}: its ledger entry records something else ({entry.get('action')})")
        sha = (entry.get("data") or {}).get("sha256")
        if sha != item.get("sha256"):
            raise PackVerificationError(f"{what}: the ledger recorded raw file sha256 {sha}, the manifest says "
                                        f"{item.get('sha256')}")
        name = item.get("file")
        if name:
            if name not in listed or listed[name].get("sha256") != sha:
                raise PackVerificationError(f"{what}: its raw file {name} is not in the pack with sha256 {sha}")
        elif not item.get("file_absent_reason"):
            raise PackVerificationError(f"{what}: no raw file and no reason why")
        report.proofs += 1
    report.evidence = len(evidence)
    if checkpoint is not None:
        report.checkpoint_origin = checkpoint.origin
        report.checkpoint_size = checkpoint.size
        report.checkpoint_root = base64.b64encode(checkpoint.root).decode("ascii")
    else:
        report.checkpoint_origin = note.split("\n", 1)[0]
        report.notes.append("no evidence items, so no inclusion proofs")
    consistency = ledger.get("consistency")
    if consistency:
        try:
            old, new = verify_consistency_between(consistency.get("from_checkpoint", ""), note,
                                                  consistency.get("proof") or [], keys)
        except VerificationError as exc:
            raise PackVerificationError(f"{MANIFEST}: the consistency proof from the engagement's opening "
                                        f"checkpoint fails: {exc}") from None
        report.consistency_from = old.size
        report.checkpoint_size = new.size
