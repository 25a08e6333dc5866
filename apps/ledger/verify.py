"""Offline verification of ledger entries, proofs and signed checkpoints.

Used by ``manage.py verify_ledger`` and by the stand-alone verifier shipped in evidence
packs, so it depends only on the standard library, ``cryptography`` and its sibling pure
modules (imported relatively, so the package can be shipped under any name). No Django.

Encodings, fixed for every proof this module accepts or emits:

- an entry is the exact bytes that were logged (the RFC 8785 canonical JSON); its leaf
  hash is SHA-256(0x00 || entry)
- a proof is a list of hashes, each **standard base64 with padding** (44 characters,
  the same encoding as the root line of a checkpoint); see ``encode_proof()``
- a checkpoint is a C2SP tlog-checkpoint in a C2SP signed note (``checkpoint.py``)
- trusted keys are Go note verifier keys ``<name>+<hex key ID>+<base64 key>``

Every failure raises VerificationError; its message says what failed, where, and what
it means for the log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .checkpoint import Checkpoint, NoteError, Verifier, note_signers, open_note
from .merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    ProofError,
    consistency_proof_length,
    inclusion_proof_length,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    roots_from_consistency_proof,
)


class VerificationError(Exception):
    """The log, an entry, a proof or a checkpoint failed verification.

    ``index`` is the first entry index known (or, for a root mismatch, the first that
    may be) bad, or None when the problem is not tied to an entry. ``checkpoint_size``
    names the checkpoint involved, if any. ``reason`` is the human explanation.
    """

    def __init__(self, reason: str, *, index: int | None = None, checkpoint_size: int | None = None) -> None:
        self.reason = reason
        self.index = index
        self.checkpoint_size = checkpoint_size
        super().__init__(reason)

    def __str__(self) -> str:
        if self.index is not None:
            return f"entry {self.index}: {self.reason}"
        return self.reason


@dataclass(frozen=True)
class LogSummary:
    """What verify_log() established."""

    entries: int  # entries read, indexes 0..entries-1
    checkpoints: int  # checkpoints whose signature and root were verified
    verified_size: int  # entries 0..verified_size-1 are covered by a verified checkpoint
    origin: str | None


def encode_hash(value: bytes) -> str:
    """A hash as it appears in proofs and checkpoints: standard padded base64."""
    return base64.b64encode(value).decode("ascii")


def encode_proof(hashes: Iterable[bytes]) -> list[str]:
    """A proof (list of 32-byte hashes) in the encoding verify_* functions accept."""
    return [encode_hash(h) for h in hashes]


def decode_proof(proof: Sequence[str]) -> list[bytes]:
    """Inverse of encode_proof(); VerificationError naming the first bad element."""
    if isinstance(proof, (str, bytes)):
        raise VerificationError("proof must be a list of base64 strings, not a single string")
    hashes = []
    for position, item in enumerate(proof):
        try:
            raw = base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raw = b""
        if len(raw) != HASH_SIZE or encode_hash(raw) != item:
            raise VerificationError(
                f"proof[{position}] = {item!r} is not a base64-encoded {HASH_SIZE}-byte hash "
                f"(expected 44 characters of standard base64)"
            )
        hashes.append(raw)
    return hashes


def load_verifiers(vkeys: Iterable[str | Verifier]) -> list[Verifier]:
    """Parse trusted verifier keys; VerificationError if none or one is malformed."""
    verifiers = []
    for position, vkey in enumerate(vkeys):
        if isinstance(vkey, Verifier):
            verifiers.append(vkey)
            continue
        try:
            verifiers.append(Verifier.from_vkey(vkey.strip()))
        except NoteError as exc:
            raise VerificationError(f"trusted key #{position} is unusable: {exc}") from None
    if not verifiers:
        raise VerificationError("no trusted keys given: pass the log's verifier key (<name>+<key ID>+<key>)")
    return verifiers


def open_checkpoint(note: str | bytes, verifiers: Sequence[Verifier], *, label: str = "checkpoint") -> Checkpoint:
    """Verify a checkpoint note's signature and parse its body; VerificationError if not."""
    claimed = _claimed_size(note)
    where = f"{label} (claims size {claimed})" if claimed is not None else label
    try:
        body, _ = open_note(note, verifiers)
    except NoteError as exc:
        raise VerificationError(f"{where}: {exc}", checkpoint_size=claimed) from None
    try:
        return Checkpoint.parse(body)
    except NoteError as exc:
        raise VerificationError(
            f"{where}: signed, but not a valid checkpoint: {exc}", checkpoint_size=claimed
        ) from None


