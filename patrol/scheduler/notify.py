"""Telling the supervisor: a failed preflight gate (or a calendar that cannot answer) as an
MQTT event on the vehicle's event topic, `fieldpatrol/v1/{site}/{vehicle}/event`.

The gateway's live stream subscribes to every event topic, so the console shows it at once;
the run's row in `schedule_runs` keeps the reason for the record.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt

from telemetry.contract import EventMessage
from telemetry.contract.topics import topic_for

log = logging.getLogger(__name__)


class EventNotifier:
    """Publishes scheduler events at QoS 1 (connects in the background, reconnects)."""

    def __init__(self, host: str, port: int = 1883, client_id: str | None = None) -> None:
        self.host, self.port = host, port
        self.sent = 0
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"fieldpatrol-scheduler-{uuid.uuid4().hex[:8]}",
        )
        self._client.reconnect_delay_set(1, 30)
        self._started = False

    def start(self) -> EventNotifier:
        if not self._started:
            self._client.connect_async(self.host, self.port, keepalive=30)
            self._client.loop_start()
            self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._client.disconnect()
            self._client.loop_stop()
            self._started = False

    def publish(
        self,
        site_id: str,
        vehicle_id: str,
        kind: str,
        detail: dict[str, Any],
        when: datetime,
        timeout_s: float = 5.0,
    ) -> bool:
        """Publish one event; True once the broker acknowledged it within ``timeout_s``."""
        message = EventMessage(
            site_id=site_id, vehicle_id=vehicle_id, time=when, kind=kind, detail=detail
        )
        topic = topic_for(site_id, vehicle_id, "event")
        with self._lock:
            info = self._client.publish(topic, message.model_dump_json(), qos=1)
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError) as exc:  # not connected (yet): paho queues it
            log.warning("scheduler event %s to %s not confirmed: %s", kind, topic, exc)
            return False
        ok = info.is_published()
        self.sent += int(ok)
        return ok
