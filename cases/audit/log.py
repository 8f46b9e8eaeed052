"""Appending to the audit log and reading its Merkle tree back from the database.

:func:`append` is the one narrow interface every package calls; :class:`AuditWriter`
batches many appends in one transaction for ingest. Appends lock the single
``audit_state`` row (``UPDATE ... RETURNING``), which serialises concurrent appenders on
PostgreSQL and takes the write lock at once on SQLite, so leaf indexes never collide.
Roots and proofs read ``O(log n)`` stored complete-subtree hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, cast

from sqlalchemy import Table, event, insert
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from cases.audit import merkle
from cases.audit.canonical import canonical_json, entry_json
from cases.audit.errors import AuditError
from cases.audit.models import AuditEntry, AuditNode, AuditState
from cases.db import param_mark

STATE_ID = 1
_WRITER_KEY = "cases.audit.writer"
_LIMITS = {"actor": 200, "action": 100, "subject": 300}

_entries = cast(Table, AuditEntry.__table__)
_nodes = cast(Table, AuditNode.__table__)
_state = cast(Table, AuditState.__table__)


def _check_text(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AuditError(f"{field}={value!r}: give a non-empty string (who/what/which)")
    if len(value) > _LIMITS[field]:
        raise AuditError(
            f"{field} is {len(value)} characters, at most {_LIMITS[field]}: put details in "
            "the payload"
        )
    return value


def split_peaks(blob: bytes) -> list[bytes]:
    """The stored right-edge subtree hashes, largest first."""
    return [blob[i : i + merkle.HASH_SIZE] for i in range(0, len(blob), merkle.HASH_SIZE)]


def _lock_state(session: Session) -> tuple[int, list[bytes]]:
    """Take the append lock and read (size, peaks); creates the state row if missing."""
    # A no-op UPDATE takes the row lock (PostgreSQL) or the write lock (SQLite). Plain SQL:
    # building the statement with SQLAlchemy cost more than running it.
    row = (
        session.connection()
        .exec_driver_sql(
            f"UPDATE audit_state SET size = size WHERE id = {STATE_ID} RETURNING size, peaks"
        )
        .first()
    )
    if row is None:
        session.execute(
            insert(_state).values(id=STATE_ID, size=0, peaks=b"", updated_at=datetime.now(UTC))
        )
        return 0, []
    return int(row[0]), split_peaks(bytes(row[1]))


@dataclass
class _Savepoint:
    """The writer's state when a savepoint began, and what it wrote since."""

    transaction: SessionTransaction
    size: int | None
    peaks: list[bytes]
    pending_rows: int
    pending_nodes: int
    written_rows: list[tuple[Any, ...]] = field(default_factory=list)
    written_nodes: list[tuple[int, int, bytes]] = field(default_factory=list)