def verify_entry(
    entry_bytes: bytes,
    index: int,
    proof: Sequence[str],
    checkpoint_note: str | bytes,
    vkeys: Iterable[str | Verifier],
    *,
    leaf: bytes | None = None,
) -> Checkpoint:
    """Prove that ``entry_bytes`` is entry ``index`` of the log signed in ``checkpoint_note``.

    ``proof`` is the RFC 6962 inclusion proof (base64 hashes) for ``index`` in the tree of
    the checkpoint's size. Returns the verified checkpoint. ``leaf`` instead of the entry's bytes
    proves a withheld entry (a reader outside its scope gets only its leaf hash): that this leaf
    is in the signed tree, nothing about its content.
    """
    checkpoint = open_checkpoint(checkpoint_note, load_verifiers(vkeys))
    size = checkpoint.size
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        covered = f"entries 0..{size - 1}" if size else "no entries (the log was empty)"
        raise VerificationError(
            f"index out of range: the checkpoint for {checkpoint.origin} at size {size} covers {covered}",
            index=index,
            checkpoint_size=size,
        )
    hashes = decode_proof(proof)
    expected = inclusion_proof_length(index, size)
    if len(hashes) != expected:
        raise VerificationError(
            f"inclusion proof has {len(hashes)} hashes, but a proof for entry {index} in a tree of "
            f"size {size} has exactly {expected}: it was made for another index or tree size",
            index=index,
            checkpoint_size=size,
        )
    if leaf is None:
        leaf = leaf_hash(bytes(entry_bytes))
    try:
        computed = root_from_inclusion_proof(leaf, index, size, hashes)
    except ProofError as exc:  # pragma: no cover - the length check above rules this out
        raise VerificationError(f"inclusion proof is malformed: {exc}", index=index, checkpoint_size=size) from None
    if computed != checkpoint.root:
        raise VerificationError(
            f"root mismatch: the entry bytes and proof lead to root {encode_hash(computed)}, but the "
            f"signed checkpoint for size {size} has root {encode_hash(checkpoint.root)}; the entry "
            f"bytes, its index or the proof differ from what was logged",
            index=index,
            checkpoint_size=size,
        )
    return checkpoint


def verify_consistency_between(
    old_note: str | bytes,
    new_note: str | bytes,
    proof: Sequence[str],
    vkeys: Iterable[str | Verifier],
) -> tuple[Checkpoint, Checkpoint]:
    """Prove the log in ``new_note`` is an append-only extension of the log in ``old_note``.

    ``proof`` is the RFC 6962 consistency proof (base64 hashes) from the old size to the
    new size. Returns (old checkpoint, new checkpoint).
    """
    verifiers = load_verifiers(vkeys)
    old = open_checkpoint(old_note, verifiers, label="old checkpoint")
    new = open_checkpoint(new_note, verifiers, label="new checkpoint")
    if old.origin != new.origin:
        raise VerificationError(
            f"the checkpoints are from different logs: old origin {old.origin!r}, new origin {new.origin!r}"
        )
    if old.size > new.size:
        raise VerificationError(
            f"the old checkpoint (size {old.size}) is larger than the new one (size {new.size}): "
            f"a log never shrinks; pass them in order or suspect a rollback",
            checkpoint_size=new.size,
        )
    hashes = decode_proof(proof)
    expected = consistency_proof_length(old.size, new.size)
    if len(hashes) != expected:
        raise VerificationError(
            f"consistency proof has {len(hashes)} hashes, but a proof from size {old.size} to size "
            f"{new.size} has exactly {expected}: it was made for other tree sizes",
            checkpoint_size=new.size,
        )
    if old.size == new.size:
        if old.root != new.root:
            raise VerificationError(
                f"two signed checkpoints for size {old.size} have different roots "
                f"({encode_hash(old.root)} and {encode_hash(new.root)}): the log has forked",
                checkpoint_size=new.size,
            )
        return old, new
    if old.size == 0:
        if old.root != EMPTY_ROOT:
            raise VerificationError(
                f"the old checkpoint is for an empty log but its root is {encode_hash(old.root)}, "
                f"not the empty-tree hash {encode_hash(EMPTY_ROOT)}",
                checkpoint_size=0,
            )
        return old, new
    try:
        old_computed, new_computed = roots_from_consistency_proof(old.size, new.size, old.root, hashes)
    except ProofError as exc:  # pragma: no cover - the length check above rules this out
        raise VerificationError(f"consistency proof is malformed: {exc}", checkpoint_size=new.size) from None
    if old_computed != old.root:
        raise VerificationError(
            f"consistency proof does not match the old checkpoint: it implies root "
            f"{encode_hash(old_computed)} at size {old.size}, the checkpoint signs {encode_hash(old.root)}",
            checkpoint_size=old.size,
        )
    if new_computed != new.root:
        raise VerificationError(
            f"the log at size {new.size} is not an append-only extension of the log at size {old.size}: "
            f"the proof implies root {encode_hash(new_computed)}, the new checkpoint signs "
            f"{encode_hash(new.root)}; entries 0..{old.size - 1} were changed or the proof is wrong",
            checkpoint_size=new.size,
        )
    return old, new


