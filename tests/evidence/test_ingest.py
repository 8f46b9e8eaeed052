"""Ingest logic on a real SQLite case record: store once, refuse with reasons, audit it all."""

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from cases import audit
from cases.db import make_engine, session_factory, upgrade
from cases.models import Case, CaseEvidence, DeadLetter, Device, Evidence
from gateway.devices import DeviceError, register_device, revoke_device
from gateway.ingest import IngestMetrics, Processor
from gateway.media import FLAT, LAYOUT_FILE, NESTED, MediaError, MediaStore
from telemetry.contract import EvidenceMessage, MediaRef, topic_for
from telemetry.signing import DeviceKey

Item = Callable[..., tuple[EvidenceMessage, dict[str, bytes]]]
Sessions = sessionmaker[Session]


def run(
    processor: Processor, sessions: Sessions, messages: list[tuple[str, bytes]], final: bool = False
) -> list[str]:
    with sessions() as session:
        out = [
            str(processor.process(session, t, p, final_attempt=final).status) for t, p in messages
        ]
        session.commit()
    return out


def wire(msg: EvidenceMessage, media: dict[str, bytes]) -> list[tuple[str, bytes]]:
    out = [(topic_for(msg.site_id, msg.vehicle_id, "media", sha256=s), b) for s, b in media.items()]
    out.append((topic_for(msg.site_id, msg.vehicle_id, "evidence"), msg.to_json()))
    return out


def dead_reasons(sessions: Sessions) -> list[str]:
    with sessions() as session:
        return [d.reason for d in session.scalars(select(DeadLetter).order_by(DeadLetter.id))]


def test_evidence_stored_once_with_media_case_and_audit(
    processor: Processor, sessions: Sessions, device_key: DeviceKey, item: Item
) -> None:
    msg, media = item(device_key, 1)
    assert run(processor, sessions, wire(msg, media)) == ["media", "stored"]
    # redelivery (QoS 1 is at least once) changes nothing
    assert run(processor, sessions, wire(msg, media)) == ["media", "duplicate"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Evidence)) == 1
        row = session.get(Evidence, msg.id)
        assert row is not None and row.device_seq == 1 and row.signature == msg.signature
        assert [m.sha256 for m in row.media] == msg.media_sha256
        assert session.scalar(select(func.count()).select_from(CaseEvidence)) == 1
        report = audit.verify(session)
        assert report.ok, report.message
        actions = [e.action for e in session.scalars(select(audit.AuditEntry))]
        assert "evidence.received" in actions
    assert processor.media.verify(msg.media_sha256[0])
    assert processor.metrics.counts["stored"] == 1
    assert processor.metrics.counts["duplicates"] == 1


def test_evidence_before_media_waits_then_goes_through(
    processor: Processor, sessions: Sessions, device_key: DeviceKey, item: Item
) -> None:
    msg, media = item(device_key, 1)
    media_msg, evidence_msg = wire(msg, media)
    assert run(processor, sessions, [evidence_msg]) == ["waiting"]
    assert run(processor, sessions, [media_msg, evidence_msg]) == ["media", "stored"]
    # and if it never comes, the last attempt dead-letters it with the reason
    msg2, _ = item(device_key, 2)
    assert run(processor, sessions, wire(msg2, {})[-1:], final=True) == ["dead_letter"]
    assert dead_reasons(sessions)[-1].startswith("media_missing:")


