"""RFC 6962 / RFC 9162 Merkle tree hashing over an append-only store of complete subtrees.

Pure: no Django, no database. The ledger app persists the tree as *complete subtree*
nodes and passes a ``get(level, index) -> bytes`` callable into these functions.

Node ``(level, index)`` is the hash of the perfect subtree over the leaves
``[index * 2**level, (index + 1) * 2**level)``. A node is stored once it is complete and
never changes afterwards, so the node table is append-only, like the log itself. Level 0
holds the leaf hashes.

Any other subtree hash an RFC 6962 proof needs (the ragged right edge of a tree whose
size is not a power of two) is folded from at most ``log2(size)`` stored nodes, so
roots and proofs cost O(log n) node reads. Each ``*_keys()`` function returns the exact
set of nodes the matching function will read, so a database layer can fetch them in one
query and pass ``dict.__getitem__``-style lookups as ``get``.

Proof outputs match RFC 6962 section 2.1.1 ``PATH`` and 2.1.2 ``PROOF``/``SUBPROOF``
(identical to RFC 9162 sections 2.1.3.1 and 2.1.4.1); the verifiers follow the
algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

# MTH({}) = SHA-256() (RFC 6962 section 2.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeKey = tuple[int, int]
NodeGetter = Callable[[int, int], bytes]
NewNode = tuple[int, int, bytes]

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Interior node: SHA-256(0x01 || left || right)."""
    return _sha256(NODE_PREFIX + left + right).digest()


def _split_point(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1): RFC 6962's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


# ---------------------------------------------------------------------------
# Reference implementation: the recursive definition, for tests and tiny trees.
# ---------------------------------------------------------------------------


