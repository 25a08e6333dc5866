"""The stand-alone verifier's command line: packs, single entry proofs, consistency proofs, log exports.

Standard library and `cryptography` only. apps/packs/verifier.py joins this module with
core.py and the ledger's checkpoint.py, merkle.py and verify.py into ONE file,
`compliance_verify.py`, which the portal serves at /verify/ with its sha256 (never inside
a pack: a pack cannot vouch for the program that checks it).

Exit status: 0 when everything verified against pinned keys; 1 when a check failed
(FAILED: what and why); 2 when every check that could run passed but a signature could
not be tied to a pinned key (UNVERIFIED: … signed by <key>; pin a key with --trusted-key
or --keys-url). Without a pinned key the verifier never says OK for a signature.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from apps.ledger.verify import (
    VerificationError,
    encode_hash,
    export_leaves,
    read_checkpoint_unverified,
    verify_consistency_between,
    verify_entry,
    verify_log,
)
from apps.packs.offline.core import PackVerificationError, verify_pack

PIN_HINT = "pin a key with --trusted-key or --keys-url"
EXIT_OK, EXIT_FAILED, EXIT_UNVERIFIED = 0, 1, 2


@dataclass
class Outcome:
    """What one verification printed: lines that held, and signatures no pinned key vouches for."""

    lines: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)


@dataclass
class PinnedKeys:
    """Keys the reader trusts: from --trusted-key, a keys.json (by URL or file), split by purpose."""

    pack: list[str] = field(default_factory=list)
    ledger: list[str] = field(default_factory=list)

    def add(self, vkey: str, purpose: str = "") -> None:
        if purpose in ("", "pack") and vkey not in self.pack:
            self.pack.append(vkey)
        if purpose in ("", "ledger") and vkey not in self.ledger:
            self.ledger.append(vkey)


def keys_from_json(document: bytes, where: str) -> list[tuple[str, str]]:
    """(purpose, vkey) of each key of a keys.json: {"keys": [{"purpose", "vkey", "valid_from", "valid_to"}]}."""
    try:
        keys = json.loads(document)["keys"]
        return [(str(k["purpose"]), str(k["vkey"])) for k in keys]
    except (ValueError, KeyError, TypeError) as exc:
        raise VerificationError(f"{where} is not a keys.json ({{\"keys\": [{{\"purpose\", \"vkey\"}}]}}): {exc}") \
            from None


def load_pinned(args) -> PinnedKeys:
    pinned = PinnedKeys()
    for vkey in args.trusted_key + args.ledger_key:
        pinned.add(vkey.strip())
    for path in args.keys_file:
        for purpose, vkey in keys_from_json(Path(path).read_bytes(), path):
            pinned.add(vkey, purpose)
    for url in args.keys_url:
        if not url.startswith(("https://", "http://")):
            raise VerificationError(f"--keys-url {url!r}: expected an http(s) URL (a local file: --keys-file)")
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the reader's own choice of URL
            document = response.read()
        for purpose, vkey in keys_from_json(document, url):
            pinned.add(vkey, purpose)
    return pinned


# ---------------------------------------------------------------- the four kinds of input


def check_pack(path: Path, pinned: PinnedKeys) -> Outcome:
    try:
        report = verify_pack(path, trusted_keys=pinned.pack, ledger_keys=pinned.ledger)
    except PackVerificationError as exc:
        raise VerificationError(str(exc)) from None
    lines = [line for line in report.summary().split("\n") if not line.startswith("UNVERIFIED: ")]
    return Outcome(lines=lines, unverified=report.unverified)


def _checkpoint_keys(note: str, pinned: list[str], named: list[str], what: str, out: Outcome) -> list[str]:
    """The keys to check a checkpoint with: the pinned ones, else (UNVERIFIED) the ones the input names."""
    if pinned:
        return pinned
    _, signers = read_checkpoint_unverified(note)
    out.unverified.append(f"{what} signed by {', '.join(signers) or 'nobody'}; {PIN_HINT}")
    return named


def check_entry(bundle: dict, pinned: PinnedKeys) -> Outcome:
    """The JSON of a ledger entry page: {"index", "entry", "checkpoint", "proof", "verifier_keys"}."""
    out = Outcome()
    if not bundle.get("checkpoint"):
        raise VerificationError(f"entry {bundle.get('index')}: the proof carries no checkpoint yet (the entry was "
                                f"not sequenced and signed when it was downloaded): download it again")
    note = bundle["checkpoint"]
    keys = _checkpoint_keys(note, pinned.ledger, list(bundle.get("verifier_keys") or []), "the checkpoint", out)
    if not keys:
        raise VerificationError("no key to check the checkpoint with: " + PIN_HINT)
    withheld = bundle.get("entry") is None and bool(bundle.get("leaf_hash"))
    if withheld:  # outside the reader's scope: the leaf hash stands for the entry
        try:
            leaf = bytes.fromhex(bundle["leaf_hash"])
        except (TypeError, ValueError):
            raise VerificationError(f"entry {bundle.get('index')}: leaf_hash is not hex") from None
        checkpoint = verify_entry(b"", bundle.get("index"), bundle.get("proof") or [], note, keys, leaf=leaf)
    else:
        entry = str(bundle.get("entry", "")).encode("utf-8")
        checkpoint = verify_entry(entry, bundle.get("index"), bundle.get("proof") or [], note, keys)
    ok = "OK" if pinned.ledger else "checked"
    what = f"entry {bundle['index']}" + (" (its content withheld: only its leaf hash)" if withheld else "")
    out.lines.append(f"{ok}: {what} is included in {checkpoint.origin} at size {checkpoint.size} "
                     f"root {encode_hash(checkpoint.root)} (inclusion proof)")
    return out


def check_consistency(bundle: dict, pinned: PinnedKeys) -> Outcome:
    """{"first", "second", "proof", "first_checkpoint", "second_checkpoint"}: an engagement page's download."""
    out = Outcome()
    old_note, new_note = bundle.get("first_checkpoint") or "", bundle.get("second_checkpoint") or ""
    keys = pinned.ledger
    if not keys:
        for what, note in (("the first checkpoint", old_note), ("the second checkpoint", new_note)):
            _checkpoint_keys(note, [], [], what, out)
        keys = list(bundle.get("verifier_keys") or [])
        if not keys:
            raise VerificationError("no key to check the checkpoints with: " + PIN_HINT)
    old, new = verify_consistency_between(old_note, new_note, bundle.get("proof") or [], keys)
    for name, value, checkpoint in (("first", bundle.get("first"), old), ("second", bundle.get("second"), new)):
        if value is not None and value != checkpoint.size:
            raise VerificationError(f'"{name}" is {value} but its checkpoint is for size {checkpoint.size}')
    ok = "OK" if pinned.ledger else "checked"
    out.lines.append(f"{ok}: {new.origin} at size {new.size} (root {encode_hash(new.root)}) is an append-only "
                     f"extension of size {old.size} (root {encode_hash(old.root)}): nothing was rewritten")
    return out