def verify_log(
    entries: Iterable[tuple[int, bytes]],
    checkpoints: Iterable[str | bytes | Checkpoint],
    vkeys: Iterable[str | Verifier],
    *,
    origin: str | None = None,
    hashed: bool = False,
) -> LogSummary:
    """Recompute the whole log from its entries and check it against signed checkpoints.

    ``entries`` yields ``(index, entry bytes)`` (with ``hashed``: ``(index, leaf hash)``, as
    read_export_line() gives) in index order starting at 0; it is
    consumed once, as a stream, in O(log n) memory. Every checkpoint note must carry a valid
    signature from one of ``vkeys``, all must share one origin (``origin``, if given),
    and each must sign exactly the root of the first ``size`` entries. A checkpoint larger
    than the log means the log was truncated.

    Raises VerificationError for the first problem in index order: a missing, repeated or
    out-of-order index names that index; a root mismatch names the first index after the
    last checkpoint that did match (with a checkpoint after every entry, that is exactly
    the altered entry). Returns a LogSummary; entries past the largest checkpoint are
    hashed but not covered by any signature (``verified_size`` says how far coverage goes).
    """
    verifiers: list[Verifier] | None = None
    by_size: dict[int, list[Checkpoint]] = {}
    count = 0
    for position, note in enumerate(checkpoints):
        if isinstance(note, Checkpoint):  # already parsed by the caller, who answers for its signature
            checkpoint = note
        else:
            verifiers = verifiers or load_verifiers(vkeys)
            checkpoint = open_checkpoint(note, verifiers, label=f"checkpoint #{position}")
        if origin is None:
            origin = checkpoint.origin
        elif checkpoint.origin != origin:
            raise VerificationError(
                f"checkpoint #{position} (size {checkpoint.size}) is for log {checkpoint.origin!r}, "
                f"expected {origin!r}",
                checkpoint_size=checkpoint.size,
            )
        by_size.setdefault(checkpoint.size, []).append(checkpoint)
        count += 1
    if not by_size:
        raise VerificationError("no checkpoints given: there is no signed tree head to verify the entries against")

    pending_sizes = sorted(by_size, reverse=True)  # smallest last, popped first
    verified_size = 0
    if pending_sizes[-1] == 0:
        _check_roots(by_size.pop(pending_sizes.pop()), EMPTY_ROOT, 0, 0)
    next_size = pending_sizes[-1] if pending_sizes else -1

    # The hot loop: inlined leaf hashing and frontier update (see merkle.CompactTree).
    sha = hashlib.sha256
    stack: list[bytes] = []
    push = stack.append
    pop = stack.pop
    expected = 0
    try:
        for index, data in entries:
            if index != expected:
                _raise_index_error(index, expected)
            h = data if hashed else sha(b"\x00" + data).digest()
            carry = expected
            while carry & 1:
                h = sha(b"\x01" + pop() + h).digest()
                carry >>= 1
            push(h)
            expected += 1
            if expected == next_size:
                root = stack[-1]
                for left in reversed(stack[:-1]):
                    root = node_hash(left, root)
                _check_roots(by_size.pop(pending_sizes.pop()), root, expected, verified_size)
                verified_size = expected
                next_size = pending_sizes[-1] if pending_sizes else -1
    except (TypeError, ValueError) as exc:
        # Wrong shapes from the caller (not pairs, str instead of bytes), not tampering.
        raise VerificationError(
            f"cannot read the entry: entries must yield (index, bytes) pairs ({exc})", index=expected
        ) from exc

    if pending_sizes:
        largest = pending_sizes[0]
        raise VerificationError(
            f"the log ends after {expected} entries but a checkpoint signs {largest} entries: "
            f"entries {expected}..{largest - 1} are missing (the log was truncated, or the checkpoint "
            f"comes from a later export than the entries)",
            index=expected,
            checkpoint_size=largest,
        )
    return LogSummary(entries=expected, checkpoints=count, verified_size=verified_size, origin=origin)