def test_each_refusal_is_dead_lettered_with_reason_audit_and_metric(
    processor: Processor, sessions: Sessions, device_key: DeviceKey, item: Item
) -> None:
    good, media = item(device_key, 1)
    media_topic = wire(good, media)[0][0]
    run(processor, sessions, wire(good, media))
    stranger = DeviceKey.generate()
    forged, _ = item(stranger, 2)  # signed by a key uav-1 was not enrolled with
    unsigned = good.model_copy(update={"id": "ev-x", "sequence": 3, "signature": None})
    altered = good.model_copy(update={"id": "ev-y"})  # id changed after signing
    replay, rmedia = item(device_key, 1, id_prefix="other")  # new id, used sequence
    ghost_key = DeviceKey.generate()
    ghost, _ = item(ghost_key, 1, vehicle_id="uav-9")
    cases = [
        ("fieldpatrol/v1/site-1/uav-1/bogus", b"{}", "bad_topic"),
        (wire(good, {})[0][0], b"not json", "malformed"),
        (wire(good, {})[0][0], b'{"v": 1, "id": "x"}', "malformed"),
        (media_topic, b"other bytes", "media_hash_mismatch"),
        (topic_for("site-1", "uav-2", "evidence"), good.to_json(), "topic_mismatch"),
        (wire(forged, {})[0][0], forged.to_json(), "unknown_key"),
        (wire(good, {})[0][0], unsigned.to_json(), "bad_signature"),
        (wire(good, {})[0][0], altered.to_json(), "bad_signature"),
        (wire(replay, {})[0][0], replay.to_json(), "replayed_sequence"),
        (wire(ghost, {})[0][0], ghost.to_json(), "unknown_device"),
    ]
    run(processor, sessions, wire(replay, rmedia)[:1])
    before = len(dead_reasons(sessions))
    statuses = run(processor, sessions, [(t, p) for t, p, _ in cases])
    assert statuses == ["dead_letter"] * len(cases)
    reasons = dead_reasons(sessions)[before:]
    assert [r.split(":", 1)[0] for r in reasons] == [code for _, _, code in cases]
    assert all(len(r.split(":", 1)[1].strip()) > 10 for r in reasons)  # says what was wrong
    for code in {c for _, _, c in cases}:
        assert processor.metrics.dead_letters[code] >= 1
    with sessions() as session:
        entries = list(session.scalars(select(audit.AuditEntry)))
        assert sum(e.action == "ingest.dead_letter" for e in entries) == len(cases)
        assert audit.verify(session).ok
        assert session.scalar(select(func.count()).select_from(Evidence)) == 1
        # the dead letter keeps the payload as received
        assert session.scalars(select(DeadLetter)).all()[-1].payload == ghost.to_json()


def test_revoked_device_and_key_registry(
    processor: Processor, sessions: Sessions, device_key: DeviceKey, item: Item
) -> None:
    with sessions() as session:
        revoke_device(session, "uav-1")
        session.commit()
    msg, media = item(device_key, 1)
    assert run(processor, sessions, wire(msg, media)) == ["dead_letter", "dead_letter"]
    assert dead_reasons(sessions)[-1].startswith("revoked_device:")
    with sessions() as session:
        with pytest.raises(DeviceError, match="already enrolled"):
            register_device(session, "uav-1", DeviceKey.generate().public_key_bytes())
        register_device(session, "uav-1", device_key.public_key_bytes())  # re-activates
        session.commit()
        # A small-order key would let anyone forge its signatures: refused, with the reason.
        with pytest.raises(DeviceError, match="uav-9: public key is not a usable Ed25519"):
            register_device(session, "uav-9", bytes([1]) + bytes(31))
    assert run(processor, sessions, wire(msg, media)) == ["media", "stored"]
    with sessions() as session:
        assert session.get(Device, "uav-1") is not None