class AuditWriter:
    """Batches appends to the audit log inside the caller's transaction.

    Use as a context manager around an ingest loop; rows are written every
    ``batch_size`` appends, at ``flush()``, at exit and just before the session commits.
    While a writer is open on a session, :func:`append` on that session goes through it.
    """

    def __init__(self, session: Session, batch_size: int = 5000) -> None:
        if batch_size < 1:
            raise AuditError(f"batch_size={batch_size}: give a positive number of entries")
        self.session = session
        self.batch_size = batch_size
        self._size: int | None = None
        self._peaks: list[bytes] = []
        self._rows: list[tuple[Any, ...]] = []
        self._node_rows: list[tuple[int, int, bytes]] = []
        self._sqlite = False
        self._open = False
        self._marks: list[_Savepoint] = []
        self._ended: _Savepoint | None = None
        #: (time, row) of the latest append, for :func:`append` to build its result.
        self.last: tuple[datetime, tuple[Any, ...]] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> AuditWriter:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.flush()
        self.close()

    def open(self) -> None:
        """Register on the session (flush before commit, forget state after commit/rollback)."""
        if self._open:
            return
        if self.session.info.get(_WRITER_KEY) is not None:
            raise AuditError("an AuditWriter is already open on this session: use that one")
        self.session.info[_WRITER_KEY] = self
        for name, fn in self._listeners():
            event.listen(self.session, name, fn)
        self._open = True

    def _listeners(self) -> list[tuple[str, Any]]:
        return [
            ("before_commit", self._before_commit),
            ("after_commit", self._committed),
            ("after_soft_rollback", self._rolled_back),
            ("after_transaction_create", self._transaction_created),
            ("after_transaction_end", self._transaction_ended),
        ]

    def close(self) -> None:
        """Unregister from the session (unflushed rows are dropped: call flush first)."""
        if not self._open:
            return
        for name, fn in self._listeners():
            event.remove(self.session, name, fn)
        self.session.info.pop(_WRITER_KEY, None)
        self._open = False
        self._discard(self.session)

    # SQLAlchemy also fires before_commit/after_commit when a savepoint is released; that
    # is no commit: the buffer stays, and the marks of enclosing savepoints must survive.

    def _before_commit(self, session: Session) -> None:
        if not session.in_nested_transaction():
            self.flush()

    def _committed(self, session: Session) -> None:
        if not session.in_nested_transaction():
            self._forget(session)

    def _forget(self, _session: Session) -> None:
        # Another process may append once our transaction ends: re-read state next time.
        self._size = None
        self._peaks = []
        self._marks.clear()
        self._ended = None

    def _discard(self, _session: Session) -> None:
        self._rows.clear()
        self._node_rows.clear()
        self._forget(_session)

    # A savepoint rolled back must take back exactly the entries appended inside it, and
    # must not lose the ones appended before it, even if a flush inside the savepoint wrote
    # (and the rollback then erased) them. Each open savepoint keeps the writer's state at
    # its start and every row written since; a rollback restores both.

    def _transaction_created(self, _session: Session, transaction: SessionTransaction) -> None:
        if transaction.nested:
            self._marks.append(
                _Savepoint(
                    transaction,
                    self._size,
                    list(self._peaks),
                    len(self._rows),
                    len(self._node_rows),
                )
            )

    def _transaction_ended(self, _session: Session, transaction: SessionTransaction) -> None:
        # SQLAlchemy ends the savepoint before it reports the rollback, so keep the mark
        # at hand; if no rollback follows it was released and its writes already count
        # for the enclosing savepoints.
        if self._marks and self._marks[-1].transaction is transaction:
            self._ended = self._marks.pop()

    def _rolled_back(self, session: Session, previous: SessionTransaction) -> None:
        if not previous.nested:
            if previous.parent is None:
                self._discard(session)
            return
        mark = self._ended
        if mark is None or mark.transaction is not previous:
            return
        self._ended = None
        rows = mark.written_rows + self._rows
        nodes = mark.written_nodes + self._node_rows
        self._rows = rows[: mark.pending_rows]
        self._node_rows = nodes[: mark.pending_nodes]
        self._size, self._peaks = mark.size, list(mark.peaks)

    # -- appending ---------------------------------------------------------------------

    def append(self, actor: str, action: str, subject: str, payload: Mapping[str, Any]) -> int:
        """Record one event; returns its leaf index (the entry id)."""
        _check_text("actor", actor)
        _check_text("action", action)
        _check_text("subject", subject)
        if not isinstance(payload, Mapping):
            raise AuditError(
                f"payload is a {type(payload).__name__}: give a dict of the event's details"
            )
        payload_text = canonical_json(dict(payload))
        self.lock()
        index = self._size
        assert index is not None
        now = datetime.now(UTC)
        naive = now.replace(tzinfo=None).isoformat(timespec="microseconds")
        digest = hashlib.sha256(payload_text.encode("utf-8")).hexdigest()
        text = entry_json(index, naive + "Z", actor, action, subject, digest)
        leaf = merkle.leaf_hash(text.encode("utf-8"))
        # SQLite keeps DATETIME as text in exactly SQLAlchemy's format (UTC, no zone).
        when: Any = naive.replace("T", " ") if self._sqlite else now
        row = (index, when, actor, action, subject, payload_text, digest, text, leaf)
        self._rows.append(row)
        self.last = (now, row)
        # Merge equal-sized subtrees on the right edge, storing each completed node.
        peaks, carry, level, pos = self._peaks, leaf, 0, index
        while pos & 1:
            carry = merkle.node_hash(peaks.pop(), carry)
            level += 1
            pos >>= 1
            self._node_rows.append((level, pos, carry))
        peaks.append(carry)
        self._size = index + 1
        if len(self._rows) >= self.batch_size:
            self.flush()
        return index

    def lock(self) -> None:
        """Take the append lock (the tree-state row) now, if this transaction has not yet.

        Appends take it anyway; taking it first serialises whole write phases of concurrent
        transactions (e.g. two ingest workers) instead of letting them interleave, which
        avoids deadlocks on the other rows they both update.
        """
        if self._size is None:
            self._size, self._peaks = _lock_state(self.session)
            self._sqlite = self.session.connection().dialect.name == "sqlite"

    def flush(self) -> None:
        """Write the buffered entries, tree nodes and the new tree state."""
        if not self._rows:
            return
        session = self.session
        conn = session.connection()
        # Straight to the driver's executemany: per-row SQLAlchemy parameter processing
        # would cost more than everything else an append does.
        ph = param_mark(conn)
        conn.exec_driver_sql(
            "INSERT INTO audit_entries (id, time, actor, action, subject, payload, "
            f"payload_sha256, entry, leaf_hash) VALUES ({', '.join([ph] * 9)})",
            self._rows,
        )
        if self._node_rows:
            conn.exec_driver_sql(
                f"INSERT INTO audit_nodes (level, idx, hash) VALUES ({ph}, {ph}, {ph})",
                self._node_rows,
            )
        now = datetime.now(UTC)
        conn.exec_driver_sql(
            f"UPDATE audit_state SET size = {ph}, peaks = {ph}, updated_at = {ph} "
            f"WHERE id = {STATE_ID}",
            (
                self._size,
                b"".join(self._peaks),
                now.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
                if self._sqlite
                else now,
            ),
        )
        for savepoint in self._marks:
            savepoint.written_rows.extend(self._rows)
            savepoint.written_nodes.extend(self._node_rows)
        self._rows = []
        self._node_rows = []

    @property
    def size(self) -> int | None:
        """The tree size including buffered entries (None before the first append)."""
        return self._size


