"""RFC 6962 / RFC 9162 Merkle tree hashing, proof generation and proof verification.

Pure functions over bytes, no database: ``leaf_hash`` is ``SHA-256(0x00 || entry)``,
``node_hash`` is ``SHA-256(0x01 || left || right)``, and a tree of ``n`` leaves splits at
the largest power of two smaller than ``n``. Proof generation is written against a
``node(level, index)`` callback returning the hash of a *complete* aligned subtree (the
``2**level`` leaves starting at ``index * 2**level``), so the same code serves the
in-memory :class:`MerkleTree` and the database store, which keeps exactly those nodes.
Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 and needs nothing but the proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from cases.audit.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeGetter = Callable[[int, int], bytes]


def leaf_hash(entry: bytes) -> bytes:
    """The RFC 6962 leaf hash of ``entry``: ``SHA-256(0x00 || entry)``."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def reference_root(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]) computed literally from RFC 6962 §2.1 (slow; for tests)."""
    n = len(entries)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hash(entries[0])
    k = split_point(n)
    return node_hash(reference_root(entries[:k]), reference_root(entries[k:]))


def range_hash(node: NodeGetter, start: int, end: int) -> bytes:
    """The hash of the subtree over leaves ``[start, end)`` of an RFC 6962 tree.

    ``start`` is aligned as every subtree of an RFC 6962 tree is, so a non-power-of-two
    range is a complete left part and a smaller right part, recursively.
    """
    n = end - start
    if n & (n - 1) == 0:
        level = n.bit_length() - 1
        return node(level, start >> level)
    k = split_point(n)
    return node_hash(node((k.bit_length() - 1), start // k), range_hash(node, start + k, end))


def root_from_peaks(peaks: Sequence[bytes]) -> bytes:
    """The root from the complete subtrees of a tree, largest (leftmost) first."""
    if not peaks:
        return EMPTY_ROOT
    root = peaks[-1]
    for peak in reversed(peaks[:-1]):
        root = node_hash(peak, root)
    return root


def inclusion_path(node: NodeGetter, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1, leaf-side first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            path.append(range_hash(node, lo + k, hi))
            hi = lo + k
        else:
            path.append(range_hash(node, lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_path(node: NodeGetter, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 9162 §2.1.4.1 (empty when first is 0 or second)."""
    if not 0 <= first <= second:
        raise ProofError(f"no consistency proof from size {first} to smaller size {second}")
    if first in (0, second):
        return []
    proof: list[bytes] = []
    lo, hi, m, complete = 0, second, first, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                proof.append(range_hash(node, lo, hi))
            break
        k = split_point(n)
        if m <= k:
            proof.append(range_hash(node, lo + k, hi))
            hi = lo + k
        else:
            proof.append(range_hash(node, lo, lo + k))
            lo += k
            m -= k
            complete = False
    proof.reverse()
    return proof


def needed_nodes(build: Callable[[NodeGetter], object]) -> set[tuple[int, int]]:
    """The complete-subtree nodes ``build`` asks for (the proof shape needs no hash values)."""
    wanted: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return bytes(HASH_SIZE)

    build(record)
    return wanted


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} is {len(value)} bytes, a SHA-256 hash is {HASH_SIZE}")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2); raises ProofError if malformed."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash("leaf hash", leaf)
    fn, sn, r = index, size - 1, leaf
    for i, p in enumerate(proof):
        _check_hash(f"inclusion proof element {i}", p)
        if sn == 0:
            raise ProofError(f"inclusion proof has {len(proof)} elements, more than the tree needs")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"inclusion proof has {len(proof)} elements, fewer than the tree needs")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that the leaf hash ``leaf`` is at ``index`` of the tree of ``size`` with ``root``."""
    _check_hash("root hash", root)
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(
            f"inclusion proof for leaf {index} does not lead to the root of tree size {size}"
        )


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``second`` leaves extends the tree of ``first`` leaves."""
    if first > second:
        raise ProofError(f"tree size went down from {first} to {second}")
    if first == second:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if first_root != second_root:
            raise ProofError(f"two different roots for the same tree size {first}")
        return
    if first == 0:
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError(f"consistency proof from {first} to {second} is empty")
    _check_hash("first root", first_root)
    _check_hash("second root", second_root)
    for i, p in enumerate(proof):
        _check_hash(f"consistency proof element {i}", p)
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the trees need")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the trees need")
    if fr != first_root:
        raise ProofError(f"consistency proof does not lead to the root of size {first}")
    if sr != second_root:
        raise ProofError(f"consistency proof does not lead to the root of size {second}")


class MerkleTree:
    """An append-only in-memory RFC 6962 tree keeping every complete subtree hash.

    Level ``L`` is one ``bytearray`` of the ``size >> L`` complete nodes of that level, so
    a million leaves cost about 64 MB and any proof is ``O(log n)`` slices.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.levels: list[bytearray] = [bytearray()]
        self.size = 0
        self.extend(leaf_hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash (not the entry: hash it with :func:`leaf_hash` first)."""
        levels = self.levels
        levels[0] += leaf
        index, level, carry = self.size, 0, leaf
        while index & 1:
            start = (index - 1) * HASH_SIZE
            carry = node_hash(bytes(levels[level][start : start + HASH_SIZE]), carry)
            level += 1
            index >>= 1
            if len(levels) == level:
                levels.append(bytearray())
            levels[level] += carry
        self.size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Add many leaf hashes (level by level, which is faster than one by one)."""
        new = bytearray().join(leaf_hashes)
        if not new:
            return
        if len(new) % HASH_SIZE:
            raise ProofError("leaf hashes must be 32 bytes each")
        self.levels[0] += new
        self.size += len(new) // HASH_SIZE
        self._complete_levels()

    def _complete_levels(self) -> None:
        # Each level gains the nodes that the new leaves completed, hashed in one pass.
        level = 0
        sha = hashlib.sha256
        while (self.size >> (level + 1)) > 0:
            below = self.levels[level]
            if len(self.levels) == level + 1:
                self.levels.append(bytearray())
            above = self.levels[level + 1]
            have = len(above) // HASH_SIZE
            want = self.size >> (level + 1)
            if want > have:
                mv = memoryview(below)
                parts = [
                    sha(b"\x01" + mv[2 * i * HASH_SIZE : (2 * i + 2) * HASH_SIZE]).digest()
                    for i in range(have, want)
                ]
                above += b"".join(parts)
            level += 1

    def node(self, level: int, index: int) -> bytes:
        """The hash of complete subtree ``index`` at ``level``."""
        start = index * HASH_SIZE
        value = bytes(self.levels[level][start : start + HASH_SIZE])
        if len(value) != HASH_SIZE:
            raise ProofError(f"no complete subtree at level {level} index {index}")
        return value

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        return self.node(0, index)

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ProofError(f"tree size {size} is outside 0..{self.size}")
        if size == 0:
            return EMPTY_ROOT
        return range_hash(self.node, 0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        if size > self.size:
            raise ProofError(f"tree size {size} is larger than the tree ({self.size})")
        return inclusion_path(self.node, index, size)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """The consistency proof from size ``first`` to ``second`` (default: all)."""
        second = self.size if second is None else second
        if second > self.size:
            raise ProofError(f"tree size {second} is larger than the tree ({self.size})")
        return consistency_path(self.node, first, second)