def _check_roots(checkpoints: list[Checkpoint], root: bytes, size: int, verified_size: int) -> None:
    for checkpoint in checkpoints:
        if checkpoint.root == root:
            continue
        if size == 0:
            raise VerificationError(
                f"the checkpoint for size 0 has root {encode_hash(checkpoint.root)}, not the empty-tree "
                f"hash {encode_hash(EMPTY_ROOT)}",
                checkpoint_size=0,
            )
        if verified_size == size - 1:
            suspects = f"entry {verified_size}"
        else:
            suspects = f"one of entries {verified_size}..{size - 1}"
        matched = (
            f"entries 0..{verified_size - 1} matched the checkpoint for size {verified_size}"
            if verified_size
            else "no earlier checkpoint narrows it down"
        )
        raise VerificationError(
            f"the first {size} entries hash to root {encode_hash(root)}, but the signed checkpoint for "
            f"size {size} has root {encode_hash(checkpoint.root)}: {suspects} was altered, inserted, "
            f"removed or reordered ({matched})",
            index=verified_size,
            checkpoint_size=size,
        )


def _raise_index_error(index: object, expected: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int):
        raise VerificationError(f"index {index!r} is not an integer", index=expected)
    if index > expected:
        previous = f"from index {expected - 1}" if expected else "at the start"
        raise VerificationError(
            f"expected entry {expected} next but got entry {index} (the log jumps {previous} to {index}): "
            f"entry {expected} was deleted, or the entries are out of order",
            index=expected,
        )
    seen = "twice in a row" if index == expected - 1 else f"again after entry {expected - 1}"
    raise VerificationError(
        f"entry {index} appears {seen}: a duplicated, inserted or reordered entry",
        index=index,
    )


def _claimed_size(note: str | bytes) -> int | None:
    """The size line of a checkpoint note, unverified, only to label error messages."""
    if isinstance(note, bytes):
        note = note.decode("utf-8", "replace")
    lines = note.split("\n", 2) if isinstance(note, str) else []
    if len(lines) >= 2 and lines[1].isascii() and lines[1].isdigit() and len(lines[1]) < 20:
        return int(lines[1])
    return None


# ---------------------------------------------------------------- what the portal publishes, read offline


def read_checkpoint_unverified(note: str | bytes) -> tuple[Checkpoint, list[str]]:
    """Parse a checkpoint note WITHOUT checking any signature: (checkpoint, ``name+keyid`` of each signer).

    For reporting what an unpinned artifact claims; never for deciding that it is genuine."""
    if isinstance(note, bytes):
        note = note.decode("utf-8", "replace")
    try:
        body, signers = note_signers(note)
        return Checkpoint.parse(body), signers
    except NoteError as exc:
        raise VerificationError(f"checkpoint: {exc}") from None


EXPORT_PREFIX = b'{"index":'
EXPORT_LEAF = b',"leaf_hash":"'
EXPORT_ENTRY = b'","entry":'
EXPORT_FORMAT = '{"index":N,"leaf_hash":"<base64 SHA-256(0x00 || entry)>","entry":<canonical JSON, verbatim>}'


EXPORT_REDACTED_FORMAT = '{"index":N,"leaf_hash":"<base64>","redacted":true}'


