"""The Merkle tree against the RFC 6962 test vectors published by Certificate Transparency.

Vectors: transparency-dev/merkle (the Go successor of google/certificate-transparency's
merkle tree code), ``proof/verify_test.go``: the eight leaves, the roots of trees of size
1..8, inclusion proofs (leaf numbers there are 1-based) and consistency proofs, and the
corruption probes that must all be rejected.
"""

from __future__ import annotations

import random

import pytest

from cases.audit import merkle
from cases.audit.errors import ProofError

LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    bytes.fromhex(h)
    for h in [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
EMPTY = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _h(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


# (1-based leaf, tree size, proof)
INCLUSION = [
    (1, 1, []),
    (
        1,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        _h(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (3, 3, _h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (
        2,
        5,
        _h(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        _h(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        7,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]


def _tree(n: int) -> merkle.MerkleTree:
    return merkle.MerkleTree(merkle.leaf_hash(x) for x in LEAVES[:n])


def test_roots_match_the_published_vectors() -> None:
    assert merkle.reference_root([]) == EMPTY == merkle.MerkleTree().root()
    for n in range(1, 9):
        assert merkle.reference_root(LEAVES[:n]) == ROOTS[n - 1]
        assert _tree(n).root() == ROOTS[n - 1]
        one_by_one = merkle.MerkleTree()
        for leaf in LEAVES[:n]:
            one_by_one.append(merkle.leaf_hash(leaf))
        assert one_by_one.root() == ROOTS[n - 1]
        assert one_by_one.levels == _tree(n).levels


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_and_verify(leaf: int, size: int, proof: list[bytes]) -> None:
    index = leaf - 1
    assert _tree(8).inclusion_proof(index, size) == proof
    leaf_hash = merkle.leaf_hash(LEAVES[index])
    root = ROOTS[size - 1]
    merkle.verify_inclusion(index, size, leaf_hash, proof, root)
    # The corruption probes of the reference test: every one must be rejected.
    probes: list[tuple[int, int, bytes, list[bytes], bytes]] = [
        (index - 1, size, leaf_hash, proof, root),
        (index + 1, size, leaf_hash, proof, root),
        (index ^ 2, size, leaf_hash, proof, root),
        (index, size * 2, leaf_hash, proof, root),
        (index, size // 2, leaf_hash, proof, root),
        (index, size, b"WrongLeaf", proof, root),
        (index, size, leaf_hash, proof, EMPTY),
        (index, size, leaf_hash, proof, SOME_HASH),
        (index, size, leaf_hash, [*proof, b""], root),
        (index, size, leaf_hash, [*proof, root], root),
        (index, size, leaf_hash, [b"", *proof], root),
        (index, size, leaf_hash, [root, *proof], root),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((index, size, leaf_hash, bad, root))
    if proof:
        probes.append((index, size, leaf_hash, proof[:-1], root))
    if len(proof) > 1:
        probes.append((index, size, leaf_hash, [proof[0], SOME_HASH, *proof[1:]], root))
    for p in probes:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*p)


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_proofs_match_and_verify(first: int, second: int, proof: list[bytes]) -> None:
    assert _tree(8).consistency_proof(first, second) == proof
    r1, r2 = ROOTS[first - 1], ROOTS[second - 1]
    merkle.verify_consistency(first, second, r1, r2, proof)
    if not proof:
        return
    probes = [
        (first - 1, second, r1, r2, proof),
        (first + 1, second, r1, r2, proof),
        (first ^ 2, second, r1, r2, proof),
        (first, second * 2, r1, r2, proof),
        (first, second // 2, r1, r2, proof),
        (first, second, b"WrongRoot", r2, proof),
        (first, second, r1, b"WrongRoot", proof),
        (first, second, r2, r1, proof),
        (first, second, r1, r2, []),
        (first, second, r1, r2, [*proof, b""]),
        (first, second, r1, r2, [*proof, r1]),
        (first, second, r1, r2, [*proof, r2]),
        (first, second, r1, r2, [b"", *proof]),
        (first, second, r1, r2, [r1, *proof]),
        (first, second, r1, r2, [r2, *proof]),
        (first, second, r1, r2, [proof[0], *proof]),
        (first, second, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((first, second, r1, r2, bad))
    for p in probes:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*p)


def test_trivial_consistency_rules() -> None:
    r1, r2 = b"don't care 1", b"don't care 2"
    merkle.verify_consistency(0, 0, r1, r1, [])
    merkle.verify_consistency(0, 1, r1, r2, [])
    merkle.verify_consistency(1, 1, r2, r2, [])
    for args in [
        (0, 0, r1, r2, []),
        (1, 1, r1, r2, []),
        (1, 0, r1, r2, []),
        (2, 1, r1, r2, []),
        (1, 2, r1, r2, []),
        (0, 0, EMPTY, EMPTY, [EMPTY]),
        (0, 1, EMPTY, EMPTY, [EMPTY]),
        (1, 1, EMPTY, EMPTY, [EMPTY]),
    ]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 7, 9, 13, 31, 33])
def test_every_proof_of_non_power_of_two_trees(n: int) -> None:
    rng = random.Random(n)
    data = [rng.randbytes(rng.randint(0, 40)) for _ in range(n)]
    tree = merkle.MerkleTree(merkle.leaf_hash(d) for d in data)
    for size in range(1, n + 1):
        root = tree.root(size)
        assert root == merkle.reference_root(data[:size])
        for i in range(size):
            merkle.verify_inclusion(i, size, tree.leaf(i), tree.inclusion_proof(i, size), root)
        for first in range(size + 1):
            merkle.verify_consistency(
                first, size, tree.root(first), root, tree.consistency_proof(first, size)
            )


def test_a_larger_tree_against_the_rfc_definition() -> None:
    rng = random.Random(7)
    data = [rng.randbytes(8) for _ in range(1000)]
    tree = merkle.MerkleTree(merkle.leaf_hash(d) for d in data)
    for size in (63, 64, 65, 100, 511, 999, 1000):
        root = merkle.reference_root(data[:size])
        assert tree.root(size) == root
        for i in (0, size // 3, size - 1):
            merkle.verify_inclusion(i, size, tree.leaf(i), tree.inclusion_proof(i, size), root)
        for first in (1, size // 2, size - 1):
            merkle.verify_consistency(
                first, size, tree.root(first), root, tree.consistency_proof(first, size)
            )