def active_writer(session: Session) -> AuditWriter | None:
    """The AuditWriter open on ``session``, if any."""
    writer = session.info.get(_WRITER_KEY)
    return writer if isinstance(writer, AuditWriter) else None


def flush_pending(session: Session) -> None:
    """Write what an open AuditWriter still buffers, so queries see every entry."""
    writer = active_writer(session)
    if writer is not None:
        writer.flush()


def append(
    session: Session, actor: str, action: str, subject: str, payload: Mapping[str, Any]
) -> AuditEntry:
    """Append one entry to the audit log in the caller's transaction and return it.

    ``actor`` is who acted (``user:alice``, ``vehicle:uav-1``, ``system:gateway``),
    ``action`` what was done (``case.file``, ``evidence.received``), ``subject`` what it
    was done to (``case:12``, ``evidence:E-1``), ``payload`` the details (JSON values).
    The entry commits or rolls back with the caller's own changes.
    """
    writer = active_writer(session)
    if writer is not None:
        writer.append(actor, action, subject, payload)
        writer.flush()
    else:
        # A one-entry writer that is never opened: no session listeners to add and remove
        # (that bookkeeping cost more than the append), and it writes at once.
        writer = AuditWriter(session, batch_size=1)
        writer.append(actor, action, subject, payload)
    if writer.last is None:  # pragma: no cover - append always records it
        raise AuditError("the audit writer lost the entry it just wrote")
    now, (index, _when, *_rest, payload_text, digest, text, leaf) = writer.last
    existing = session.identity_map.get(identity_key(AuditEntry, index))
    if existing is not None:  # a stale object of a rolled-back entry with the same index
        session.expunge(existing)
    # The row is written; hand back a persistent object without reading it again.
    entry = AuditEntry(
        id=index,
        time=now,
        actor=actor,
        action=action,
        subject=subject,
        payload=payload_text,
        payload_sha256=digest,
        entry=text,
        leaf_hash=leaf,
    )
    make_transient_to_detached(entry)
    session.add(entry)
    return entry