def test_media_store_content_addressed(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    data = b"\xff\xd8\xffhello"
    sha = hashlib.sha256(data).hexdigest()
    first = store.put(data, expected_sha256=sha)
    assert first.new and first.path == tmp_path / sha[:2] / sha  # one fan-out level
    assert not store.put(data).new
    store.sync()
    assert store.verify(sha)
    first.path.write_bytes(b"changed")
    assert not store.verify(sha)


def test_media_store_of_an_earlier_version_keeps_its_two_levels(tmp_path: Path) -> None:
    """A store made before the layout file existed has its blobs under ab/cd/: they are
    found, new blobs go there too, and the layout is recorded; a new store is flat."""
    old_blob = b"\xff\xd8\xffold"
    old_sha = hashlib.sha256(old_blob).hexdigest()
    legacy = tmp_path / "legacy"
    (legacy / old_sha[:2] / old_sha[2:4]).mkdir(parents=True)
    (legacy / old_sha[:2] / old_sha[2:4] / old_sha).write_bytes(old_blob)

    store = MediaStore(legacy)
    assert store.layout == NESTED and (legacy / LAYOUT_FILE).read_text().strip() == NESTED
    assert store.has(old_sha) and store.read(old_sha) == old_blob and store.verify(old_sha)
    assert not store.put(old_blob).new
    new_blob = b"\xff\xd8\xffnew"
    new_sha = hashlib.sha256(new_blob).hexdigest()
    stored = store.put(new_blob)
    assert stored.path == legacy / new_sha[:2] / new_sha[2:4] / new_sha
    assert store.row(stored, "image/jpeg")["path"] == f"{new_sha[:2]}/{new_sha[2:4]}/{new_sha}"
    assert MediaStore(legacy).layout == NESTED  # reopened: the recorded layout holds

    fresh = MediaStore(tmp_path / "fresh")
    assert fresh.layout == FLAT
    assert fresh.put(new_blob).path == tmp_path / "fresh" / new_sha[:2] / new_sha
    assert fresh.relative_path(new_sha) == Path(new_sha[:2]) / new_sha


def test_media_store_refuses_an_unknown_layout(tmp_path: Path) -> None:
    (tmp_path / LAYOUT_FILE).write_text("ab/cd/ef/sha256\n")
    with pytest.raises(MediaError, match=r"\.layout says 'ab/cd/ef/sha256'"):
        MediaStore(tmp_path)


def test_media_store_shared_by_two_workers(tmp_path: Path) -> None:
    """A second store on the same root (another worker) finds the blobs and folders made by the
    first: it does not call an existing blob new, and stores the next one in an existing folder."""
    first, second = MediaStore(tmp_path), MediaStore(tmp_path)
    data = b"\xff\xd8\xffshared"
    sha = hashlib.sha256(data).hexdigest()
    assert first.put(data).new
    assert not second.put(data).new  # its folder exists, made by the other store
    (tmp_path / sha[:2] / sha).unlink()  # gone (e.g. removed by hand): stored again
    assert second.put(data).new and second.verify(sha) and first.has(sha)
    assert not list(tmp_path.rglob("*.tmp"))  # no temporary file left behind


def _state(sessions: Sessions) -> dict[str, object]:
    with sessions() as session:
        links = session.execute(
            select(CaseEvidence.evidence_id, Case.number).join(Case).order_by(Case.number)
        ).all()
        entries = session.execute(
            select(audit.AuditEntry.action, audit.AuditEntry.subject, audit.AuditEntry.payload)
        ).all()
        assert audit.verify(session).ok
        return {
            "links": sorted(tuple(x) for x in links),
            "dead": dead_reasons(sessions),
            "entries": sorted(tuple(e) for e in entries),
        }


def test_batch_fast_path_matches_the_careful_path(
    tmp_path: Path, sessions: Sessions, device_key: DeviceKey, item: Item
) -> None:
    """One batch, stored set-based, ends as the message-by-message path would end it."""
    other_url = f"sqlite:///{tmp_path / 'careful.db'}"
    upgrade(other_url)
    engine = make_engine(other_url)
    careful_sessions = session_factory(engine)
    with careful_sessions() as session:
        register_device(session, "uav-1", device_key.public_key_bytes())
        session.commit()

    first, first_media = item(device_key, 1)
    items = [item(device_key, seq) for seq in range(2, 8)]
    replay, _ = item(device_key, 3, id_prefix="other")  # a new id on a used sequence
    altered = items[0][0].model_copy(update={"id": "ev-y", "sequence": 40})
    late, _ = item(device_key, 9)  # its media never came
    batch = [m for msg, media in items for m in wire(msg, media)]
    batch += wire(*items[1])[1:]  # the same evidence twice in one batch
    batch += wire(replay, {}) + wire(altered, {}) + wire(late, {})
    batch += wire(first, first_media)  # stored by an earlier batch
    messages = [(t, p, False) for t, p in batch]

    results = {}
    for name, factory, careful in (
        ("fast", sessions, False),
        ("careful", careful_sessions, True),
    ):
        processor = Processor(MediaStore(tmp_path / f"media-{name}"), IngestMetrics())
        with factory() as session:
            processor.process_batch(session, [(t, p, False) for t, p in wire(first, first_media)])
            session.commit()
        updates: list[str] = []

        def watch(_conn: object, _cursor: object, sql: str, *_rest: object) -> None:
            if "audit_state" in sql:
                updates.append(sql)  # noqa: B023 - used within this iteration only

        with factory() as session, audit.AuditWriter(session) as writer:
            bind = session.get_bind()
            event.listen(bind, "before_cursor_execute", watch)
            try:
                out = processor.process_batch(session, messages, careful=careful, writer=writer)
                session.commit()
            finally:
                event.remove(bind, "before_cursor_execute", watch)
        results[name] = ([o.status for o in out], _state(factory), updates)
    engine.dispose()

    statuses, state, updates = results["fast"]
    assert statuses == ["media", "stored"] * 6 + [
        "duplicate", "dead_letter", "dead_letter", "waiting", "media", "duplicate",
    ]  # fmt: skip
    assert (statuses, state) == results["careful"][:2]
    dead = state["dead"]
    assert isinstance(dead, list)
    assert [r.split(":")[0] for r in dead] == ["replayed_sequence", "bad_signature"]
    # The fast path wrote the audit log with one lock and one tree-state update.
    assert len(updates) == 2


def test_media_store_temporary_names_are_per_process_after_fork(tmp_path: Path) -> None:
    """A store inherited by a forked worker names its temporary files with the child's
    process id, so two processes writing the same new blob never share a temporary file."""
    store = MediaStore(tmp_path)
    store.put(b"\xff\xd8\xffparent")  # the store is in use before the fork
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report the temporary name it would use, then leave at once
        try:
            seen: list[str] = []
            real_replace = os.replace

            def spy(src: str, dst: str) -> None:
                seen.append(os.path.basename(src))
                real_replace(src, dst)

            os.replace = spy  # type: ignore[assignment]
            ok = store.put(b"\xff\xd8\xffchild").new and store.verify(
                hashlib.sha256(b"\xff\xd8\xffchild").hexdigest()
            )
            os.write(write_end, f"{ok} {os.getpid()} {seen[0]}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as fh:
        reported, child_pid, name = fh.read().split()
    os.waitpid(pid, 0)
    assert reported == "True"
    assert f".{child_pid}." in name and f".{os.getpid()}." not in name
    assert not list(tmp_path.rglob("*.tmp"))


def test_evidence_that_misstates_its_media_size_is_refused(
    processor: Processor,
    sessions: Sessions,
    device_key: DeviceKey,
    evidence: Callable[..., EvidenceMessage],
) -> None:
    """The blob is the one its digest names, but the signed evidence gives another size:
    refused as media_mismatch whether the blob came in the same batch or an earlier one."""
    blob = b"\xff\xd8\xff" + b"frame" * 40
    sha = hashlib.sha256(blob).hexdigest()
    media_topic = topic_for("site-1", "uav-1", "media", sha256=sha)
    evidence_topic = topic_for("site-1", "uav-1", "evidence")

    def claiming(seq: int, size: int) -> bytes:
        ref = MediaRef(sha256=sha, size_bytes=size)
        return device_key.sign(evidence(id=f"ev-size-{seq}", sequence=seq, media=(ref,))).to_json()

    same_batch = [(media_topic, blob), (evidence_topic, claiming(1, len(blob) + 1))]
    assert run(processor, sessions, same_batch) == ["media", "dead_letter"]
    assert run(processor, sessions, [(evidence_topic, claiming(2, len(blob) - 1))]) == [
        "dead_letter"
    ]
    assert [r.split(":", 1)[0] for r in dead_reasons(sessions)] == ["media_mismatch"] * 2
    assert f"has {len(blob)} bytes, the evidence says {len(blob) - 1}" in dead_reasons(sessions)[1]
    assert run(processor, sessions, [(evidence_topic, claiming(3, len(blob)))]) == ["stored"]
