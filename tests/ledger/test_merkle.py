"""RFC 6962 hashing, the stored complete-subtree tree, proofs and their verification."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.ledger import merkle
from apps.ledger.merkle import (
    EMPTY_ROOT,
    CompactTree,
    append_keys,
    append_nodes,
    consistency_proof,
    consistency_proof_keys,
    inclusion_proof,
    inclusion_proof_keys,
    leaf_hash,
    node_hash,
    root_at,
    root_from_leaves,
    root_keys,
    verify_consistency,
    verify_inclusion,
)

# Known-answer vectors published with github.com/transparency-dev/merkle
# (testonly/constants.go and proof/verify_test.go), originally from the
# certificate-transparency reference implementation.
LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
NODE_HASHES = {
    0: [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    1: [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    2: [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    3: ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
}
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, proof); the Go file numbers leaves from 1, these from 0.
INCLUSION_VECTORS = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


# ---------------------------------------------------------------------------
# Reference PATH / PROOF, written from the recursive definitions in RFC 6962 2.1.1-2.1.2
# ---------------------------------------------------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return ref_path(m, leaves[:k]) + [root_from_leaves(leaves[k:])]
    return ref_path(m - k, leaves[k:]) + [root_from_leaves(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [root_from_leaves(leaves)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, leaves[:k], b) + [root_from_leaves(leaves[k:])]
    return ref_subproof(m - k, leaves[k:], False) + [root_from_leaves(leaves[:k])]


def ref_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    if m == 0 or m == len(leaves):
        return []
    return ref_subproof(m, leaves, True)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def build_store(leaves: list[bytes], batches: list[int] | None = None) -> dict[tuple[int, int], bytes]:
    """Append ``leaves`` in batches of the given sizes (one batch if None) into a dict."""
    store: dict[tuple[int, int], bytes] = {}
    sizes = batches if batches is not None else [len(leaves)]
    size = 0
    for batch_size in sizes:
        batch = leaves[size : size + batch_size]
        for level, index, h in append_nodes(size, batch, lambda lv, ix: store[(lv, ix)]):
            assert (level, index) not in store, "a stored node must never be rewritten"
            store[(level, index)] = h
        size += len(batch)
    assert size == len(leaves)
    return store


def getter(store: dict[tuple[int, int], bytes], allowed: set[tuple[int, int]] | None = None, reads: list | None = None):
    def get(level: int, index: int) -> bytes:
        if allowed is not None:
            assert (level, index) in allowed, f"read ({level}, {index}) outside the declared keys"
        if reads is not None:
            reads.append((level, index))
        return store[(level, index)]

    return get


def synthetic_leaves(n: int) -> list[bytes]:
    return [leaf_hash(b"entry %d" % i) for i in range(n)]


def fake_node(level: int, index: int) -> bytes:
    """A stand-in for a huge store: proofs only move hashes around, they never check them."""
    return hashlib.sha256(b"%d/%d" % (level, index)).digest()


def flip(value: bytes, position: int = 0) -> bytes:
    out = bytearray(value)
    out[position] ^= 0x01
    return bytes(out)


# ---------------------------------------------------------------------------
# Known answers
# ---------------------------------------------------------------------------


def test_empty_root_is_sha256_of_nothing():
    assert EMPTY_ROOT.hex() == ROOTS[0]
    assert root_from_leaves([]) == EMPTY_ROOT


def test_leaf_and_node_hashes_match_published_vectors():
    leaves = [leaf_hash(d) for d in LEAF_INPUTS]
    assert [h.hex() for h in leaves] == NODE_HASHES[0]
    assert node_hash(leaves[0], leaves[1]).hex() == NODE_HASHES[1][0]


def test_stored_nodes_match_published_complete_subtree_hashes():
    store = build_store([leaf_hash(d) for d in LEAF_INPUTS], batches=[1, 2, 1, 3, 1])
    for level, hashes in NODE_HASHES.items():
        for index, expected in enumerate(hashes):
            assert store[(level, index)].hex() == expected
    assert len(store) == sum(len(h) for h in NODE_HASHES.values())


@pytest.mark.parametrize("size", range(9))
def test_roots_match_published_vectors_for_every_size(size):
    leaves = [leaf_hash(d) for d in LEAF_INPUTS]
    store = build_store(leaves)
    assert root_at(size, getter(store, root_keys(size))).hex() == ROOTS[size]
    assert root_from_leaves(leaves[:size]).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION_VECTORS)
def test_inclusion_proofs_match_published_vectors(index, size, expected):
    leaves = [leaf_hash(d) for d in LEAF_INPUTS]
    store = build_store(leaves)
    proof = inclusion_proof(index, size, getter(store, inclusion_proof_keys(index, size)))
    assert [h.hex() for h in proof] == expected
    assert verify_inclusion(leaves[index], index, size, proof, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY_VECTORS)
def test_consistency_proofs_match_published_vectors(old, new, expected):
    store = build_store([leaf_hash(d) for d in LEAF_INPUTS])
    proof = consistency_proof(old, new, getter(store, consistency_proof_keys(old, new)))
    assert [h.hex() for h in proof] == expected
    assert verify_consistency(old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), proof)


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION_VECTORS[1:])
def test_published_inclusion_proofs_reject_the_classic_corruptions(index, size, expected):
    # The probes of transparency-dev/merkle's corruptInclusionProof.
    leaf = leaf_hash(LEAF_INPUTS[index])
    root = bytes.fromhex(ROOTS[size])
    proof = [bytes.fromhex(h) for h in expected]
    some_hash = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        (leaf, index - 1, size, proof, root),
        (leaf, index + 1, size, proof, root),
        (leaf, index ^ 2, size, proof, root),
        (leaf, index, size * 2, proof, root),
        (leaf, index, size // 2, proof, root),
        (b"WrongLeaf", index, size, proof, root),
        (leaf, index, size, proof, EMPTY_ROOT),
        (leaf, index, size, proof, some_hash),
        (leaf, index, size, [*proof, b""], root),
        (leaf, index, size, [*proof, root], root),
        (leaf, index, size, [b"", *proof], root),
        (leaf, index, size, [root, *proof], root),
        (leaf, index, size, proof[:-1], root),
        (leaf, index, size, [proof[0], some_hash, *proof[1:]], root),
    ]
    probes += [(leaf, index, size, [*proof[:i], flip(proof[i]), *proof[i + 1 :]], root) for i in range(len(proof))]
    for probe in probes:
        assert not verify_inclusion(*probe), probe


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY_VECTORS[1:])
def test_published_consistency_proofs_reject_the_classic_corruptions(old, new, expected):
    root1, root2 = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    proof = [bytes.fromhex(h) for h in expected]
    probes = [
        (old - 1, new, root1, root2, proof),
        (old + 1, new, root1, root2, proof),
        (old ^ 2, new, root1, root2, proof),
        (old, new * 2, root1, root2, proof),
        (old, new // 2, root1, root2, proof),
        (old, new, b"WrongRoot", root2, proof),
        (old, new, root1, b"WrongRoot", proof),
        (old, new, root2, root1, proof),
        (old, new, root1, root2, []),
        (old, new, root1, root2, [*proof, b""]),
        (old, new, root1, root2, [*proof, root1]),
        (old, new, root1, root2, [*proof, root2]),
        (old, new, root1, root2, [b"", *proof]),
        (old, new, root1, root2, [root1, *proof]),
        (old, new, root1, root2, [root2, *proof]),
        (old, new, root1, root2, [proof[0], *proof]),
        (old, new, root1, root2, proof[:-1]),
    ]
    probes += [(old, new, root1, root2, [*proof[:i], flip(proof[i]), *proof[i + 1 :]]) for i in range(len(proof))]
    for probe in probes:
        assert not verify_consistency(*probe), probe


def test_consistency_edge_cases_follow_the_empty_and_equal_tree_rules():
    root = bytes.fromhex(ROOTS[3])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 3, EMPTY_ROOT, root, [])
    assert not verify_consistency(0, 3, root, root, [])  # size 0 must carry the empty-tree root
    assert not verify_consistency(0, 3, EMPTY_ROOT, root, [EMPTY_ROOT])
    assert verify_consistency(3, 3, root, root, [])
    assert not verify_consistency(3, 3, root, EMPTY_ROOT, [])
    assert not verify_consistency(3, 3, root, root, [EMPTY_ROOT])
    assert not verify_consistency(4, 3, root, root, [])
    assert not verify_consistency(1, 2, root, root, [])


def test_inclusion_in_a_one_leaf_tree_has_an_empty_proof():
    leaf = leaf_hash(b"data")
    assert verify_inclusion(leaf, 0, 1, [], leaf)
    assert not verify_inclusion(leaf, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], leaf)
    for index, size in [(0, 0), (1, 0), (2, 1), (-1, 1)]:
        assert not verify_inclusion(leaf, index, size, [], leaf)


def test_proof_functions_refuse_impossible_arguments():
    with pytest.raises(ValueError, match="not in a tree of size 3"):
        inclusion_proof(3, 3, fake_node)
    with pytest.raises(ValueError):
        inclusion_proof_keys(0, 0)
    with pytest.raises(ValueError, match="from size 5 to size 4"):
        consistency_proof(5, 4, fake_node)
    with pytest.raises(ValueError):
        root_at(-1, fake_node)
    with pytest.raises(ValueError, match="leaf hash 0 has 3 bytes"):
        append_nodes(0, [b"abc"], fake_node)


# ---------------------------------------------------------------------------
# Stored tree == reference, for every size and batch split
# ---------------------------------------------------------------------------


def test_every_proof_up_to_size_64_equals_the_reference():
    leaves = synthetic_leaves(64)
    store = build_store(leaves, batches=[1, 2, 3, 5, 8, 13, 32])
    for size in range(1, 65):
        root = root_at(size, getter(store))
        assert root == root_from_leaves(leaves[:size])
        for index in range(size):
            proof = inclusion_proof(index, size, getter(store, inclusion_proof_keys(index, size)))
            assert proof == ref_path(index, leaves[:size]), (index, size)
            assert verify_inclusion(leaves[index], index, size, proof, root)
        for old in range(size + 1):
            proof = consistency_proof(old, size, getter(store, consistency_proof_keys(old, size)))
            assert proof == ref_proof(old, leaves[:size]), (old, size)
            old_root = root_from_leaves(leaves[:old])
            assert verify_consistency(old, size, old_root, root, proof)


@st.composite
def trees(draw):
    size = draw(st.integers(min_value=1, max_value=300))
    cuts = sorted(set(draw(st.lists(st.integers(min_value=0, max_value=size), max_size=8))))
    bounds = [0, *cuts, size]
    batches = [b - a for a, b in zip(bounds, bounds[1:], strict=False)]  # zero-length batches included on purpose
    return size, batches


@settings(max_examples=100, deadline=None)
@given(tree=trees(), data=st.data())
def test_stored_tree_equals_reference_for_random_sizes_and_batches(tree, data):
    size, batches = tree
    leaves = synthetic_leaves(size)
    store = build_store(leaves, batches)
    # Exactly the complete subtrees are stored.
    assert len(store) == sum(size >> level for level in range(size.bit_length()))

    tree_size = data.draw(st.integers(min_value=1, max_value=size), label="tree_size")
    index = data.draw(st.integers(min_value=0, max_value=tree_size - 1), label="index")
    old = data.draw(st.integers(min_value=0, max_value=tree_size), label="old")
    root = root_at(tree_size, getter(store, root_keys(tree_size)))
    assert root == root_from_leaves(leaves[:tree_size])

    proof = inclusion_proof(index, tree_size, getter(store, inclusion_proof_keys(index, tree_size)))
    assert proof == ref_path(index, leaves[:tree_size])
    assert verify_inclusion(leaves[index], index, tree_size, proof, root)

    cproof = consistency_proof(old, tree_size, getter(store, consistency_proof_keys(old, tree_size)))
    assert cproof == ref_proof(old, leaves[:tree_size])
    old_root = root_at(old, getter(store))
    assert verify_consistency(old, tree_size, old_root, root, cproof)


@settings(max_examples=100, deadline=None)
@given(tree=trees(), data=st.data())
def test_verifiers_reject_any_flipped_byte_wrong_index_or_wrong_size(tree, data):
    size, _ = tree
    leaves = synthetic_leaves(size)
    store = build_store(leaves)
    get = getter(store)
    tree_size = data.draw(st.integers(min_value=1, max_value=size), label="tree_size")
    index = data.draw(st.integers(min_value=0, max_value=tree_size - 1), label="index")
    root = root_at(tree_size, get)
    proof = inclusion_proof(index, tree_size, get)

    if proof:
        which = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="which")
        byte = data.draw(st.integers(min_value=0, max_value=31), label="byte")
        bad = [*proof[:which], flip(proof[which], byte), *proof[which + 1 :]]
        assert not verify_inclusion(leaves[index], index, tree_size, bad, root)
    byte = data.draw(st.integers(min_value=0, max_value=31), label="root byte")
    assert not verify_inclusion(leaves[index], index, tree_size, proof, flip(root, byte))
    assert not verify_inclusion(flip(leaves[index], byte), index, tree_size, proof, root)
    other = (
        data.draw(st.integers(min_value=0, max_value=tree_size - 1).filter(lambda i: i != index), label="other")
        if tree_size > 1
        else None
    )
    if other is not None:
        assert not verify_inclusion(leaves[index], other, tree_size, proof, root)
        assert not verify_inclusion(leaves[other], other, tree_size, proof, root)
    # A wrong size only "verifies" if it also has the right root for that size.
    other_size = (
        data.draw(st.integers(min_value=1, max_value=size).filter(lambda s: s != tree_size), label="size")
        if size > 1
        else None
    )
    if other_size is not None and index < other_size:
        assert not verify_inclusion(leaves[index], index, other_size, proof, root_at(other_size, get))

    old = data.draw(st.integers(min_value=1, max_value=tree_size), label="old")
    old_root = root_at(old, get)
    cproof = consistency_proof(old, tree_size, get)
    assert verify_consistency(old, tree_size, old_root, root, cproof)
    if cproof:
        which = data.draw(st.integers(min_value=0, max_value=len(cproof) - 1), label="cwhich")
        bad = [*cproof[:which], flip(cproof[which], byte), *cproof[which + 1 :]]
        assert not verify_consistency(old, tree_size, old_root, root, bad)
        assert not verify_consistency(old, tree_size, flip(old_root, byte), root, cproof)
        assert not verify_consistency(old, tree_size, old_root, flip(root, byte), cproof)
        for wrong_old in {old - 1, old + 1} - {0, tree_size}:
            if 0 < wrong_old < tree_size:
                assert not verify_consistency(wrong_old, tree_size, root_at(wrong_old, get), root, cproof)


# ---------------------------------------------------------------------------
# Read budget: what a database layer fetches
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 1000, 2**20 - 1, 2**20, 2**20 + 1, 123_456_789])
def test_proofs_read_only_their_declared_keys_and_o_log_n_of_them(size):
    log_n = max(size.bit_length(), 1)
    for index in sorted({0, size // 3, size // 2, size - 2, size - 1} - {-1}):
        keys = inclusion_proof_keys(index, size)
        reads: list = []
        proof = inclusion_proof(index, size, getter({k: fake_node(*k) for k in keys}, keys, reads))
        assert set(reads) == keys
        assert len(reads) <= 2 * log_n
        assert len(proof) == merkle.inclusion_proof_length(index, size)
    for old in sorted({1, size // 3, size // 2, size - 1} - {0}):
        keys = consistency_proof_keys(old, size)
        reads = []
        consistency_proof(old, size, getter({k: fake_node(*k) for k in keys}, keys, reads))
        assert set(reads) == keys
        assert len(reads) <= 2 * log_n
    keys = root_keys(size)
    assert len(keys) == bin(size).count("1")


@pytest.mark.parametrize("size", [0, 1, 5, 6, 7, 1023, 1024, 1025])
def test_append_reads_only_the_right_frontier(size):
    allowed = append_keys(size)
    reads: list = []
    new = append_nodes(size, synthetic_leaves(2500), getter({k: fake_node(*k) for k in allowed}, allowed, reads))
    assert set(reads) <= allowed
    assert len(reads) == len(set(reads))
    assert sum(1 for level, _, _ in new if level == 0) == 2500


def test_compact_tree_tracks_the_reference_root():
    leaves = synthetic_leaves(100)
    tree = CompactTree()
    assert tree.root() == EMPTY_ROOT
    for i, leaf in enumerate(leaves, start=1):
        tree.append(leaf)
        assert tree.root() == root_from_leaves(leaves[:i])
        assert len(tree.stack) == bin(i).count("1")