def root_from_leaves(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves, straight from the RFC 6962 definition."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split_point(n)
    return node_hash(root_from_leaves(leaf_hashes[:k]), root_from_leaves(leaf_hashes[k:]))


# ---------------------------------------------------------------------------
# Subtree ranges <-> stored nodes
# ---------------------------------------------------------------------------


def _range_keys(start: int, end: int) -> list[NodeKey]:
    """Stored nodes covering [start, end), left to right, largest first.

    Valid for every range that occurs in RFC 6962 proofs: either a perfect subtree, or
    a right-edge range whose start is aligned to a power of two at least ``end - start``.
    """
    keys = []
    pos = start
    width = end - start
    level = width.bit_length() - 1
    while level >= 0:
        if width >> level & 1:
            keys.append((level, pos >> level))
            pos += 1 << level
        level -= 1
    return keys


def _range_hash(start: int, end: int, get: NodeGetter) -> bytes:
    """MTH(D[start:end]) folded right to left from the stored perfect subtrees."""
    keys = _range_keys(start, end)
    result = get(*keys[-1])
    for key in reversed(keys[:-1]):
        result = node_hash(get(*key), result)
    return result


def _path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtree ranges of RFC 6962 PATH(index, D[0:size]), in proof order."""
    ranges = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split_point(end - start)
        if m < k:
            # PATH(m, D[0:k]) : MTH(D[k:n])
            ranges.append((start + k, end))
            end = start + k
        else:
            # PATH(m - k, D[k:n]) : MTH(D[0:k])
            ranges.append((start, start + k))
            start += k
            m -= k
    # The recursion emits the deepest sibling first; we walked top-down.
    ranges.reverse()
    return ranges


def _subproof_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The subtree ranges of RFC 6962 PROOF(old_size, D[0:new_size]), in proof order."""
    ranges = []
    start, end, m, b = 0, new_size, old_size, True
    while True:
        n = end - start
        if m == n:
            # SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}
            if not b:
                ranges.append((start, end))
            break
        k = _split_point(n)
        if m <= k:
            # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            ranges.append((start + k, end))
            end = start + k
        else:
            # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            ranges.append((start, start + k))
            start += k
            m -= k
            b = False
    ranges.reverse()
    return ranges


def _keys_for(ranges: Iterable[tuple[int, int]]) -> set[NodeKey]:
    keys: set[NodeKey] = set()
    for start, end in ranges:
        keys.update(_range_keys(start, end))
    return keys


def _check_size(size: int) -> None:
    if size < 0:
        raise ValueError(f"tree size must be >= 0, got {size}")


# ---------------------------------------------------------------------------
# Appending
# ---------------------------------------------------------------------------


def append_keys(size: int) -> set[NodeKey]:
    """Nodes append_nodes() reads for a tree of ``size``: the right frontier."""
    _check_size(size)
    return set(_range_keys(0, size)) if size else set()


def append_nodes(size: int, new_leaf_hashes: Sequence[bytes], get: NodeGetter) -> list[NewNode]:
    """Every node completed by appending ``new_leaf_hashes`` to a tree of ``size`` leaves.

    Returns ``(level, index, hash)`` for the new leaves (level 0) and each interior node
    they complete, in the order they complete (children before parents), ready for an
    append-only insert. Reads only the right frontier of the existing tree, at most one
    node per level and only those the batch actually completes.
    """
    _check_size(size)
    # The frontier is a binary counter: level L holds a pending left sibling exactly when
    # bit L of the leaf count is set. Fetch those lazily, they are only needed when a
    # carry reaches them.
    pending: dict[int, bytes] = {}
    out: list[NewNode] = []
    append = out.append
    sha = _sha256
    position = size
    for leaf in new_leaf_hashes:
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash {position} has {len(leaf)} bytes, expected {HASH_SIZE}")
        append((0, position, leaf))
        h = leaf
        level = 0
        count = position
        while count & 1:
            left = pending.pop(level, None)
            if left is None:
                left = get(level, (position >> level) - 1)
            h = sha(NODE_PREFIX + left + h).digest()
            level += 1
            count >>= 1
            append((level, position >> level, h))
        pending[level] = h
        position += 1
    return out


# ---------------------------------------------------------------------------
# Roots and proofs from the store
# ---------------------------------------------------------------------------


def root_keys(size: int) -> set[NodeKey]:
    """Nodes root_at(size) reads."""
    _check_size(size)
    return set(_range_keys(0, size)) if size else set()


def root_at(size: int, get: NodeGetter) -> bytes:
    """MTH of the first ``size`` leaves, folded from at most log2(size) stored nodes."""
    _check_size(size)
    if size == 0:
        return EMPTY_ROOT
    return _range_hash(0, size, get)


def inclusion_proof_keys(index: int, size: int) -> set[NodeKey]:
    """Nodes inclusion_proof(index, size) reads."""
    _check_inclusion_args(index, size)
    return _keys_for(_path_ranges(index, size))


def inclusion_proof(index: int, size: int, get: NodeGetter) -> list[bytes]:
    """RFC 6962 PATH(index, D[0:size]): sibling hashes from the leaf up to the root."""
    _check_inclusion_args(index, size)
    return [_range_hash(start, end, get) for start, end in _path_ranges(index, size)]


def inclusion_proof_length(index: int, size: int) -> int:
    """How many hashes an inclusion proof for ``index`` in a tree of ``size`` has."""
    _check_inclusion_args(index, size)
    return len(_path_ranges(index, size))


def consistency_proof_keys(old_size: int, new_size: int) -> set[NodeKey]:
    """Nodes consistency_proof(old_size, new_size) reads."""
    _check_consistency_args(old_size, new_size)
    if old_size == 0 or old_size == new_size:
        return set()
    return _keys_for(_subproof_ranges(old_size, new_size))


def consistency_proof(old_size: int, new_size: int, get: NodeGetter) -> list[bytes]:
    """RFC 6962 PROOF(old_size, D[0:new_size]); empty when old_size is 0 or equal."""
    _check_consistency_args(old_size, new_size)
    if old_size == 0 or old_size == new_size:
        return []
    return [_range_hash(start, end, get) for start, end in _subproof_ranges(old_size, new_size)]


def consistency_proof_length(old_size: int, new_size: int) -> int:
    """How many hashes a consistency proof between the two sizes has."""
    _check_consistency_args(old_size, new_size)
    if old_size == 0 or old_size == new_size:
        return 0
    return len(_subproof_ranges(old_size, new_size))


def _check_inclusion_args(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size} (valid: 0..{size - 1})")


def _check_consistency_args(old_size: int, new_size: int) -> None:
    if old_size < 0 or new_size < old_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}: need 0 <= old <= new")


# ---------------------------------------------------------------------------
# Verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2)
# ---------------------------------------------------------------------------