def check_export(path: Path, checkpoint_files: list[str], pinned: PinnedKeys) -> Outcome:
    """A log export (JSON Lines from index 0) against checkpoints, recomputing the whole tree."""
    out = Outcome()
    notes = []
    for name in checkpoint_files:
        text = Path(name).read_text(encoding="utf-8")
        if text.lstrip().startswith("{"):  # the answer of /api/v1/ledger/checkpoints
            notes += [c["note"] for c in json.loads(text)["checkpoints"]]
        else:
            notes.append(text)
    if not notes:
        raise VerificationError("an export is checked against a checkpoint: pass --checkpoint FILE (a signed "
                                "checkpoint note, or the JSON of /api/v1/ledger/checkpoints)")
    keys = pinned.ledger
    withheld: list[int] = []
    if not keys:
        signers = sorted({s for note in notes for s in read_checkpoint_unverified(note)[1]})
        out.unverified.append(f"the checkpoints signed by {', '.join(signers)}; {PIN_HINT}")
        summary = _export_unsigned(path, notes, withheld)
    else:
        with open(path, "rb") as fh:
            summary = verify_log(export_leaves(fh, withheld), notes, keys, hashed=True)
    ok = "OK" if keys else "checked"
    out.lines.append(f"{ok}: {summary.entries} exported entries recomputed; the tree matches {summary.checkpoints} "
                     f"checkpoint(s) of {summary.origin}, covering entries 0..{summary.verified_size - 1}")
    if summary.verified_size < summary.entries:
        out.lines.append(f"note: entries {summary.verified_size}..{summary.entries - 1} are after the largest "
                         f"checkpoint given, so no signature covers them")
    if withheld:
        out.lines.append(f"note: {len(withheld)} of the {summary.entries} entries are withheld (outside the "
                         f"reader's scope: leaf hash only); their content was not seen, only their place in the log")
    return out


