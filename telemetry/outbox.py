"""Durable edge outbox: evidence and media wait in a local SQLite file until the broker acks.

A vehicle writes each evidence item and its media here first (one transaction), and the
publisher removes a row only after the broker's PUBACK. Whatever crashes in between
(publisher, link, broker, power), the item is still on disk and is sent again: delivery is
at least once, and the gateway's idempotent ingest turns that into exactly once.

Rows are sent in row order, so per vehicle the media of an evidence item go before the
evidence, and evidence goes in sequence order. :meth:`Outbox.add` refuses a sequence number
that is not greater than the last one accepted for that vehicle (the gateway would treat a
reused number as a replay).
"""

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from telemetry.contract import EvidenceMessage, topic_for

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,              -- 'media' or 'evidence'
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    vehicle_id TEXT NOT NULL,
    evidence_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sequences (
    vehicle_id TEXT PRIMARY KEY,
    last_sequence INTEGER NOT NULL
);
"""


class OutboxError(ValueError):
    """An item cannot be put in the outbox (media missing or altered, sequence reused)."""


@dataclass(frozen=True)
class OutboxItem:
    """One message waiting to be published."""

    row: int
    kind: str
    topic: str
    payload: bytes
    evidence_id: str
    sequence: int


class Outbox:
    """A SQLite outbox at ``path`` (created if missing); safe to share between threads.

    ``synchronous="FULL"`` makes each :meth:`add` survive power loss, not only a process
    crash (``"NORMAL"``), at the cost of an fsync per item.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise OutboxError(
                f"synchronous {synchronous!r} is not a safe SQLite setting; use FULL or NORMAL"
            )
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(_SCHEMA)
        self._closed = False

    # -- writing ----------------------------------------------------------------------------

    def add(self, msg: EvidenceMessage, media: Mapping[str, bytes]) -> int:
        """Queue ``msg`` and its media (``{sha256: bytes}``); returns the evidence row.

        Every media reference of ``msg`` must be given, and its bytes must hash to its
        sha256. Media go in first so that they are published before the evidence.
        """
        return self.add_many([(msg, media)])[0]

    def add_many(self, items: Iterable[tuple[EvidenceMessage, Mapping[str, bytes]]]) -> list[int]:
        """Queue several items in one transaction (one fsync); returns their evidence rows."""
        now = time.time()
        prepared: list[tuple[EvidenceMessage, list[tuple[str, bytes]]]] = []
        for msg, media in items:
            if not msg.signature:
                raise OutboxError(
                    f"evidence {msg.id} is not signed; sign it with DeviceKey.sign before "
                    "queueing (the gateway dead-letters unsigned evidence)"
                )
            blobs: list[tuple[str, bytes]] = []
            for ref in msg.media:
                data = media.get(ref.sha256)
                if data is None:
                    raise OutboxError(
                        f"evidence {msg.id}: media {ref.sha256} is referenced but not given; "
                        "pass its bytes in the media mapping"
                    )
                digest = hashlib.sha256(data).hexdigest()
                if digest != ref.sha256:
                    raise OutboxError(
                        f"evidence {msg.id}: media bytes hash to {digest}, not {ref.sha256}"
                    )
                blobs.append((ref.sha256, bytes(data)))
            prepared.append((msg, blobs))
        rows: list[int] = []
        with self._lock:
            self._check_open()
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                for msg, blobs in prepared:
                    last = cur.execute(
                        "SELECT last_sequence FROM sequences WHERE vehicle_id = ?",
                        (msg.vehicle_id,),
                    ).fetchone()
                    if last is not None and msg.sequence <= last[0]:
                        raise OutboxError(
                            f"evidence {msg.id}: sequence {msg.sequence} of vehicle "
                            f"{msg.vehicle_id} is not after the last queued one ({last[0]}); "
                            "use Outbox.next_sequence() for each new item"
                        )
                    cur.execute(
                        "INSERT INTO sequences (vehicle_id, last_sequence) VALUES (?, ?) "
                        "ON CONFLICT(vehicle_id) DO UPDATE SET "
                        "last_sequence = excluded.last_sequence",
                        (msg.vehicle_id, msg.sequence),
                    )
                    for sha, data in blobs:
                        cur.execute(
                            "INSERT INTO outbox (kind, topic, payload, vehicle_id, evidence_id,"
                            " sequence, created_at) VALUES ('media', ?, ?, ?, ?, ?, ?)",
                            (
                                topic_for(msg.site_id, msg.vehicle_id, "media", sha256=sha),
                                data,
                                msg.vehicle_id,
                                msg.id,
                                msg.sequence,
                                now,
                            ),
                        )
                    cur.execute(
                        "INSERT INTO outbox (kind, topic, payload, vehicle_id, evidence_id,"
                        " sequence, created_at) VALUES ('evidence', ?, ?, ?, ?, ?, ?)",
                        (
                            topic_for(msg.site_id, msg.vehicle_id, "evidence"),
                            msg.to_json(),
                            msg.vehicle_id,
                            msg.id,
                            msg.sequence,
                            now,
                        ),
                    )
                    rows.append(int(cur.lastrowid or 0))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()
        return rows

    def next_sequence(self, vehicle_id: str) -> int:
        """The sequence number to give the next evidence item of ``vehicle_id`` (0 first).

        Persisted with the items, so it keeps increasing across restarts.
        """
        with self._lock:
            self._check_open()
            row = self._db.execute(
                "SELECT last_sequence FROM sequences WHERE vehicle_id = ?", (vehicle_id,)
            ).fetchone()
        return 0 if row is None else int(row[0]) + 1

    def remove(self, rows: Iterable[int]) -> None:
        """Delete rows the broker has acknowledged."""
        ids = [(r,) for r in rows]
        if not ids:
            return
        with self._lock:
            self._check_open()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("DELETE FROM outbox WHERE row = ?", ids)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # -- reading ----------------------------------------------------------------------------

    def pending(self, after_row: int = 0, limit: int = 100) -> list[OutboxItem]:
        """Up to ``limit`` waiting messages with row > ``after_row``, oldest first."""
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                "SELECT row, kind, topic, payload, evidence_id, sequence FROM outbox "
                "WHERE row > ? ORDER BY row LIMIT ?",
                (after_row, limit),
            ).fetchall()
        return [OutboxItem(r[0], r[1], r[2], bytes(r[3]), r[4], r[5]) for r in rows]

    def count(self) -> int:
        """Messages waiting (media and evidence)."""
        with self._lock:
            self._check_open()
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def evidence_backlog(self) -> int:
        """Evidence items waiting."""
        with self._lock:
            self._check_open()
            row = self._db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'evidence'")
            return int(row.fetchone()[0])

    def close(self) -> None:
        """Close the database file (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def _check_open(self) -> None:
        if self._closed:
            raise OutboxError(f"outbox {self.path} is closed")

    def __enter__(self) -> "Outbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