class ProofError(ValueError):
    """A proof cannot be evaluated: wrong length, wrong hash size, or impossible sizes."""


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf`` at ``index``; ProofError if malformed.

    RFC 9162 section 2.1.3.2, steps 1-4; the caller does step 5 (compare with the root).
    """
    if len(leaf) != HASH_SIZE:
        raise ProofError(f"leaf hash has {len(leaf)} bytes, expected {HASH_SIZE}")
    # 1. Compare leaf_index from the inclusion_proof_v2 structure against tree_size.
    #    If leaf_index is greater than or equal to tree_size, then fail.
    if index < 0 or index >= size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    # 2. Set fn to leaf_index and sn to tree_size - 1.
    fn, sn = index, size - 1
    # 3. Set r to hash.
    r = leaf
    # 4. For each value p in the inclusion_path array:
    for position, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise ProofError(f"proof hash {position} has {len(p)} bytes, expected {HASH_SIZE}")
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            raise ProofError(f"proof has {len(proof)} hashes, more than the {position} a tree of size {size} needs")
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set r to HASH(0x01 || p || r).
            r = node_hash(p, r)
            # ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            #     either LSB(fn) is set or fn is 0.
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        # Otherwise: Set r to HASH(0x01 || r || p).
        else:
            r = node_hash(r, p)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 5. (first half) Compare sn to 0.
    if sn != 0:
        raise ProofError(f"proof has {len(proof)} hashes, too few for index {index} in a tree of size {size}")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """True if ``proof`` shows ``leaf`` at ``index`` in the tree of ``size`` with ``root``."""
    try:
        computed = root_from_inclusion_proof(leaf, index, size, proof)
    except ProofError:
        return False
    # 5. Compare r against the root_hash. If they are equal, then the log has proven
    #    the inclusion of hash.
    return computed == root


def roots_from_consistency_proof(
    old_size: int, new_size: int, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """(old root, new root) that ``proof`` leads to; ProofError if malformed.

    RFC 9162 section 2.1.4.2 steps 1-6 for 0 < old_size < new_size; the caller compares
    both results with the two tree heads (step 7). ``old_root`` is needed as input
    because the RFC prepends it when old_size is a power of two.
    """
    for position, c in enumerate(proof):
        if len(c) != HASH_SIZE:
            raise ProofError(f"proof hash {position} has {len(c)} bytes, expected {HASH_SIZE}")
    if not 0 < old_size < new_size:
        raise ProofError(f"no consistency proof to evaluate from size {old_size} to size {new_size}")
    # 1. If consistency_path is an empty array, stop and fail the proof verification.
    if not proof:
        raise ProofError(f"proof is empty, but growing from size {old_size} to {new_size} needs one")
    path = list(proof)
    # 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3. Set fn to first - 1 and sn to second - 1.
    fn, sn = old_size - 1, new_size - 1
    # 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. Set both fr and sr to the first value in the consistency_path array.
    fr = sr = path[0]
    # 6. For each subsequent value c in the consistency_path array:
    for c in path[1:]:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            raise ProofError(
                f"proof has {len(proof)} hashes, more than growing from size {old_size} to {new_size} needs"
            )
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set fr to HASH(0x01 || c || fr).  ii. Set sr to HASH(0x01 || c || sr).
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # iii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            #      either LSB(fn) is set or fn is 0.
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        # Otherwise: Set sr to HASH(0x01 || sr || c).
        else:
            sr = node_hash(sr, c)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 7. (first half) Check that sn is 0.
    if sn != 0:
        raise ProofError(f"proof has {len(proof)} hashes, too few for growing from size {old_size} to {new_size}")
    return fr, sr


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """True if ``proof`` shows the tree (new_size, new_root) extends (old_size, old_root).

    Edge cases RFC 9162 leaves to the caller: equal sizes need equal roots and an empty
    proof; growing from the empty tree needs old_root == EMPTY_ROOT and an empty proof.
    """
    if len(old_root) != HASH_SIZE or len(new_root) != HASH_SIZE:
        return False
    if old_size < 0 or new_size < old_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    try:
        fr, sr = roots_from_consistency_proof(old_size, new_size, old_root, proof)
    except ProofError:
        return False
    # 7. Verify that fr is equal to first_hash and sr is equal to second_hash.
    return fr == old_root and sr == new_root


# ---------------------------------------------------------------------------
# Streaming tree: O(log n) memory, for verifying a whole log in order.
# ---------------------------------------------------------------------------


class CompactTree:
    """The right frontier of a tree being built leaf by leaf; O(log n) memory.

    ``stack`` holds the perfect subtrees covering [0, size), largest (leftmost) first.
    """

    __slots__ = ("size", "stack")

    def __init__(self) -> None:
        self.size = 0
        self.stack: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash."""
        stack = self.stack
        h = leaf
        count = self.size
        while count & 1:
            h = _sha256(NODE_PREFIX + stack.pop() + h).digest()
            count >>= 1
        stack.append(h)
        self.size += 1

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        stack = self.stack
        if not stack:
            return EMPTY_ROOT
        result = stack[-1]
        for h in reversed(stack[:-1]):
            result = node_hash(h, result)
        return result
