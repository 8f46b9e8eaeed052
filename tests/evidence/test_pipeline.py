"""Vehicle outbox → real Mosquitto → ingest worker → case record, in one process."""

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cases import audit
from cases.models import DeadLetter, Evidence
from gateway.ingest import IngestWorker
from gateway.ingest.broker import MosquittoProcess
from gateway.media import MediaStore
from telemetry.contract import EvidenceMessage
from telemetry.outbox import Outbox
from telemetry.publisher import EvidencePublisher
from telemetry.signing import DeviceKey
from tests.evidence.conftest import evidence_count, wait_for

Item = Callable[..., tuple[EvidenceMessage, dict[str, bytes]]]
Sessions = sessionmaker[Session]


@pytest.mark.slow
def test_items_reach_the_case_record_exactly_once(
    tmp_path: Path, broker: MosquittoProcess, sessions: Sessions, device_key: DeviceKey, item: Item
) -> None:
    events: list[str] = []
    ingest = IngestWorker("127.0.0.1", broker.port, sessions, tmp_path / "media", "gw-test")
    ingest.start(timeout=10)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    pub = EvidencePublisher(
        outbox, "127.0.0.1", broker.port, "uav-1", site_id="site-1", vehicle_id="uav-1",
        on_event=lambda kind, detail: events.append(kind),
    )  # fmt: skip
    pub.start()
    try:
        items = [item(device_key, seq) for seq in range(60)]
        for msg, media in items:
            pub.submit(msg, media)
        pub.flush(timeout=20)
        assert outbox.count() == 0
        assert wait_for(lambda: evidence_count(sessions) == 60, 30)
    finally:
        pub.stop()
        ingest.stop()
        outbox.close()
    assert "connected" in events
    store = MediaStore(tmp_path / "media")
    with sessions() as session:
        ids = set(session.scalars(select(Evidence.id)))
        assert ids == {m.id for m, _ in items}
        assert session.scalar(select(func.count()).select_from(DeadLetter)) == 0
        assert audit.verify(session).ok
    assert all(store.verify(sha) for _, media in items for sha in media)
    assert ingest.metrics.counts["stored"] == 60


def test_outbox_waits_for_broker_and_backlog_warning(
    tmp_path: Path, broker: MosquittoProcess, sessions: Sessions, device_key: DeviceKey, item: Item
) -> None:
    broker.stop()
    events: list[tuple[str, dict[str, object]]] = []
    outbox = Outbox(tmp_path / "outbox.sqlite")
    pub = EvidencePublisher(
        outbox, "127.0.0.1", broker.port, "uav-1", backlog_warning=5,
        on_event=lambda kind, detail: events.append((kind, detail)),
    )  # fmt: skip
    pub.start()
    ingest = IngestWorker("127.0.0.1", broker.port, sessions, tmp_path / "media", "gw-test")
    try:
        for seq in range(10):
            pub.submit(*item(device_key, seq))
        assert wait_for(lambda: any(k == "backlog" for k, _ in events), 5)
        time.sleep(1.0)
        assert outbox.count() == 20  # nothing lost or dropped while the broker is away
        broker.start()
        ingest.start(timeout=15)
        pub.flush(timeout=20)
        assert wait_for(lambda: evidence_count(sessions) == 10, 20)
    finally:
        pub.stop()
        ingest.stop()
        outbox.close()


