"""Full verification of the audit log as stored: every entry, every node, every signed head.

Re-computes each entry's canonical text from its columns, its payload digest and leaf hash,
rebuilds the whole Merkle tree from the entry texts, compares the stored tree nodes and
state with it, checks each signed head's signature and root, and the consistency between
successive heads. The report names the first entry that does not match.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.audit import merkle
from cases.audit.canonical import entry_json, format_time
from cases.audit.errors import ProofError
from cases.audit.heads import SignedTreeHead, all_heads, verify_head
from cases.audit.log import STATE_ID, flush_pending, split_peaks
from cases.audit.models import AuditState

MAX_PROBLEMS = 50


@dataclass
class VerifyReport:
    """The outcome of :func:`verify`; ``first_bad_entry`` is a leaf index or None."""

    ok: bool
    entries: int
    first_bad_entry: int | None
    message: str
    heads: int = 0
    root_hash: str = ""
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


# How exactly a finding names its entry: a row check names it; a tree node or a signed
# head only bounds a range (its first entry is reported when nothing more exact exists).
EXACT, NODE, HEAD = 0, 1, 2


class _Findings:
    def __init__(self) -> None:
        self.items: list[tuple[int, int | None, str]] = []

    def add(self, entry: int | None, message: str, tier: int = EXACT) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append((tier, entry, message))

    def first(self) -> tuple[int | None, str | None]:
        for tier in (EXACT, NODE, HEAD):
            named = [(i, m) for t, i, m in self.items if t == tier and i is not None]
            if named:
                return min(named, key=lambda im: im[0])
        return None, None


def _diff_fields(stored: str, expected: str) -> str:
    try:
        a, b = json.loads(stored), json.loads(expected)
    except ValueError:
        return "entry text is not JSON"
    names = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(names) if names else "formatting"


def _time_text(value: object) -> str:
    """The entry spelling of a stored time (SQLite gives SQLAlchemy's text, others a datetime)."""
    if isinstance(value, datetime):
        return format_time(value if value.tzinfo else value.replace(tzinfo=UTC))
    text = str(value)
    if len(text) == 26:  # SQLAlchemy's SQLite spelling "YYYY-MM-DD HH:MM:SS.ffffff"
        return f"{text[:10]}T{text[11:]}Z"
    text = text.replace(" ", "T")
    return text + ("Z" if "." in text else ".000000Z")


def _raw_rows(session: Session, sql: str, batch: int = 20_000) -> Iterator[tuple[Any, ...]]:
    """Rows of ``sql`` as plain tuples from the driver, streamed in batches.

    Skips SQLAlchemy's per-row processing, which would double the time of a full verify;
    PostgreSQL gets a server-side cursor so a million rows never sit in memory at once.
    """
    raw: Any = session.connection().connection.dbapi_connection
    postgres = session.get_bind().dialect.name == "postgresql"
    cursor = raw.cursor(name=f"audit_verify_{uuid.uuid4().hex[:8]}") if postgres else raw.cursor()
    try:
        if postgres:
            cursor.itersize = batch
        cursor.execute(sql)
        while True:
            rows = cursor.fetchmany(batch)
            if not rows:
                return
            yield from rows
    finally:
        cursor.close()


def _check_entries(session: Session, found: _Findings) -> tuple[int, list[bytes]]:
    """Check each row; returns (row count, recomputed leaf hashes in id order)."""
    leaves: list[bytes] = []
    expected = 0
    sha = hashlib.sha256
    rows = _raw_rows(
        session,
        "SELECT id, time, actor, action, subject, payload, payload_sha256, entry, leaf_hash "
        "FROM audit_entries ORDER BY id",
    )
    for rid, time, actor, action, subject, payload, digest, text, stored_leaf in rows:
        if rid != expected:
            if rid > expected:
                gone = f"{expected}" if rid == expected + 1 else f"{expected}..{rid - 1}"
                found.add(expected, f"entry {gone} missing: rows jump from {expected - 1} to {rid}")
            else:
                found.add(rid, f"entry {rid} appears out of order after {expected - 1}")
            expected = rid
        leaf = sha(b"\x00" + text.encode("utf-8")).digest()
        leaves.append(leaf)
        if sha(payload.encode("utf-8")).hexdigest() != digest:
            found.add(rid, f"entry {rid}: payload does not match its digest (payload changed)")
        want = entry_json(rid, _time_text(time), actor, action, subject, digest)
        if want != text:
            found.add(
                rid,
                f"entry {rid}: stored entry text disagrees with its columns "
                f"({_diff_fields(text, want)})",
            )
        if bytes(stored_leaf) != leaf:
            found.add(rid, f"entry {rid}: stored leaf hash is not the hash of its entry text")
        expected += 1
    return expected, leaves


def _check_nodes(session: Session, tree: merkle.MerkleTree, found: _Findings) -> None:
    stored = 0
    levels, size = tree.levels, tree.size
    for level, idx, value in _raw_rows(
        session, "SELECT level, idx, hash FROM audit_nodes ORDER BY level, idx"
    ):
        first = idx << level
        if level < 1 or level >= len(levels) or idx >= size >> level:
            found.add(
                min(first, tree.size), f"tree node ({level}, {idx}) covers no stored entries", NODE
            )
            continue
        stored += 1
        if levels[level][idx * 32 : idx * 32 + 32] != value:
            last = min(((idx + 1) << level), tree.size) - 1
            found.add(
                first,
                f"tree node ({level}, {idx}) over entries {first}..{last} differs from the entries",
                NODE,
            )
    want = sum(len(level) // merkle.HASH_SIZE for level in tree.levels[1:])
    if stored < want:
        found.add(None, f"{want - stored} tree nodes are missing from audit_nodes", NODE)


def verify(session: Session, public_key: bytes | None = None) -> VerifyReport:
    """Check the whole audit log; ``public_key`` (raw Ed25519) checks head signatures too."""
    flush_pending(session)
    found = _Findings()
    rows, leaves = _check_entries(session, found)
    tree = merkle.MerkleTree(leaves)
    _check_nodes(session, tree, found)

    st = session.execute(
        select(AuditState.size, AuditState.peaks).where(AuditState.id == STATE_ID)
    ).first()
    size = int(st.size) if st is not None else 0
    if size != rows:
        where = min(size, rows)
        found.add(where, f"the tree state says {size} entries but {rows} rows are stored")
    elif st is not None and merkle.root_from_peaks(split_peaks(bytes(st.peaks))) != tree.root():
        found.add(None, "the stored tree state's root differs from the recomputed root")

    heads = all_heads(session)
    prev: tuple[int, SignedTreeHead] | None = None
    good_sizes = [0]
    for head_id, head in heads:
        label = f"signed head #{head_id} (size {head.tree_size})"
        if public_key is not None:
            try:
                verify_head(head, public_key)
            except ProofError as exc:
                found.add(None, f"{label}: {exc}")
        if head.tree_size > tree.size:
            found.add(
                tree.size, f"{label} covers entries the log no longer has (it has {rows})", HEAD
            )
            continue
        if tree.root(head.tree_size) != head.root_hash:
            # The head proves entries below its size were changed; the last good head bounds it.
            lower = max(s for s in good_sizes if s <= head.tree_size)
            found.add(
                lower,
                f"{label}: root differs from the entries; an entry in "
                f"{lower}..{head.tree_size - 1} was changed",
                HEAD,
            )
            continue
        good_sizes.append(head.tree_size)
        if prev is not None:
            old_id, old = prev
            if head.tree_size < old.tree_size:
                found.add(None, f"{label} is smaller than earlier head #{old_id}: the log shrank")
            else:
                try:
                    merkle.verify_consistency(
                        old.tree_size,
                        head.tree_size,
                        old.root_hash,
                        head.root_hash,
                        tree.consistency_proof(old.tree_size, head.tree_size),
                    )
                except ProofError as exc:
                    found.add(None, f"{label} is not consistent with head #{old_id}: {exc}")
        prev = (head_id, head)

    problems = [msg for _, _, msg in found.items]
    first_bad, first_msg = found.first()
    if problems:
        message = (
            f"audit log FAILED: first bad entry {first_bad}: {first_msg}"
            if first_bad is not None
            else f"audit log FAILED: {problems[0]}"
        )
    else:
        checked = "signatures checked" if public_key is not None else "signatures NOT checked"
        message = (
            f"audit log OK: {rows} entries, root {tree.root().hex()}, "
            f"{len(heads)} signed heads consistent ({checked})"
        )
    return VerifyReport(
        ok=not problems,
        entries=rows,
        first_bad_entry=first_bad,
        message=message,
        heads=len(heads),
        root_hash=tree.root().hex(),
        problems=problems,
    )
