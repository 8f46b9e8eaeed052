"""Media files are durable before the rows that point to them are committed.

Real Mosquitto, a real ingest worker, a real SQLite file and media store. A power cut must
never leave a committed ``media`` row whose file is gone: every blob the ingest wrote, or
found on disk (another ingest process may have written it without syncing yet), must be
followed by a filesystem sync before the next commit. The ingest syncs once per batch,
before it takes the write lock; a second sync inside the lock is only for what the
transaction itself put. The test watches the store's calls and the engine's commits (an
observer, not a stand-in: every call goes through).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from gateway.ingest import IngestWorker
from gateway.ingest.broker import MosquittoProcess
from gateway.media import MediaStore
from telemetry.contract import EvidenceMessage, topic_for
from telemetry.mqtt_session import persistent_client
from telemetry.signing import DeviceKey
from tests.evidence.conftest import evidence_count, start_client, stop_clients, wait_for

Pair = tuple[EvidenceMessage, dict[str, bytes]]
Item = Callable[..., Pair]
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
    client = persistent_client("durability-pub", 5)
    start_client(broker, client)
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        stop_clients(client)


def wire(items: list[Pair]) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for msg, media in items:
        out += [(topic_for("site-1", "uav-1", "media", sha256=s), b) for s, b in media.items()]
        out.append((topic_for("site-1", "uav-1", "evidence"), msg.to_json()))
    return out


def ingest_in_rounds(
    broker: MosquittoProcess, sessions: Sessions, media_dir: Path, rounds: list[list[Pair]]
) -> list[list[tuple[str, str]]]:
    """Run a watched worker; publish each round once the previous one is stored. Returns
    the events of each round."""
    worker = IngestWorker("127.0.0.1", broker.port, sessions, media_dir, "durability")
    events = watch(worker)
    per_round: list[list[tuple[str, str]]] = []
    stored = 0
    worker.start()
    try:
        for items in rounds:
            publish(broker, wire(items))
            stored += len(items)
            assert wait_for(lambda n=stored: evidence_count(sessions) == n, 30), (
                f"{stored} evidence items were not stored within 30 s"
            )
            per_round.append(list(events))
            events.clear()
    finally:
        worker.stop()
    return per_round


def test_every_blob_is_synced_before_its_rows_commit_with_one_sync_per_batch(
    broker: MosquittoProcess,
    sessions: Sessions,
    device_key: DeviceKey,
    item: Item,
    tmp_path: Path,
) -> None:
    items = [item(device_key, seq) for seq in range(1, 41)]
    [events] = ingest_in_rounds(broker, sessions, tmp_path / "media", [items])
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
    # The worker writes only for vehicles it has seen enrolled: let it see uav-1 first.
    warm = item(device_key, 2)
    _, events = ingest_in_rounds(broker, sessions, tmp_path / "media", [[warm], [(msg, media)]])
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
