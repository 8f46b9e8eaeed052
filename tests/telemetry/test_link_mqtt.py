"""The MQTT bridge against the machine's real Mosquitto: throttled QoS 0 telemetry, QoS 1
events, and the retained status with its last will."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from test_link_peer import FakeAutopilot, PeerScript

from telemetry.contract import EventMessage, StatusMessage, TelemetryMessage
from telemetry.errors import ConnectionFailedError
from telemetry.link import Vehicle
from telemetry.mqtt_bridge import MqttBridge

BROKER = ("127.0.0.1", 1883)


class Collector:
    """A plain MQTT subscriber recording (topic, payload, qos, retain)."""

    def __init__(self, pattern: str) -> None:
        self.messages: list[tuple[str, bytes, int, bool]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"c-{uuid.uuid4()}")
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, m.payload, m.qos, bool(m.retain))
        )
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.connect(*BROKER)
        self.client.subscribe(pattern, qos=1)
        self.client.loop_start()
        assert self.ready.wait(5)

    def of(self, kind: str) -> list[tuple[str, bytes, int, bool]]:
        # Empty payloads are our own clean-up of retained messages (see clear_retained).
        return [m for m in self.messages if m[0].endswith("/" + kind) and m[1]]

    def clear_retained(self) -> None:
        """Leave no retained status behind on the shared broker."""
        for topic in {m[0] for m in self.messages if m[3] or m[0].endswith("/status")}:
            self.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(2)

    def close(self) -> None:
        self.clear_retained()
        self.client.loop_stop()
        self.client.disconnect()


async def test_bridge_publishes_telemetry_events_and_status() -> None:
    site = f"site-{uuid.uuid4().hex[:8]}"
    collector = Collector(f"fieldpatrol/v1/{site}/#")
    try:
        with FakeAutopilot(PeerScript()) as peer:
            async with Vehicle.connect(peer.url, timeout=5) as v:
                bridge = MqttBridge(
                    v,
                    site_id=site,
                    vehicle_id="uav-1",
                    host=BROKER[0],
                    port=BROKER[1],
                    sortie_id="s-1",
                    telemetry_hz=4.0,
                )
                async with bridge:
                    await v.action.set_mode("GUIDED")
                    await asyncio.sleep(1.2)
                await asyncio.sleep(0.3)
        telemetry = [TelemetryMessage.model_validate_json(m[1]) for m in collector.of("telemetry")]
        # The peer sends 10 positions a second; the bridge keeps about 4 of them.
        assert 2 <= len(telemetry) <= 7
        first = telemetry[0]
        assert (first.lat, first.lon, first.alt_amsl_m) == pytest.approx((41.8057, 123.4315, 42.0))
        assert first.ground_speed_m_s == pytest.approx(5.0)
        assert telemetry[-1].battery_pct == 87  # from SYS_STATUS, joined to the position
        assert all(m[2] == 0 for m in collector.of("telemetry"))
        events = [(EventMessage.model_validate_json(m[1]), m[2]) for m in collector.of("event")]
        modes = [e for e, _ in events if e.kind == "mode_changed"]
        assert modes and modes[0].detail["new_mode"] == "GUIDED" and modes[0].sortie_id == "s-1"
        assert all(qos == 1 for _, qos in events)
        statuses = [StatusMessage.model_validate_json(m[1]) for m in collector.of("status")]
        assert [s.online for s in statuses] == [True, False]
    finally:
        collector.close()


async def test_last_will_marks_vehicle_offline_when_bridge_dies() -> None:
    site = f"site-{uuid.uuid4().hex[:8]}"
    with FakeAutopilot(PeerScript()) as peer:
        async with Vehicle.connect(peer.url, timeout=5) as v:
            bridge = MqttBridge(
                v,
                site_id=site,
                vehicle_id="uav-2",
                host=BROKER[0],
                port=BROKER[1],
                client_id=f"will-{site}",
            )
            await bridge.start()
            client: Any = bridge._client
            client.loop_stop()  # the process "dies": no DISCONNECT is ever sent
            sock = client.socket()
            sock.close()
            await asyncio.sleep(0.5)
            for task in bridge._tasks:
                task.cancel()
    # A new subscriber gets the retained status: the broker published our will.
    collector = Collector(f"fieldpatrol/v1/{site}/uav-2/status")
    try:
        for _ in range(50):
            if collector.messages:
                break
            await asyncio.sleep(0.05)
        _topic, payload, _qos, retained = collector.messages[-1]
        status = StatusMessage.model_validate_json(payload)
        assert retained and not status.online
    finally:
        collector.close()


async def test_unreachable_broker_is_a_clear_error() -> None:
    with FakeAutopilot(PeerScript()) as peer:
        async with Vehicle.connect(peer.url, timeout=5) as v:
            with pytest.raises(ConnectionFailedError, match=r"127\.0\.0\.1:1\b"):
                await MqttBridge(v, site_id="s", vehicle_id="v", host="127.0.0.1", port=1).start()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mosquitto(port: int, tmp: Any) -> Any:
    import subprocess
    import time

    conf = tmp / f"mosquitto-{port}.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        ["/usr/sbin/mosquitto", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import socket

    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("mosquitto did not start")


async def test_bridge_comes_back_after_broker_restart(tmp_path: Any) -> None:
    port = _free_port()
    broker = _mosquitto(port, tmp_path)
    try:
        with FakeAutopilot(PeerScript()) as peer:
            async with Vehicle.connect(peer.url, timeout=5) as v:
                bridge = MqttBridge(
                    v,
                    site_id="restart",
                    vehicle_id="uav-1",
                    host="127.0.0.1",
                    port=port,
                    telemetry_hz=10.0,
                )
                async with bridge:
                    await asyncio.sleep(0.3)
                    before = bridge.published["status"]
                    broker.terminate()
                    broker.wait(5)
                    broker = _mosquitto(port, tmp_path)
                    # paho reconnects by itself; we announce "online" again on reconnect.
                    for _ in range(100):
                        if bridge.published["status"] > before:
                            break
                        await asyncio.sleep(0.05)
                    assert bridge.published["status"] > before
                    got: list[tuple[str, bytes]] = []
                    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
                    sub.on_message = lambda c, u, m: got.append((m.topic, m.payload))
                    sub.connect("127.0.0.1", port)
                    sub.subscribe("fieldpatrol/v1/restart/uav-1/#")
                    sub.loop_start()
                    await asyncio.sleep(0.6)
                    sub.loop_stop()
                    sub.disconnect()
        statuses = [StatusMessage.model_validate_json(p) for t, p in got if t.endswith("/status")]
        telemetry = [p for t, p in got if t.endswith("/telemetry")]
        assert statuses and statuses[-1].online  # the retained status says online again
        assert len(telemetry) >= 2  # and telemetry flows again
    finally:
        broker.kill()
        broker.wait(5)