def export_redacted_line(index: int, canonical: bytes) -> bytes:
    """An export line for an entry the reader may not read: its index and leaf hash only. The tree
    still recomputes from it (the leaf is all a proof needs); its payload stays out of the file."""
    leaf = encode_hash(leaf_hash(canonical)).encode()
    return b'{"index":%d,"leaf_hash":"%s","redacted":true}\n' % (index, leaf)


_REDACTED_LINE = re.compile(
    rb'\{"index":(0|[1-9][0-9]{0,17}),"leaf_hash":"([A-Za-z0-9+/]{43}=)","redacted":true\}\n?\Z'
)


def export_line(index: int, canonical: bytes) -> bytes:
    """One line of a log export, newline included: ``EXPORT_FORMAT``.

    The entry is embedded verbatim, last: the bytes between ``"entry":`` and the line's final ``}`` are
    exactly the hashed bytes, so anyone can recompute the leaf without re-canonicalising (and the line is
    still JSON). RFC 8785 output holds no raw newline, so one entry is one line."""
    leaf = encode_hash(leaf_hash(canonical)).encode()
    return b'{"index":%d,"leaf_hash":"%s","entry":%s}\n' % (index, leaf, canonical)


def read_export_line(line: bytes, position: int) -> tuple[int, bytes]:
    """(index, leaf hash) of one export line; VerificationError if it is not ``EXPORT_FORMAT`` or its
    leaf_hash is not SHA-256(0x00 || entry) (the line was edited). Byte slicing, no JSON parsing: this
    runs once per entry of the whole log."""
    redacted = _REDACTED_LINE.match(line)
    if redacted is not None:  # the leaf is taken as given: only the signed root can vouch for it
        return int(redacted.group(1)), base64.b64decode(redacted.group(2))
    end = len(line) - (2 if line.endswith(b"}\n") else 1)
    comma = line.find(EXPORT_LEAF, 9, 40)
    start = comma + 14
    if (not line.startswith(EXPORT_PREFIX) or comma < 0 or line[end:end + 1] != b"}"
            or line[start + 44:start + 54] != EXPORT_ENTRY or not line[9:comma].isdigit()):
        raise VerificationError(f"export line {position + 1} is not an export entry ({EXPORT_FORMAT})")
    index = int(line[9:comma])
    leaf = hashlib.sha256(b"\x00" + line[start + 54:end]).digest()
    if base64.b64encode(leaf) != line[start:start + 44]:
        raise VerificationError(
            f"export line {position + 1}: leaf_hash {line[start:start + 44].decode('ascii', 'replace')} is not "
            f"SHA-256(0x00 || entry) ({encode_hash(leaf)}): the line was edited",
            index=index,
        )
    return index, leaf


_EXPORT_LINE = re.compile(
    rb'\{"index":(0|[1-9][0-9]{0,17}),"leaf_hash":"([A-Za-z0-9+/]{43}=)","entry":(.*)\}\n?\Z', re.S
)


def export_leaves(lines: Iterable[bytes], withheld: list[int] | None = None):
    """(index, leaf hash) for each line of an export, for verify_log(hashed=True): read_export_line()'s checks
    as one compiled pattern, for the whole-log loop (blank lines skipped). Any odd line goes through
    read_export_line(), which raises naming it. The index of each withheld (redacted) line is appended
    to `withheld`, so a reader is told how much of the log they did not see."""
    sha = hashlib.sha256
    b64 = binascii.b2a_base64
    match = _EXPORT_LINE.match
    for position, line in enumerate(lines):
        m = match(line)
        if m is not None:
            index, given, entry = m.groups()
            leaf = sha(b"\x00" + entry).digest()
            if b64(leaf, newline=False) == given:
                yield int(index), leaf
                continue
        if line.strip():
            index, leaf = read_export_line(line, position)
            if withheld is not None and _REDACTED_LINE.match(line):
                withheld.append(index)
            yield index, leaf


def export_entry(line: bytes) -> bytes:
    """The entry's canonical bytes in an export line (for readers; read_export_line() checks the line)."""
    start = line.index(EXPORT_ENTRY) + len(EXPORT_ENTRY)
    return line[start:len(line) - (2 if line.endswith(b"}\n") else 1)]
