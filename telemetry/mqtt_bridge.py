"""Vehicle state onto MQTT: telemetry samples (QoS 0, throttled), events (QoS 1) and a
retained online/offline status whose offline form is the MQTT last will.

Topics and payloads are those of ``telemetry.contract`` (``fieldpatrol/v1/{site}/{vehicle}/
telemetry|event|status``). The bridge only reads the vehicle; it never commands it.

    async with Vehicle.connect(url) as v, MqttBridge(v, site_id="hunhe", vehicle_id="uav-1",
                                                      host="127.0.0.1") as bridge:
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from telemetry.contract import EventMessage, StatusMessage, TelemetryMessage, topic_for
from telemetry.errors import ConnectionFailedError, LinkConfigError

if TYPE_CHECKING:
    from telemetry.link.vehicle import Vehicle

SOFTWARE = "fieldpatrol-link"


class MqttBridge:
    """Publish one vehicle's telemetry, events and status to an MQTT broker."""

    def __init__(
        self,
        vehicle: Vehicle,
        *,
        site_id: str,
        vehicle_id: str,
        host: str = "127.0.0.1",
        port: int = 1883,
        sortie_id: str | None = None,
        telemetry_hz: float = 2.0,
        client_id: str | None = None,
        keepalive_s: int = 10,
        connect_timeout_s: float = 5.0,
    ) -> None:
        if telemetry_hz <= 0:
            raise LinkConfigError(f"telemetry_hz: {telemetry_hz} must be > 0 (samples per second)")
        self.vehicle = vehicle
        self.site_id = site_id
        self.vehicle_id = vehicle_id
        self.sortie_id = sortie_id
        self.host, self.port = host, port
        self.min_interval_s = 1.0 / telemetry_hz
        self.connect_timeout_s = connect_timeout_s
        self.topics = {
            kind: topic_for(site_id, vehicle_id, kind) for kind in ("telemetry", "event", "status")
        }
        self.published = {"telemetry": 0, "event": 0, "status": 0}
        self._battery_pct: float | None = None
        self._connected = threading.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"link-{site_id}-{vehicle_id}",
            clean_session=True,
        )
        self._client.will_set(self.topics["status"], self._status(False), qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._keepalive = keepalive_s

    def _status(self, online: bool) -> bytes:
        msg = StatusMessage(
            site_id=self.site_id,
            vehicle_id=self.vehicle_id,
            time=datetime.now(UTC),
            online=online,
            software=SOFTWARE,
        )
        return msg.model_dump_json().encode()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            # Re-announce after every (re)connect: the broker may have published our will.
            client.publish(self.topics["status"], self._status(True), qos=1, retain=True)
            self.published["status"] += 1
            self._connected.set()

    async def start(self) -> MqttBridge:
        """Connect (``ConnectionFailedError`` if the broker is unreachable) and start."""
        try:
            await asyncio.to_thread(self._client.connect, self.host, self.port, self._keepalive)
        except OSError as exc:
            raise ConnectionFailedError(
                f"mqtt: cannot connect to broker {self.host}:{self.port}: {exc}"
            ) from exc
        self._client.loop_start()
        if not await asyncio.to_thread(self._connected.wait, self.connect_timeout_s):
            self._client.loop_stop()
            raise ConnectionFailedError(
                f"mqtt: broker {self.host}:{self.port} did not accept the connection within "
                f"{self.connect_timeout_s:g} s"
            )
        self._tasks = [
            asyncio.create_task(self._pump_telemetry(), name="mqtt-telemetry"),
            asyncio.create_task(self._pump_events(), name="mqtt-events"),
        ]
        return self

    async def stop(self) -> None:
        """Publish the offline status, then disconnect cleanly."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._connected.is_set():
            info = self._client.publish(
                self.topics["status"], self._status(False), qos=1, retain=True
            )
            with contextlib.suppress(Exception):
                await asyncio.to_thread(info.wait_for_publish, 2.0)
            self.published["status"] += 1
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    async def __aenter__(self) -> MqttBridge:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _pump_telemetry(self) -> None:
        from telemetry.link.telemetry import Battery, Position

        last = 0.0
        async for sample in self.vehicle.telemetry.samples():
            if isinstance(sample, Battery):
                self._battery_pct = sample.remaining_pct
                continue
            if not isinstance(sample, Position):
                continue
            now = time.monotonic()
            if now - last < self.min_interval_s:
                continue  # QoS 0 telemetry is a view, not a record: drop, never queue
            last = now
            st = self.vehicle.state
            msg = TelemetryMessage(
                site_id=self.site_id,
                vehicle_id=self.vehicle_id,
                sortie_id=self.sortie_id,
                time=sample.time,
                lat=sample.lat,
                lon=sample.lon,
                alt_agl_m=sample.alt_agl_m,
                alt_amsl_m=sample.alt_amsl_m,
                heading_deg=0.0 if sample.heading_deg != sample.heading_deg else sample.heading_deg,
                ground_speed_m_s=sample.ground_speed_m_s,
                battery_pct=self._battery_pct,
                mode=st.mode,
                armed=st.armed,
            )
            self._client.publish(self.topics["telemetry"], msg.model_dump_json().encode(), qos=0)
            self.published["telemetry"] += 1

    async def _pump_events(self) -> None:
        async for event in self.vehicle.events():
            detail = {
                k: v for k, v in event.to_dict().items() if k not in ("time", "kind", "sysid")
            }
            msg = EventMessage(
                site_id=self.site_id,
                vehicle_id=self.vehicle_id,
                sortie_id=self.sortie_id,
                time=event.time,
                kind=event.kind,
                detail=detail,
            )
            self._client.publish(self.topics["event"], msg.model_dump_json().encode(), qos=1)
            self.published["event"] += 1