def _export_unsigned(path: Path, notes: list[str], withheld: list[int]):
    """verify_log() against checkpoint bodies whose signatures no pinned key checks: roots still recomputed."""
    bodies = [read_checkpoint_unverified(note)[0] for note in notes]
    with open(path, "rb") as fh:
        return verify_log(export_leaves(fh, withheld), bodies, [], hashed=True)


def detect(path: Path) -> tuple[str, dict | None]:
    """("pack" | "entry" | "consistency" | "export", parsed JSON or None) for what `path` holds."""
    if path.is_dir():
        return "pack", None
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK"):
        return "pack", None
    if path.suffix == ".jsonl":
        return "export", None
    try:
        document = json.loads(path.read_bytes())
    except ValueError:
        document = None
    if isinstance(document, dict) and "entry" in document and "proof" in document:
        return "entry", document
    if isinstance(document, dict) and "first_checkpoint" in document and "proof" in document:
        return "consistency", document
    if head.startswith(b"{") and b"\n" in path.read_bytes()[:1 << 20].rstrip(b"\n"):
        return "export", None
    raise VerificationError(f"{path}: not a pack (ZIP or directory), an entry proof JSON, a consistency proof "
                            f"JSON or a log export (.jsonl)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="compliance_verify.py",
        description="Verify, offline, an evidence pack, a ledger entry proof, a consistency proof or a log export "
                    "of the compliance portal. Exit 0: verified against pinned keys; 1: FAILED; 2: UNVERIFIED "
                    "(no pinned key vouches for a signature).")
    parser.add_argument("target", help="pack ZIP or unpacked directory, entry proof .json, consistency proof "
                                       ".json, or log export .jsonl")
    parser.add_argument("--trusted-key", action="append", default=[],
                        help="a verifier key you trust (<name>+<key id>+<key>), for packs and the ledger; repeatable")
    parser.add_argument("--keys-url", action="append", default=[],
                        help="the portal's https://…/.well-known/compliance-portal/keys.json; repeatable")
    parser.add_argument("--keys-file", action="append", default=[], help="a saved keys.json; repeatable")
    parser.add_argument("--ledger-key", action="append", default=[], help=argparse.SUPPRESS)  # older spelling
    parser.add_argument("--checkpoint", action="append", default=[],
                        help="for an export: a signed checkpoint note, or the JSON of /api/v1/ledger/checkpoints")
    args = parser.parse_args(argv)
    try:
        pinned = load_pinned(args)
        target = Path(args.target)
        if not target.exists():
            raise VerificationError(f"{target}: no such file or directory")
        kind, document = detect(target)
        if kind == "pack":
            outcome = check_pack(target, pinned)
        elif kind == "entry":
            outcome = check_entry(document, pinned)
        elif kind == "consistency":
            outcome = check_consistency(document, pinned)
        else:
            outcome = check_export(target, args.checkpoint, pinned)
    except (VerificationError, OSError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for line in outcome.lines:
        print(line)
    for line in outcome.unverified:
        print(f"UNVERIFIED: {line}")
    return EXIT_UNVERIFIED if outcome.unverified else EXIT_OK