def test_evidence_before_its_media_waits_bounded(
    tmp_path: Path, broker: MosquittoProcess, sessions: Sessions, device_key: DeviceKey, item: Item
) -> None:
    """Media late: the evidence waits (unacknowledged) and goes in; media never: dead letter."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from telemetry.contract import topic_for

    ingest = IngestWorker(
        "127.0.0.1", broker.port, sessions, tmp_path / "media", "gw-wait", media_wait_s=2.0
    )
    ingest.start(timeout=10)
    raw = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    raw.connect("127.0.0.1", broker.port)
    raw.loop_start()
    try:
        late, late_media = item(device_key, 1)
        never, _ = item(device_key, 2)
        for msg in (late, never):
            raw.publish(topic_for("site-1", "uav-1", "evidence"), msg.to_json(), qos=1)
        time.sleep(0.8)
        assert evidence_count(sessions) == 0
        for sha, blob in late_media.items():
            raw.publish(topic_for("site-1", "uav-1", "media", sha256=sha), blob, qos=1)
        assert wait_for(lambda: evidence_count(sessions) == 1, 10)

        def dead() -> list[str]:
            with sessions() as session:
                return list(session.scalars(select(DeadLetter.reason)))

        assert wait_for(lambda: len(dead()) == 1, 10)
        assert dead()[0].startswith("media_missing:") and never.id in dead()[0]
    finally:
        raw.disconnect()
        raw.loop_stop()
        ingest.stop()
    assert ingest.backlog == 0


def test_mqtt_311_brokers_work_too(
    tmp_path: Path, broker: MosquittoProcess, sessions: Sessions, device_key: DeviceKey, item: Item
) -> None:
    """The embedded fallback broker of `patrol demo` speaks only MQTT 3.1.1."""
    ingest = IngestWorker(
        "127.0.0.1", broker.port, sessions, tmp_path / "media", "gw-v4", mqtt_version=4
    )
    ingest.start(timeout=10)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    pub = EvidencePublisher(outbox, "127.0.0.1", broker.port, "uav-1-v4", mqtt_version=4)
    pub.start()
    try:
        pub.submit_many([item(device_key, seq) for seq in range(5)])
        pub.flush(timeout=20)
        assert wait_for(lambda: evidence_count(sessions) == 5, 20)
    finally:
        pub.stop()
        ingest.stop()
        outbox.close()


def test_nothing_is_dropped_when_no_ingest_is_subscribed_yet(
    tmp_path: Path, broker: MosquittoProcess, sessions: Sessions, device_key: DeviceKey, item: Item
) -> None:
    """The broker drops messages nobody subscribed to: the outbox keeps them until someone is."""
    events: list[str] = []
    outbox = Outbox(tmp_path / "outbox.sqlite")
    pub = EvidencePublisher(
        outbox, "127.0.0.1", broker.port, "uav-1", retry_after_s=0.5,
        on_event=lambda kind, detail: events.append(kind),
    )  # fmt: skip
    pub.start()
    ingest = IngestWorker("127.0.0.1", broker.port, sessions, tmp_path / "media", "gw-late")
    try:
        pub.submit_many([item(device_key, seq) for seq in range(3)])
        assert wait_for(lambda: "no_subscribers" in events, 10)
        assert outbox.count() == 6
        ingest.start(timeout=10)
        pub.flush(timeout=20)
        assert wait_for(lambda: evidence_count(sessions) == 3, 20)
    finally:
        pub.stop()
        ingest.stop()
        outbox.close()


@pytest.mark.parametrize("mqtt_version", [5, 4])
def test_committed_messages_are_acknowledged(
    tmp_path: Path,
    broker: MosquittoProcess,
    sessions: Sessions,
    device_key: DeviceKey,
    item: Item,
    mqtt_version: int,
) -> None:
    """Each committed message is acknowledged (a batch's PUBACKs go out as one write): the
    broker keeps nothing for the session, so a worker restarted on it receives nothing."""
    client_id = f"gw-acks-{mqtt_version}"
    media_dir = tmp_path / "media"
    ingest = IngestWorker(
        "127.0.0.1", broker.port, sessions, media_dir, client_id, mqtt_version=mqtt_version
    )
    ingest.start(timeout=10)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    pub = EvidencePublisher(outbox, "127.0.0.1", broker.port, "uav-1", mqtt_version=mqtt_version)
    pub.start()
    try:
        pub.submit_many([item(device_key, seq) for seq in range(40)])
        pub.flush(timeout=20)
        assert wait_for(lambda: evidence_count(sessions) == 40 and ingest.backlog == 0, 20)
    finally:
        pub.stop()
        ingest.stop()
        outbox.close()
    assert ingest.metrics.counts["batch_messages"] == 80
    again = IngestWorker(
        "127.0.0.1", broker.port, sessions, media_dir, client_id, mqtt_version=mqtt_version
    )
    again.start(timeout=10)
    try:
        time.sleep(1.5)  # an unacknowledged message is sent again right after the connect
    finally:
        again.stop()
    assert again.metrics.counts.get("batch_messages", 0) == 0
    assert evidence_count(sessions) == 40
