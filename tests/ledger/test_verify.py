"""Offline verification: single entries, consistency between checkpoints, whole logs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import apps.ledger
from apps.ledger.canonical import canonical_json
from apps.ledger.checkpoint import Checkpoint, Signer
from apps.ledger.merkle import (
    EMPTY_ROOT,
    append_nodes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaves,
)
from apps.ledger.verify import (
    VerificationError,
    decode_proof,
    encode_proof,
    verify_consistency_between,
    verify_entry,
    verify_log,
)

ORIGIN = "portal.example/ledger"
SIGNER = Signer(ORIGIN, bytes(range(32)))
VKEYS = [SIGNER.verifier_key()]
IMPOSTOR = Signer(ORIGIN, bytes(range(100, 132)))


def make_entries(n: int) -> list[bytes]:
    return [
        canonical_json({"index": i, "action": "evidence.recorded", "actor": f"user-{i % 7}", "data": {"n": i}})
        for i in range(n)
    ]


def checkpoint_note(entries: list[bytes], size: int, signer: Signer = SIGNER, root: bytes | None = None) -> str:
    if root is None:
        root = root_from_leaves([leaf_hash(e) for e in entries[:size]])
    return signer.sign(Checkpoint(ORIGIN, size, root).body())


def indexed(entries: list[bytes]) -> list[tuple[int, bytes]]:
    return list(enumerate(entries))


def every_size(entries: list[bytes]) -> list[str]:
    return [checkpoint_note(entries, size) for size in range(1, len(entries) + 1)]


class Store:
    """A dict-backed node store, as the database layer will keep it."""

    def __init__(self, entries: list[bytes]) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        for level, index, h in append_nodes(0, [leaf_hash(e) for e in entries], self.get):
            self.nodes[(level, index)] = h

    def get(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]


ENTRIES = make_entries(20)
STORE = Store(ENTRIES)


# ---------------------------------------------------------------------------
# Proof encoding
# ---------------------------------------------------------------------------


def test_proofs_are_lists_of_padded_base64_hashes():
    proof = inclusion_proof(3, 20, STORE.get)
    encoded = encode_proof(proof)
    assert all(len(item) == 44 and item.endswith("=") for item in encoded)
    assert decode_proof(encoded) == proof


@pytest.mark.parametrize("item", ["", "abc", EMPTY_ROOT.hex(), "A" * 43 + "=" + "A"])
def test_decoding_a_malformed_proof_names_the_element(item):
    good = encode_proof([EMPTY_ROOT])[0]
    with pytest.raises(VerificationError, match=r"proof\[1\]"):
        decode_proof([good, item])


# ---------------------------------------------------------------------------
# verify_entry
# ---------------------------------------------------------------------------


def test_entry_with_a_valid_proof_verifies_against_the_signed_checkpoint():
    note = checkpoint_note(ENTRIES, 13)
    for index in range(13):
        proof = encode_proof(inclusion_proof(index, 13, STORE.get))
        checkpoint = verify_entry(ENTRIES[index], index, proof, note, VKEYS)
        assert (checkpoint.origin, checkpoint.size) == (ORIGIN, 13)


def test_altered_entry_is_reported_as_a_root_mismatch():
    note = checkpoint_note(ENTRIES, 13)
    proof = encode_proof(inclusion_proof(5, 13, STORE.get))
    with pytest.raises(VerificationError, match="root mismatch") as excinfo:
        verify_entry(ENTRIES[5].replace(b"user-5", b"user-6"), 5, proof, note, VKEYS)
    assert excinfo.value.index == 5
    assert excinfo.value.checkpoint_size == 13


def test_entry_claimed_at_the_wrong_index_is_rejected():
    note = checkpoint_note(ENTRIES, 13)
    proof = encode_proof(inclusion_proof(5, 13, STORE.get))
    with pytest.raises(VerificationError) as excinfo:
        verify_entry(ENTRIES[5], 4, proof, note, VKEYS)
    assert excinfo.value.index == 4


def test_entry_index_beyond_the_checkpoint_is_out_of_range():
    note = checkpoint_note(ENTRIES, 13)
    with pytest.raises(VerificationError, match=r"index out of range: .* covers entries 0\.\.12") as excinfo:
        verify_entry(ENTRIES[13], 13, [], note, VKEYS)
    assert excinfo.value.index == 13


def test_proof_of_the_wrong_length_says_how_long_it_should_be():
    note = checkpoint_note(ENTRIES, 13)
    proof = encode_proof(inclusion_proof(5, 13, STORE.get))
    with pytest.raises(VerificationError, match="has 3 hashes, .* has exactly 4"):
        verify_entry(ENTRIES[5], 5, proof[:-1], note, VKEYS)


def test_entry_checkpoint_signed_by_an_untrusted_key_is_a_signature_failure():
    note = checkpoint_note(ENTRIES, 13, signer=IMPOSTOR)
    proof = encode_proof(inclusion_proof(5, 13, STORE.get))
    with pytest.raises(VerificationError, match=r"checkpoint \(claims size 13\): no signature from a trusted key"):
        verify_entry(ENTRIES[5], 5, proof, note, VKEYS)


def test_entry_verification_needs_a_usable_trusted_key():
    note = checkpoint_note(ENTRIES, 13)
    with pytest.raises(VerificationError, match="no trusted keys"):
        verify_entry(ENTRIES[0], 0, [], note, [])
    with pytest.raises(VerificationError, match="trusted key #0 is unusable"):
        verify_entry(ENTRIES[0], 0, [], note, ["not-a-key"])


# ---------------------------------------------------------------------------
# verify_consistency_between
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), [(1, 20), (7, 13), (8, 16), (13, 13), (0, 5)])
def test_growing_log_is_consistent_with_its_earlier_checkpoint(old, new):
    proof = encode_proof(consistency_proof(old, new, STORE.get))
    old_cp, new_cp = verify_consistency_between(
        checkpoint_note(ENTRIES, old), checkpoint_note(ENTRIES, new), proof, VKEYS
    )
    assert (old_cp.size, new_cp.size) == (old, new)


def test_rewritten_history_is_not_consistent():
    rewritten = list(ENTRIES)
    rewritten[3] = canonical_json({"index": 3, "action": "evidence.deleted"})
    forged_store = Store(rewritten)
    proof = encode_proof(consistency_proof(7, 13, forged_store.get))
    with pytest.raises(VerificationError, match="not an append-only extension|does not match the old checkpoint"):
        verify_consistency_between(checkpoint_note(ENTRIES, 7), checkpoint_note(rewritten, 13), proof, VKEYS)


def test_two_checkpoints_of_one_size_with_different_roots_are_a_fork():
    rewritten = [canonical_json({"forged": True}), *ENTRIES[1:]]
    with pytest.raises(VerificationError, match="the log has forked"):
        verify_consistency_between(checkpoint_note(ENTRIES, 9), checkpoint_note(rewritten, 9), [], VKEYS)


def test_checkpoints_given_in_the_wrong_order_are_refused():
    with pytest.raises(VerificationError, match=r"old checkpoint \(size 13\) is larger than the new one \(size 7\)"):
        verify_consistency_between(checkpoint_note(ENTRIES, 13), checkpoint_note(ENTRIES, 7), [], VKEYS)


def test_consistency_proof_element_tampering_is_detected():
    proof = consistency_proof(7, 13, STORE.get)
    proof[1] = bytes(32)
    with pytest.raises(VerificationError):
        verify_consistency_between(
            checkpoint_note(ENTRIES, 7), checkpoint_note(ENTRIES, 13), encode_proof(proof), VKEYS
        )


# ---------------------------------------------------------------------------
# verify_log: the happy paths
# ---------------------------------------------------------------------------


def test_intact_log_verifies_against_all_its_checkpoints():
    notes = [checkpoint_note(ENTRIES, size) for size in (0, 1, 8, 13, 20)]
    summary = verify_log(indexed(ENTRIES), notes, VKEYS)
    assert (summary.entries, summary.checkpoints, summary.verified_size) == (20, 5, 20)
    assert summary.origin == ORIGIN


def test_entries_after_the_newest_checkpoint_are_counted_but_not_covered():
    summary = verify_log(indexed(ENTRIES), [checkpoint_note(ENTRIES, 13)], VKEYS)
    assert (summary.entries, summary.verified_size) == (20, 13)


def test_log_is_read_as_a_single_pass_stream():
    entries = make_entries(3000)
    notes = [checkpoint_note(entries, 3000), checkpoint_note(entries, 1024)]  # any order
    summary = verify_log(((i, e) for i, e in enumerate(entries)), iter(notes), VKEYS)
    assert summary.verified_size == 3000


def test_empty_log_verifies_against_an_empty_checkpoint():
    assert verify_log([], [SIGNER.sign(Checkpoint(ORIGIN, 0, EMPTY_ROOT).body())], VKEYS).entries == 0


def test_log_without_any_checkpoint_proves_nothing():
    with pytest.raises(VerificationError, match="no checkpoints given"):
        verify_log(indexed(ENTRIES), [], VKEYS)


# ---------------------------------------------------------------------------
# verify_log: tampering, reported at the first bad index
# ---------------------------------------------------------------------------


def test_changed_payload_is_reported_at_its_index():
    tampered = list(ENTRIES)
    tampered[7] = tampered[7].replace(b"user-0", b"user-1")
    with pytest.raises(VerificationError, match="entry 7 was altered") as excinfo:
        verify_log(indexed(tampered), every_size(ENTRIES), VKEYS)
    assert (excinfo.value.index, excinfo.value.checkpoint_size) == (7, 8)


def test_changed_payload_between_sparse_checkpoints_names_the_suspect_range():
    tampered = list(ENTRIES)
    tampered[7] = canonical_json({"index": 7, "action": "nothing to see"})
    notes = [checkpoint_note(ENTRIES, size) for size in (5, 10, 20)]
    expected = r"one of entries 5\.\.9 was altered.*entries 0\.\.4 matched"
    with pytest.raises(VerificationError, match=expected) as excinfo:
        verify_log(indexed(tampered), notes, VKEYS)
    assert (excinfo.value.index, excinfo.value.checkpoint_size) == (5, 10)


def test_deleted_entry_is_reported_at_its_index():
    stream = [pair for pair in indexed(ENTRIES) if pair[0] != 7]
    with pytest.raises(VerificationError, match="expected entry 7 next but got entry 8") as excinfo:
        verify_log(stream, every_size(ENTRIES), VKEYS)
    assert excinfo.value.index == 7


def test_deleted_entry_with_renumbered_successors_is_reported_at_its_index():
    stream = list(enumerate(ENTRIES[:7] + ENTRIES[8:]))
    with pytest.raises(VerificationError) as excinfo:
        verify_log(stream, every_size(ENTRIES), VKEYS)
    assert excinfo.value.index == 7


def test_two_swapped_entries_are_reported_at_the_first_of_them():
    stream = indexed(ENTRIES)
    stream[7], stream[8] = stream[8], stream[7]
    with pytest.raises(VerificationError, match="out of order") as excinfo:
        verify_log(stream, every_size(ENTRIES), VKEYS)
    assert excinfo.value.index == 7


def test_two_swapped_payloads_under_their_old_indexes_are_reported_at_the_first():
    swapped = list(ENTRIES)
    swapped[7], swapped[8] = swapped[8], swapped[7]
    with pytest.raises(VerificationError) as excinfo:
        verify_log(indexed(swapped), every_size(ENTRIES), VKEYS)
    assert excinfo.value.index == 7


def test_inserted_entry_reusing_an_index_is_reported_at_that_index():
    stream = indexed(ENTRIES)
    stream.insert(8, (7, canonical_json({"index": 7, "action": "backdated"})))
    with pytest.raises(VerificationError, match="entry 7 appears twice in a row") as excinfo:
        verify_log(stream, every_size(ENTRIES), VKEYS)
    assert excinfo.value.index == 7


def test_inserted_entry_with_renumbered_successors_is_reported_at_its_index():
    forged = ENTRIES[:7] + [canonical_json({"index": 7, "action": "backdated"})] + ENTRIES[7:]
    with pytest.raises(VerificationError) as excinfo:
        verify_log(indexed(forged), every_size(ENTRIES), VKEYS)
    assert excinfo.value.index == 7


def test_changed_checkpoint_root_without_a_new_signature_fails_the_signature():
    notes = every_size(ENTRIES)
    good_root = Checkpoint.parse(notes[9].split("\n\n")[0] + "\n").body().split("\n")[2]
    notes[9] = notes[9].replace(good_root, encode_proof([bytes(32)])[0])
    with pytest.raises(VerificationError, match=r"checkpoint #9 \(claims size 10\): signature by known key") as excinfo:
        verify_log(indexed(ENTRIES), notes, VKEYS)
    assert excinfo.value.checkpoint_size == 10


def test_checkpoint_with_a_wrong_root_signed_by_the_log_key_is_a_root_mismatch():
    notes = every_size(ENTRIES)
    notes[9] = checkpoint_note(ENTRIES, 10, root=bytes(32))
    with pytest.raises(VerificationError, match="signed checkpoint for size 10 has root") as excinfo:
        verify_log(indexed(ENTRIES), notes, VKEYS)
    assert (excinfo.value.index, excinfo.value.checkpoint_size) == (9, 10)


def test_checkpoint_signed_by_another_key_is_rejected():
    notes = every_size(ENTRIES)
    notes[4] = checkpoint_note(ENTRIES, 5, signer=IMPOSTOR)
    with pytest.raises(VerificationError, match=r"checkpoint #4 \(claims size 5\): no signature from a trusted key"):
        verify_log(indexed(ENTRIES), notes, VKEYS)


def test_truncated_log_with_a_later_checkpoint_names_the_missing_range():
    notes = [checkpoint_note(ENTRIES, 10), checkpoint_note(ENTRIES, 20)]
    expected = r"ends after 15 entries .* signs 20 entries: entries 15\.\.19"
    with pytest.raises(VerificationError, match=expected) as excinfo:
        verify_log(indexed(ENTRIES[:15]), notes, VKEYS)
    assert (excinfo.value.index, excinfo.value.checkpoint_size) == (15, 20)


def test_checkpoint_for_another_log_is_refused():
    other = Signer("other.example/log", bytes(range(32)))
    notes = [checkpoint_note(ENTRIES, 5), other.sign(Checkpoint("other.example/log", 5, bytes(32)).body())]
    with pytest.raises(VerificationError, match="is for log 'other.example/log'"):
        verify_log(indexed(ENTRIES), notes, VKEYS + [other.verifier_key()])


def test_entries_that_are_not_index_bytes_pairs_are_reported_not_crashed_on():
    with pytest.raises(VerificationError, match=r"entry 0: cannot read the entry"):
        verify_log([(0, "text, not bytes")], [checkpoint_note(ENTRIES, 1)], VKEYS)
    with pytest.raises(VerificationError, match="not an integer"):
        verify_log([("0", ENTRIES[0])], [checkpoint_note(ENTRIES, 1)], VKEYS)


def test_error_message_leads_with_the_entry_index():
    stream = [pair for pair in indexed(ENTRIES) if pair[0] != 3]
    with pytest.raises(VerificationError) as excinfo:
        verify_log(stream, every_size(ENTRIES), VKEYS)
    assert str(excinfo.value).startswith("entry 3: expected entry 3 next but got entry 4")


def test_verifier_modules_run_copied_into_an_evidence_pack_without_django(tmp_path):
    # The pack ships verify.py with its sibling modules under another package name.
    package = tmp_path / "pack_verifier"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("verify.py", "merkle.py", "checkpoint.py"):
        shutil.copy(Path(apps.ledger.__file__).parent / name, package / name)
    note = checkpoint_note(ENTRIES, 3)
    script = textwrap.dedent(
        f"""
        import sys
        from pack_verifier.verify import verify_log
        entries = {[(i, e) for i, e in enumerate(ENTRIES[:3])]!r}
        summary = verify_log(entries, [{note!r}], {VKEYS!r})
        assert summary.verified_size == 3, summary
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("django", "apps", "rfc8785"))
        assert not leaked, leaked
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip() == "ok", result.stderr
