"""Storing evidence and dead letters on SQLite and PostgreSQL; engine settings."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from cases.db import make_engine, session_factory
from cases.errors import EvidenceError
from cases.evidence import store_dead_letter, store_evidence, store_evidence_many
from cases.models import DeadLetter, Evidence, EvidenceMedia

from .factories import evidence_record


def test_sqlite_engine_uses_wal_foreign_keys_and_busy_timeout(sqlite_url: str) -> None:
    eng = make_engine(sqlite_url)
    with eng.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert c.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
    eng.dispose()


@pytest.mark.parametrize("immediate", [False, True])
def test_sqlite_savepoint_first_transaction_rolls_back_whole(
    sqlite_url: str, immediate: bool
) -> None:
    # A transaction that starts with a savepoint must still be one transaction: releasing
    # the savepoint commits nothing, and the outer rollback takes everything back.
    eng = make_engine(sqlite_url, sqlite_immediate=immediate)
    with session_factory(eng)() as s:
        with s.begin_nested():
            store_dead_letter(s, "t/1", b"x", "reason: test")
        store_dead_letter(s, "t/2", b"y", "reason: test")
        s.rollback()
        assert s.scalar(select(func.count()).select_from(DeadLetter)) == 0
    eng.dispose()


def test_store_evidence_is_idempotent_on_id(session: Session) -> None:
    rec = evidence_record(evidence_id="ev-0001")
    assert store_evidence(session, rec) is True
    session.commit()
    assert store_evidence(session, rec) is False
    session.commit()
    assert session.scalar(select(func.count()).select_from(Evidence)) == 1
    row = session.get(Evidence, "ev-0001")
    assert row is not None
    assert row.captured_at == rec.captured_at and row.captured_at.tzinfo is not None
    assert row.footprint["type"] == "Polygon"
    assert row.box_px == [100, 120, 260, 300]
    assert row.art41_review == "pending"
    assert [m.sha256 for m in row.media] == rec.media_sha256


def test_store_evidence_rejects_bad_fields_by_name(session: Session) -> None:
    rec = evidence_record()
    rec.captured_at = datetime(2026, 11, 2, 10, 0)  # naive
    with pytest.raises(EvidenceError, match="captured_at"):
        store_evidence(session, rec)
    rec = evidence_record()
    rec.lat = 123.0
    with pytest.raises(EvidenceError, match=r"lat 123\.0"):
        store_evidence(session, rec)
    rec = evidence_record()
    rec.media_sha256 = ["not-a-hash"]
    with pytest.raises(EvidenceError, match="sha256"):
        store_evidence(session, rec)


def test_dead_letter_keeps_payload_and_reason(session: Session) -> None:
    payload = b"\x00\xffnot json"
    i = store_dead_letter(session, "fieldpatrol/v1/s/v/evidence", payload, "bad signature")
    session.commit()
    row = session.get(DeadLetter, i)
    assert row is not None and row.payload == payload and row.reason == "bad signature"
    with pytest.raises(EvidenceError, match="reason"):
        store_dead_letter(session, "t", b"x", "")


def test_concurrent_duplicate_ingest_stores_once(engine: Engine) -> None:
    """Two workers receive the same message at once (QoS 1 redelivery): one row, one True."""
    rec = evidence_record(evidence_id="ev-race")
    factory = session_factory(engine)
    results: list[bool] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            with factory() as s:
                barrier.wait(timeout=10)
                results.append(store_evidence(s, rec))
                s.commit()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Evidence)) == 1
        assert s.scalar(select(func.count()).select_from(EvidenceMedia)) == 1
    assert errors == []
    assert sorted(results) == [False, False, False, True]


def test_media_links_keep_order_and_drop_repeats(session: Session) -> None:
    rec = evidence_record()
    a, b = "a" * 64, "b" * 64
    rec.media_sha256 = [b, a, b]
    store_evidence(session, rec)
    session.commit()
    row = session.get(Evidence, rec.id)
    assert row is not None
    assert [m.sha256 for m in row.media] == [b, a]


def test_store_evidence_many_is_idempotent_and_all_or_nothing(session: Session) -> None:
    a, b = "a" * 64, "b" * 64
    old = evidence_record(seq=1)
    store_evidence(session, old)
    batch = [evidence_record(seq=i) for i in range(2, 6)]
    batch[0].media_sha256 = [b, a, b]
    # A bad record refuses the whole call, naming the record and field; nothing written.
    bad = evidence_record(seq=9, lat=91.0)
    with pytest.raises(EvidenceError, match=rf"{bad.id}: lat 91.0"):
        store_evidence_many(session, [*batch, bad])
    assert session.scalar(select(func.count()).select_from(Evidence)) == 1
    # Already stored and repeated ids are not new; each new item is stored once.
    new = store_evidence_many(session, [old, *batch, batch[1]])
    session.commit()
    assert new == {r.id for r in batch}
    assert session.scalar(select(func.count()).select_from(Evidence)) == 5
    assert store_evidence_many(session, batch) == set()
    row = session.get(Evidence, batch[0].id)
    assert row is not None and [m.sha256 for m in row.media] == [b, a]
    assert row.captured_at == batch[0].captured_at and row.footprint == batch[0].footprint_geojson


def test_times_read_back_as_utc(session: Session) -> None:
    tz8 = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
    rec = evidence_record(captured_at=tz8.astimezone(ZoneInfo("Asia/Shanghai")))
    store_evidence(session, rec)
    session.commit()
    session.expire_all()
    row = session.get(Evidence, rec.id)
    assert row is not None
    assert row.captured_at == tz8
    assert row.captured_at.utcoffset() == timedelta(0)


def test_store_evidence_many_writes_what_store_evidence_writes(session: Session) -> None:
    """The batch insert goes to the driver: its raw column values (JSON text, time format)
    must be exactly those the ORM writes, or queries on time and JSON would treat them apart."""
    tz8 = datetime(2026, 11, 2, 10, 30, 5, 120, tzinfo=UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    one = evidence_record(seq=1, evidence_id="ev-one", captured_at=tz8)
    many = evidence_record(seq=1, evidence_id="ev-many", captured_at=tz8)
    many.media_sha256 = one.media_sha256 = ["c" * 64]
    many.raw_json = one.raw_json
    assert store_evidence(session, one)
    assert store_evidence_many(session, [many]) == {"ev-many"}
    session.commit()
    rows = {
        r[0]: r[1:]
        for r in session.execute(
            text(
                "SELECT id, device_seq, vehicle_id, captured_at, lat, box_px, footprint, "
                "signature, raw_json, art41_review, received_at FROM evidence ORDER BY id"
            )
        )
    }
    assert rows["ev-one"][:-1] == rows["ev-many"][:-1]
    received = [rows["ev-one"][-1], rows["ev-many"][-1]]
    assert type(received[0]) is type(received[1])
    if isinstance(received[0], str):  # SQLite keeps text: same format, UTC, microseconds
        assert len(received[0]) == len(received[1]) == len("2026-11-02 02:30:05.000120")
    assert session.scalar(select(Evidence.captured_at).where(Evidence.id == "ev-many")) == tz8
    assert (
        session.scalar(
            select(func.count()).where(Evidence.captured_at == tz8).select_from(Evidence)
        )
        == 2
    )
