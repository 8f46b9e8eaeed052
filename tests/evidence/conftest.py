"""Shared helpers for the evidence-pipeline tests: message factories, MQTT clients, waits."""

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cases.db import make_engine, session_factory, upgrade
from cases.models import Evidence
from gateway.devices import register_device
from gateway.ingest import IngestMetrics, Processor
from gateway.ingest.broker import MosquittoProcess, free_port, write_plain_config
from gateway.media import MediaStore
from telemetry.contract import CameraPose, Detection, EvidenceMessage, MediaRef
from telemetry.mqtt_session import connect_persistent
from telemetry.signing import DeviceKey

T0 = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)


def make_evidence(**over: object) -> EvidenceMessage:
    pose = CameraPose(
        time=T0, lat=30.25, lon=120.15, alt_agl_m=50.0, alt_amsl_m=62.5,
        roll_deg=1.5, pitch_deg=-2.0, yaw_deg=90.0,
    )  # fmt: skip
    det = Detection(
        class_name="waste_dumping",
        confidence=0.87,
        box_px=(10, 20, 110, 220),
        footprint_geojson={
            "type": "Polygon",
            "coordinates": [
                [[120.15, 30.25], [120.1501, 30.25], [120.1501, 30.2501], [120.15, 30.25]]
            ],
        },
    )
    fields: dict[str, object] = dict(
        id="0b7e6f1c-3a0e-4a55-9a8e-1f1f4f8a2d10", sequence=7, site_id="site-1",
        vehicle_id="uav-1", mission_id="m-1", sortie_id="s-1", time=T0, lat=30.25,
        lon=120.15, alt_agl_m=50.0, alt_amsl_m=62.5, pose=pose, detection=det,
        media=(MediaRef(sha256="ab" * 32, size_bytes=1234),),
    )  # fmt: skip
    fields.update(over)
    return EvidenceMessage.model_validate(fields)


@pytest.fixture
def processor(tmp_path: Path) -> Processor:
    """The ingest's logic (no MQTT) with a media store under ``tmp_path``."""
    return Processor(MediaStore(tmp_path / "media"), IngestMetrics())


@pytest.fixture
def evidence() -> Callable[..., EvidenceMessage]:
    """A factory of valid, unsigned evidence messages; keyword arguments override fields."""
    return make_evidence


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite case database at head."""
    url = f"sqlite:///{tmp_path / 'fieldpatrol.db'}"
    upgrade(url)
    return url


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the fresh case database."""
    engine = make_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """Our own Mosquitto on a free port (persistent, anonymous, localhost only)."""
    port = free_port()
    proc = MosquittoProcess(write_plain_config(tmp_path / "broker", port), port)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def device_key(sessions: sessionmaker[Session]) -> DeviceKey:
    """A key of vehicle ``uav-1``, enrolled at the gateway."""
    key = DeviceKey.generate()
    with sessions() as session:
        register_device(session, "uav-1", key.public_key_bytes())
        session.commit()
    return key


def signed_item(
    key: DeviceKey, seq: int, *, vehicle_id: str = "uav-1", site_id: str = "site-1",
    blob: bytes | None = None, id_prefix: str = "ev",
) -> tuple[EvidenceMessage, dict[str, bytes]]:  # fmt: skip
    """A signed evidence item ``{id_prefix}-{vehicle}-{seq}`` with one small JPEG-like blob."""
    blob = blob if blob is not None else b"\xff\xd8\xff" + f"{vehicle_id}-{seq}".encode() * 8
    sha = hashlib.sha256(blob).hexdigest()
    msg = make_evidence(
        id=f"{id_prefix}-{vehicle_id}-{seq}",
        sequence=seq,
        vehicle_id=vehicle_id,
        site_id=site_id,
        # spread over ~1 km so that items open different cases, as real sightings would
        lat=30.25 + (seq % 97) * 0.0001,
        media=(MediaRef(sha256=sha, size_bytes=len(blob)),),
    )
    return key.sign(msg), {sha: blob}


@pytest.fixture
def item() -> Callable[..., tuple[EvidenceMessage, dict[str, bytes]]]:
    """Factory of signed evidence items with media (see :func:`signed_item`)."""
    return signed_item


def start_client(broker: MosquittoProcess, client: mqtt.Client, topic: str | None = None) -> None:
    """Connect ``client`` (MQTT 5, persistent session) and wait for the broker's answer;
    with ``topic``, subscribe to it at QoS 1 and wait for the subscription too."""
    ready = threading.Event()
    if topic is None:
        client.on_connect = lambda *_a: ready.set()
    else:
        client.on_subscribe = lambda *_a: ready.set()
        client.on_connect = lambda c, *_a: c.subscribe([(topic, SubscribeOptions(qos=1))])
    connect_persistent(
        client, "127.0.0.1", broker.port, mqtt_version=5, keepalive_s=15, session_expiry_s=60
    )
    client.loop_start()
    assert ready.wait(10), "the broker did not answer"


def stop_clients(*clients: mqtt.Client) -> None:
    """Disconnect and stop the network threads of ``clients``."""
    for client in clients:
        client.disconnect()
        client.loop_stop()


def wait_for(cond: Callable[[], bool], timeout: float) -> bool:
    """Poll ``cond`` every 50 ms for up to ``timeout`` seconds; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def evidence_count(sessions: sessionmaker[Session]) -> int:
    """Evidence rows in the case record."""
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Evidence)) or 0)
