"""The narrow append interface: entries, counting, batching, transactions, bad arguments."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from cases import audit
from cases.audit import merkle
from cases.audit.errors import AuditError
from cases.db import make_engine, session_factory


def test_append_returns_a_canonical_entry(session: Session) -> None:
    before = datetime.now(UTC)
    entry = audit.append(
        session,
        "user:alice",
        "case.file",
        "case:12",
        {"reason": "立案", "when": datetime(2026, 11, 1, 8, tzinfo=UTC), "amount_yuan": 500},
    )
    session.commit()
    assert entry.id == 0 and entry.index == 0
    assert before - timedelta(seconds=1) <= entry.time <= datetime.now(UTC)
    doc = json.loads(entry.entry)
    assert doc == {
        "action": "case.file",
        "actor": "user:alice",
        "index": 0,
        "payload_sha256": hashlib.sha256(entry.payload.encode()).hexdigest(),
        "subject": "case:12",
        "time": entry.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "v": 1,
    }
    # Canonical: sorted keys, no spaces, UTF-8 kept as is.
    assert entry.payload == (
        '{"amount_yuan":500,"reason":"立案","when":"2026-11-01T08:00:00.000000Z"}'
    )
    assert entry.leaf_hash == merkle.leaf_hash(entry.entry.encode())
    assert audit.count(session) == 1


def test_entries_are_numbered_in_order_and_the_log_verifies(session: Session) -> None:
    for i in range(7):
        assert audit.append(session, "system:test", "tick", f"thing:{i}", {"i": i}).id == i
    session.commit()
    assert audit.count(session) == 7
    report = audit.verify(session)
    assert report.ok, report.message
    assert report.entries == 7 and report.first_bad_entry is None
    leaves = session.scalars(select(audit.AuditEntry.entry).order_by(audit.AuditEntry.id)).all()
    assert audit.root_at(session).hex() == report.root_hash
    assert audit.root_at(session) == merkle.reference_root([e.encode() for e in leaves])


def test_rollback_drops_the_entry_with_the_action(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        audit.append(s, "user:a", "kept", "x:1", {})
        s.commit()
        audit.append(s, "user:a", "undone", "x:2", {})
        s.rollback()
        assert audit.count(s) == 1
        assert audit.append(s, "user:a", "next", "x:3", {}).id == 1
        s.commit()
        assert audit.verify(s).ok


def test_writer_batches_and_interleaves_with_append(session: Session) -> None:
    with audit.AuditWriter(session, batch_size=100) as writer:
        ids = [
            writer.append("system:gw", "evidence.received", f"ev:{i}", {"i": i}) for i in range(250)
        ]
        # A plain append on the same session goes through the open writer.
        single = audit.append(session, "user:b", "login", "user:b", {"ok": True})
        assert audit.count(session) == 251
    session.commit()
    assert ids == list(range(250)) and single.id == 250
    report = audit.verify(session)
    assert report.ok and report.entries == 251


def test_writer_flushes_before_commit(session: Session) -> None:
    writer = audit.AuditWriter(session, batch_size=10_000)
    writer.open()
    for i in range(30):
        writer.append("system:gw", "evidence.received", f"ev:{i}", {})
    session.commit()
    writer.close()
    assert audit.count(session) == 30
    assert audit.verify(session).ok


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("", "a", "s:1", {}), "actor"),
        (("u", "  ", "s:1", {}), "action"),
        (("u", "a", 5, {}), "subject"),
        (("u", "a" * 101, "s:1", {}), "action"),
        (("u", "a", "s:1", ["not", "a", "dict"]), "payload"),
        (("u", "a", "s:1", {"x": float("nan")}), "payload"),
        (("u", "a", "s:1", {"x": object()}), "payload"),
        (("u", "a", "s:1", {"t": datetime(2026, 1, 1)}), "payload"),
    ],
)
def test_bad_arguments_are_refused_by_name(sqlite_url: str, args: tuple, field: str) -> None:
    engine = make_engine(sqlite_url)
    with session_factory(engine)() as session:
        with pytest.raises(AuditError, match=field):
            audit.append(session, *args)
        assert audit.count(session) == 0
    engine.dispose()


def test_concurrent_appenders_never_collide(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(10):
                with sessions() as s:
                    audit.append(s, f"worker:{worker}", "tick", f"n:{i}", {"i": i})
                    s.commit()
        except BaseException as exc:  # report in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with sessions() as s:
        assert audit.count(s) == 40
        report = audit.verify(s)
        assert report.ok, report.message


def test_savepoint_rollback_takes_back_only_its_own_entries(session: Session) -> None:
    """Ingest redoes a bad batch message by message in savepoints: entries must follow."""
    with audit.AuditWriter(session, batch_size=3) as writer:
        writer.append("system:gw", "kept", "ev:0", {})
        savepoint = session.begin_nested()
        for i in range(1, 5):  # the 3rd append flushes inside the savepoint
            writer.append("system:gw", "undone", f"ev:{i}", {})
        savepoint.rollback()
        with session.begin_nested():
            writer.append("system:gw", "kept", "ev:5", {})
            inner = session.begin_nested()
            writer.append("system:gw", "undone", "ev:6", {})
            inner.rollback()
        writer.append("system:gw", "kept", "ev:7", {})
    session.commit()
    rows = session.execute(
        select(audit.AuditEntry.id, audit.AuditEntry.subject).order_by(audit.AuditEntry.id)
    ).all()
    assert [tuple(r) for r in rows] == [(0, "ev:0"), (1, "ev:5"), (2, "ev:7")]
    report = audit.verify(session)
    assert report.ok, report.message


def test_released_savepoint_inside_a_rolled_back_one(session: Session) -> None:
    """Releasing an inner savepoint is not a commit: the writer keeps what it must undo."""
    with audit.AuditWriter(session, batch_size=100) as writer:
        writer.append("system:gw", "kept", "ev:0", {})
        outer = session.begin_nested()
        writer.append("system:gw", "undone", "ev:1", {})
        with session.begin_nested():
            writer.append("system:gw", "undone", "ev:2", {})
        outer.rollback()
        writer.append("system:gw", "kept", "ev:3", {})
    session.commit()
    rows = session.execute(
        select(audit.AuditEntry.id, audit.AuditEntry.subject).order_by(audit.AuditEntry.id)
    ).all()
    assert [tuple(r) for r in rows] == [(0, "ev:0"), (1, "ev:3")]
    report = audit.verify(session)
    assert report.ok, report.message
