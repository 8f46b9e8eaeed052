"""Storing evidence and dead letters: the ingest's narrow, idempotent entry into the record.

The gateway verifies signatures and turns wire messages into :class:`EvidenceRecord`
(a plain dataclass, so ``cases`` needs no ``telemetry`` import). Storing is idempotent on
the evidence id: a redelivered message (MQTT QoS 1 delivers at least once) returns False
and changes nothing. Functions flush but do not commit: the caller owns the transaction.
:func:`store_evidence_many` stores a whole ingest batch with two set-based statements.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cases.db import param_mark
from cases.errors import EvidenceError
from cases.models import DeadLetter, Evidence, EvidenceMedia, utcnow

__all__ = [
    "EvidenceRecord",
    "recorded_evidence",
    "recorded_media",
    "store_dead_letter",
    "store_evidence",
    "store_evidence_many",
    "validate_record",
]

_evidence = cast(Table, Evidence.__table__)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_links = cast(Table, EvidenceMedia.__table__)


@dataclass
class EvidenceRecord:
    """One evidence item as the case record stores it (GeoJSON order for the footprint)."""

    id: str
    device_seq: int
    vehicle_id: str
    site_id: str
    mission_id: str
    sortie_id: str
    captured_at: datetime
    lat: float
    lon: float
    alt_agl_m: float
    alt_amsl_m: float
    class_name: str
    confidence: float
    box_px: list[int]
    footprint_geojson: dict[str, Any]
    media_sha256: list[str] = field(default_factory=list)
    signature: str = ""
    raw_json: str = ""


def validate_record(record: EvidenceRecord) -> None:
    """Raise :class:`EvidenceError` naming the first field of ``record`` the record refuses."""
    if not record.id:
        raise EvidenceError("evidence id is empty: every evidence item needs its unique id")
    if record.captured_at.tzinfo is None:
        raise EvidenceError(
            f"evidence {record.id}: captured_at {record.captured_at.isoformat()} is naive; "
            "send a timezone-aware UTC time"
        )
    if not (math.isfinite(record.lat) and -90.0 <= record.lat <= 90.0):
        raise EvidenceError(f"evidence {record.id}: lat {record.lat} is not in [-90, 90]")
    if not (math.isfinite(record.lon) and -180.0 <= record.lon <= 180.0):
        raise EvidenceError(f"evidence {record.id}: lon {record.lon} is not in [-180, 180]")
    if not (0.0 <= record.confidence <= 1.0):
        raise EvidenceError(
            f"evidence {record.id}: confidence {record.confidence} is not in [0, 1]"
        )
    for sha in record.media_sha256:
        if not _SHA256.fullmatch(sha):
            raise EvidenceError(
                f"evidence {record.id}: media sha256 {sha!r} is not 64 lowercase hex digits"
            )


def store_evidence(session: Session, record: EvidenceRecord) -> bool:
    """Store ``record``; True if it is new, False if an item with its id already exists.

    Safe under concurrent ingest workers: a duplicate insert racing this one is caught
    in a savepoint and reported as "already there".
    """
    validate_record(record)
    if session.get(Evidence, record.id) is not None:
        return False
    row = Evidence(
        id=record.id,
        device_seq=record.device_seq,
        vehicle_id=record.vehicle_id,
        site_id=record.site_id,
        mission_id=record.mission_id,
        sortie_id=record.sortie_id,
        captured_at=record.captured_at,
        lat=record.lat,
        lon=record.lon,
        alt_agl_m=record.alt_agl_m,
        alt_amsl_m=record.alt_amsl_m,
        class_name=record.class_name,
        confidence=record.confidence,
        box_px=[int(v) for v in record.box_px],
        footprint=record.footprint_geojson,
        signature=record.signature,
        raw_json=record.raw_json,
        received_at=utcnow(),
        art41_review="pending",
    )
    # dict.fromkeys keeps order and drops repeats: one link per media file.
    for position, sha in enumerate(dict.fromkeys(record.media_sha256)):
        row.media.append(EvidenceMedia(sha256=sha, position=position))
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        if session.get(Evidence, record.id) is not None:
            return False
        raise
    return True


def _row(record: EvidenceRecord, received_at: datetime) -> dict[str, Any]:
    return {
        "id": record.id,
        "device_seq": record.device_seq,
        "vehicle_id": record.vehicle_id,
        "site_id": record.site_id,
        "mission_id": record.mission_id,
        "sortie_id": record.sortie_id,
        "captured_at": record.captured_at,
        "lat": record.lat,
        "lon": record.lon,
        "alt_agl_m": record.alt_agl_m,
        "alt_amsl_m": record.alt_amsl_m,
        "class_name": record.class_name,
        "confidence": record.confidence,
        "box_px": [int(v) for v in record.box_px],
        "footprint": record.footprint_geojson,
        "signature": record.signature,
        "raw_json": record.raw_json,
        "received_at": received_at,
        "art41_review": "pending",
    }


def store_evidence_many(session: Session, records: Sequence[EvidenceRecord]) -> set[str]:
    """Store ``records`` at once; returns the ids that are new (the others already existed).

    The set-based form of :func:`store_evidence` for an ingest batch: every record is
    validated first (the first bad one raises :class:`EvidenceError` and nothing is
    written), then the evidence rows in one statement (PostgreSQL: ``INSERT ... ON CONFLICT
    (id) DO NOTHING RETURNING id``; SQLite: a query for the ids that exist and one
    ``executemany``) and one insert for the media links of the new ones. A row another
    transaction inserted first is simply not new, so concurrent workers are safe.
    An id given twice is stored once (the first record wins).
    """
    for record in records:
        validate_record(record)
    if not records:
        return set()
    first: dict[str, EvidenceRecord] = {}
    for record in records:
        first.setdefault(record.id, record)
    now = utcnow()
    session.flush()  # the inserts below go to the driver, past the session's autoflush
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):  # pragma: no cover - SQLite or PostgreSQL only
        new_ids = {r.id for r in first.values() if store_evidence(session, r)}
        return new_ids
    rows = [_row(r, now) for r in first.values()]
    new = _insert_pg(conn, rows) if dialect == "postgresql" else _insert_sqlite(conn, rows)
    links = [
        {"evidence_id": r.id, "sha256": sha, "position": position}
        for r in first.values()
        if r.id in new
        # dict.fromkeys keeps order and drops repeats: one link per media file.
        for position, sha in enumerate(dict.fromkeys(r.media_sha256))
    ]
    if links:
        session.execute(insert(_links), links)
    return new


def _insert_sqlite(conn: Any, rows: list[dict[str, Any]]) -> set[str]:
    """The evidence insert on SQLite, straight to the driver; returns the new ids.

    SQLAlchemy's ``INSERT ... RETURNING`` of a batch cost about 0.3 ms of CPU per row (its
    per-row type processing and multi-row statements); this is one query for the ids that
    exist and one ``executemany``. Exact on SQLite: a writer's transaction sees no other
    writer's commits, and a reader that another writer overtook cannot start writing
    (SQLITE_BUSY_SNAPSHOT), so nothing can appear between the two statements.
    """
    ids = [row["id"] for row in rows]
    existing: set[str] = set()
    cursor = conn.connection.driver_connection.cursor()
    try:
        for i in range(0, len(ids), _SQLITE_IN_CHUNK):
            chunk = ids[i : i + _SQLITE_IN_CHUNK]
            found = cursor.execute(
                f"SELECT id FROM evidence WHERE id IN ({', '.join(['?'] * len(chunk))})", chunk
            )
            existing.update(r[0] for r in found)
        fresh = [row for row in rows if row["id"] not in existing]
        if fresh:
            columns = list(fresh[0])
            cursor.executemany(
                f"INSERT INTO evidence ({', '.join(columns)}) "
                f"VALUES ({', '.join(['?'] * len(columns))})",
                [tuple(_sqlite_value(c, row[c]) for c in columns) for row in fresh],
            )
    finally:
        cursor.close()
    return {row["id"] for row in fresh}


#: Ids per ``IN (...)`` query (SQLite before 3.32 allowed 999 parameters per statement).
_SQLITE_IN_CHUNK = 900


def _sqlite_value(column: str, value: Any) -> Any:
    """A value as SQLAlchemy would bind it on SQLite (JSON text; UTC time as naive text)."""
    if column in ("box_px", "footprint"):
        return json.dumps(value)
    if isinstance(value, datetime):
        # UTCDateTime + SQLite's DATETIME: UTC, no zone, always with microseconds.
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


def _insert_pg(conn: Any, rows: list[dict[str, Any]]) -> set[str]:
    """The evidence insert on PostgreSQL, straight to psycopg; returns the new ids.

    SQLAlchemy would send one multi-row ``VALUES`` statement per batch, which psycopg parses
    afresh each time (too long for its statement cache): five times the CPU of psycopg's
    own pipelined ``executemany`` of one short, cached statement.
    """
    columns = list(rows[0])
    sql = (
        f"INSERT INTO evidence ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        "ON CONFLICT (id) DO NOTHING RETURNING id"
    )
    params = [
        tuple(json.dumps(row[c]) if c in ("box_px", "footprint") else row[c] for c in columns)
        for row in rows
    ]
    new: set[str] = set()
    with conn.connection.driver_connection.cursor() as cursor:
        cursor.executemany(sql, params, returning=True)
        while True:
            found = cursor.fetchone()
            if found is not None:
                new.add(found[0])
            if not cursor.nextset():
                break
    return new


def recorded_evidence(
    session: Session, ids: Collection[str], vehicles: Collection[str], sequences: Collection[int]
) -> list[tuple[str, str, str, int]]:
    """``(id, signature, vehicle_id, device_seq)`` of the recorded evidence that has one of
    ``ids``, or one of ``vehicles`` and one of ``sequences``: an ingest batch's duplicates
    and replayed sequence numbers, in one query.

    Straight to the driver, like the batch insert: built with SQLAlchemy's expanding
    ``IN`` this query cost about 3 ms of CPU per batch on the 2-core test VM, more than
    everything else a batch of ten items asks the database. Sees what this transaction has
    flushed (call it before adding rows through the session).
    """
    if not ids and not (vehicles and sequences):
        return []
    conn = session.connection()
    mark = param_mark(conn)
    sql = (
        "SELECT id, signature, vehicle_id, device_seq FROM evidence "
        f"WHERE id IN ({_marks(mark, len(ids))}) "
        f"OR (vehicle_id IN ({_marks(mark, len(vehicles))}) "
        f"AND device_seq IN ({_marks(mark, len(sequences))}))"
    )
    params = (*ids, *vehicles, *sequences)
    return [(r[0], r[1], r[2], r[3]) for r in conn.exec_driver_sql(sql, params)]


def recorded_media(session: Session, shas: Collection[str]) -> dict[str, int]:
    """Size in bytes of each digest among ``shas`` that has a ``media`` row (one query)."""
    if not shas:
        return {}
    conn = session.connection()
    mark = param_mark(conn)
    sql = f"SELECT sha256, size FROM media WHERE sha256 IN ({_marks(mark, len(shas))})"
    return {r[0]: r[1] for r in conn.exec_driver_sql(sql, tuple(shas))}


def _marks(mark: str, n: int) -> str:
    # IN () is an error: an empty list matches nothing through NULL.
    return ", ".join([mark] * n) if n else "NULL"


def store_dead_letter(session: Session, topic: str, payload: bytes, reason: str) -> int:
    """Keep a message that could not be ingested, with the reason; returns its id."""
    if not reason:
        raise EvidenceError("dead letter reason is empty: say why the message was refused")
    row = DeadLetter(topic=topic, payload=bytes(payload), reason=reason, received_at=utcnow())
    session.add(row)
    session.flush()
    return row.id
