"""Media files are durable before the rows that point to them are committed.

Real Mosquitto, a real ingest worker, a real SQLite file and media store. A power cut must
never leave a committed ``media`` row whose file is gone: every blob the ingest wrote, or
found on disk (another ingest process may have written it without syncing yet), must be
followed by a filesystem sync before the next commit. The ingest syncs once per batch,
before it takes the write lock; a second sync inside the lock is only for what the
transaction itself put. The test watches the store's calls and the engine's commits (an
observer, not a stand-in: every call goes through).
"""

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from cases.models import Evidence
from gateway.ingest import IngestWorker
from gateway.ingest.broker import MosquittoProcess
from gateway.media import MediaStore
from telemetry.contract import EvidenceMessage, topic_for
from telemetry.mqtt_session import connect_persistent, persistent_client
from telemetry.signing import DeviceKey

Item = Callable[..., tuple[EvidenceMessage, dict[str, bytes]]]
Sessions = sessionmaker[Session]


def watch(worker: IngestWorker) -> list[tuple[str, str]]:
    """The order of the worker's blob puts, filesystem syncs and database commits."""
    events: list[tuple[str, str]] = []
    store = worker.media
    put, sync = store.put, store.sync

    def watched_put(data: bytes, expected_sha256: str | None = None) -> Any:
        stored = put(data, expected_sha256)
        events.append(("put", "new" if stored.new else "found"))
        return stored

    def watched_sync() -> None:
        sync()
        events.append(("sync", ""))

    store.put = watched_put  # type: ignore[method-assign]
    store.sync = watched_sync  # type: ignore[method-assign]
    engine = worker._own_engine  # the worker's own engine on the SQLite file
    assert engine is not None
    event.listen(engine, "commit", lambda _conn: events.append(("commit", "")))
    return events


def unsynced_puts_at_commits(events: list[tuple[str, str]]) -> list[int]:
    """Indexes of commits that came after a put with no sync in between."""
    bad: list[int] = []
    pending = False
    for index, (kind, _detail) in enumerate(events):
        if kind == "put":
            pending = True
        elif kind == "sync":
            pending = False
        elif kind == "commit" and pending:
            bad.append(index)
    return bad


def publish(broker: MosquittoProcess, messages: list[tuple[str, bytes]]) -> None:
    ready = threading.Event()
    client = persistent_client("durability-pub", 5)
    client.on_connect = lambda *_a: ready.set()
    connect_persistent(
        client, "127.0.0.1", broker.port, mqtt_version=5, keepalive_s=15, session_expiry_s=60
    )
    client.loop_start()
    try:
        assert ready.wait(10), "the broker did not answer"
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def wait_stored(sessions: Sessions, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as session:
            if session.scalar(select(func.count()).select_from(Evidence)) == n:
                return
        time.sleep(0.05)
    raise AssertionError(f"{n} evidence items were not stored within {timeout} s")


def wire(items: list[tuple[EvidenceMessage, dict[str, bytes]]]) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for msg, media in items:
        out += [(topic_for("site-1", "uav-1", "media", sha256=s), b) for s, b in media.items()]
        out.append((topic_for("site-1", "uav-1", "evidence"), msg.to_json()))
    return out


def test_every_blob_is_synced_before_its_rows_commit_with_one_sync_per_batch(
    broker: MosquittoProcess,
    sessions: Sessions,
    device_key: DeviceKey,
    item: Item,
    tmp_path: Path,
) -> None:
    items = [item(device_key, seq) for seq in range(1, 41)]
    worker = IngestWorker("127.0.0.1", broker.port, sessions, tmp_path / "media", "dur-1")
    events = watch(worker)
    worker.start()
    try:
        publish(broker, wire(items))
        wait_stored(sessions, len(items))
    finally:
        worker.stop()
    puts = [e for e in events if e[0] == "put"]
    commits = [e for e in events if e[0] == "commit"]
    syncs = [e for e in events if e[0] == "sync"]
    assert len(puts) == len(items) and commits
    assert unsynced_puts_at_commits(events) == [], events
    # The precheck's files are synced before the write lock; nothing is left to sync inside.
    assert len(syncs) <= len(commits), events


def test_a_blob_found_on_disk_unsynced_is_synced_before_its_row_commits(
    broker: MosquittoProcess,
    sessions: Sessions,
    device_key: DeviceKey,
    item: Item,
    tmp_path: Path,
) -> None:
    """Another ingest process wrote the blob and has not synced it yet (it may crash now):
    this worker finds the file, and must sync before it commits a row pointing to it."""
    msg, media = item(device_key, 1)
    other = MediaStore(tmp_path / "media")
    for blob in media.values():
        assert other.put(blob).new  # written, never synced by its writer
    worker = IngestWorker("127.0.0.1", broker.port, sessions, tmp_path / "media", "dur-2")
    events = watch(worker)
    # The worker writes only for vehicles it has seen enrolled: let it see uav-1 first.
    warm, warm_media = item(device_key, 2)
    worker.start()
    try:
        publish(broker, wire([(warm, warm_media)]))
        wait_stored(sessions, 1)
        events.clear()
        publish(broker, wire([(msg, media)]))
        wait_stored(sessions, 2)
    finally:
        worker.stop()
    assert ("put", "found") in events, events
    found = events.index(("put", "found"))
    assert ("sync", "") in events[found:], events
    assert unsynced_puts_at_commits(events) == [], events


def test_put_counts_a_found_blob_as_not_yet_durable(tmp_path: Path) -> None:
    writer, reader = MediaStore(tmp_path), MediaStore(tmp_path)
    writer.put(b"\xff\xd8\xffsame")
    assert reader.unsynced == 0
    assert not reader.put(b"\xff\xd8\xffsame").new
    assert reader.unsynced == 1  # its next sync() covers the writer's file
    reader.sync()
    assert reader.unsynced == 0