def state(session: Session) -> tuple[int, list[bytes]]:
    """The stored tree size and right-edge hashes (no lock; read-only)."""
    flush_pending(session)
    row = (
        session.connection()
        .exec_driver_sql(f"SELECT size, peaks FROM audit_state WHERE id = {STATE_ID}")
        .first()
    )
    if row is None:
        return 0, []
    return int(row[0]), split_peaks(bytes(row[1]))


def count(session: Session) -> int:
    """How many entries the audit log holds."""
    return state(session)[0]


def _slots(n: int) -> int:
    k = 8
    while k < n:
        k *= 2
    return k


def fetch_nodes(session: Session, keys: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Stored complete-subtree hashes for ``(level, index)`` keys (level 0 = leaf hashes).

    One statement of primary-key lookups joined by UNION ALL, padded to a power-of-two
    number of slots so its text repeats and the driver reuses the prepared statement
    (parsing a fresh statement cost more than the lookups; an OR or row-value IN of the
    pairs makes SQLite scan the table).
    """
    nodes = sorted(k for k in keys if k[0] > 0)
    leaves = sorted(i for level, i in keys if level == 0)
    a, b = _slots(len(nodes)), _slots(len(leaves))
    conn = session.connection()
    mark = param_mark(conn)
    sql = " UNION ALL ".join(
        [f"SELECT level, idx, hash FROM audit_nodes WHERE level = {mark} AND idx = {mark}"] * a
        + [f"SELECT 0, id, leaf_hash FROM audit_entries WHERE id = {mark}"] * b
    )
    params: list[int] = [x for key in nodes for x in key]
    params += [-1] * (2 * (a - len(nodes)))
    params += leaves + [-1] * (b - len(leaves))
    found: dict[tuple[int, int], bytes] = {}
    for level, i, value in conn.exec_driver_sql(sql, tuple(params)):
        found[(int(level), int(i))] = bytes(value)
    missing = keys - found.keys()
    if missing:
        level, i = min(missing)
        raise AuditError(
            f"audit tree node level {level} index {i} is missing from the database: the log "
            "is damaged; run `patrol audit verify`"
        )
    return found


def _two_pass(session: Session, build: Any) -> Any:
    keys = merkle.needed_nodes(build)
    found = fetch_nodes(session, keys)
    return build(lambda level, i: found[(level, i)])


def _check_size(session: Session, size: int | None) -> int:
    current = count(session)
    if size is None:
        return current
    if not 0 <= size <= current:
        raise AuditError(f"tree size {size} is outside 0..{current} (the log's size)")
    return size


def root_at(session: Session, size: int | None = None) -> bytes:
    """The Merkle root of the first ``size`` entries (default: the whole log)."""
    current, peaks = state(session)
    if size is None or size == current:
        return merkle.root_from_peaks(peaks)
    size = _check_size(session, size)
    if size == 0:
        return merkle.EMPTY_ROOT
    result: bytes = _two_pass(session, lambda node: merkle.range_hash(node, 0, size))
    return result


def inclusion_proof(session: Session, index: int, size: int | None = None) -> list[bytes]:
    """The audit path of entry ``index`` in the tree of ``size`` entries (default: all)."""
    size = _check_size(session, size)
    if not 0 <= index < size:
        raise AuditError(f"entry {index} is not in a log of {size} entries")
    result: list[bytes] = _two_pass(session, lambda node: merkle.inclusion_path(node, index, size))
    return result


def consistency_proof(session: Session, first: int, second: int | None = None) -> list[bytes]:
    """The consistency proof from tree size ``first`` to ``second`` (default: all)."""
    second = _check_size(session, second)
    if not 0 <= first <= second:
        raise AuditError(f"first size {first} must be between 0 and the second size {second}")
    result: list[bytes] = _two_pass(
        session, lambda node: merkle.consistency_path(node, first, second)
    )
    return result
