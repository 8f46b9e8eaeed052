"""Publishes the edge outbox to MQTT: QoS 1, MQTT 5 persistent session, delete after PUBACK.

One :class:`EvidencePublisher` per vehicle. A pump thread takes rows from the
:class:`~telemetry.outbox.Outbox` in row order (media before their evidence, evidence in
sequence order), hands them to paho with a bounded in-flight window, and deletes a row only
when the broker's PUBACK for it arrives. The session is persistent (clean start off, session
expiry set) and paho re-sends unacknowledged messages after a reconnect; after a crash the
new process simply starts again from the oldest row still in the outbox. Delivery is
therefore at least once; the gateway is idempotent on the evidence id.

A PUBACK with reason "no matching subscribers" means the broker dropped the message (no
ingest session exists yet), so that row is kept and sent again later rather than removed.
"""

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from telemetry.contract import EvidenceMessage, StatusMessage, topic_for
from telemetry.mqtt_session import check_mqtt_version, connect_persistent, persistent_client
from telemetry.outbox import Outbox

log = logging.getLogger(__name__)

#: MQTT 5 reason code: the broker accepted the message but nobody was subscribed.
NO_MATCHING_SUBSCRIBERS = 0x10

EventCallback = Callable[[str, dict[str, Any]], None]


class PublisherError(RuntimeError):
    """The publisher is used wrongly (not started, already stopped)."""


class FlushTimeoutError(TimeoutError):
    """The outbox did not empty within the timeout (broker unreachable or slow)."""


class EvidencePublisher:
    """Sends what is in ``outbox`` to the broker at ``host:port`` as ``client_id``.

    ``client_id`` must be stable across restarts of the same vehicle (it names the
    persistent session). ``on_event(kind, detail)`` is told about ``connected``,
    ``disconnected``, ``backlog`` (more than ``backlog_warning`` evidence items waiting),
    ``no_subscribers`` and ``publish_failed``; it is called from the publisher's threads.
    """

    def __init__(
        self,
        outbox: Outbox,
        host: str,
        port: int,
        client_id: str,
        *,
        site_id: str | None = None,
        vehicle_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls_ca: str | Path | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        keepalive_s: int = 15,
        mqtt_version: int = 5,
        session_expiry_s: int = 7 * 24 * 3600,
        inflight: int = 200,
        backlog_warning: int = 10_000,
        retry_after_s: float = 2.0,
        reconnect_max_s: float = 5.0,
        on_event: EventCallback | None = None,
    ) -> None:
        self.outbox = outbox
        self.host, self.port, self.client_id = host, port, client_id
        self.site_id, self.vehicle_id = site_id, vehicle_id
        self.session_expiry_s = session_expiry_s
        self.keepalive_s = keepalive_s
        self.mqtt_version = check_mqtt_version(mqtt_version)
        self.inflight = inflight
        self.backlog_warning = backlog_warning
        self.retry_after_s = retry_after_s
        self._on_event = on_event
        self._acks: deque[tuple[int, int]] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row (pump thread only)
        self._cursor = 0  # highest outbox row handed to paho
        self._resend_at: float | None = None
        self._resend_from: int | None = None
        self._backlog_warned = False
        self._idle = threading.Event()
        self.published = 0  # rows acknowledged and removed since start
        self.last_error: str | None = None

        client = persistent_client(
            client_id,
            mqtt_version,
            username=username,
            password=password,
            tls_ca=tls_ca,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
        client.max_inflight_messages_set(inflight)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=max(1, int(reconnect_max_s)))
        if self._status_topic:
            offline = self._status(online=False)
            client.will_set(self._status_topic, offline, qos=1, retain=True)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_publish = self._handle_publish
        self._client = client

    # -- public API -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the MQTT connection is up."""
        return self._connected.is_set()

    def start(self) -> None:
        """Connect (in the background; the broker may be down) and start publishing."""
        if self._thread is not None:
            raise PublisherError(f"publisher {self.client_id} is already started")
        connect_persistent(
            self._client,
            self.host,
            self.port,
            mqtt_version=self.mqtt_version,
            keepalive_s=self.keepalive_s,
            session_expiry_s=self.session_expiry_s,
        )
        self._client.loop_start()
        self._thread = threading.Thread(
            target=self._pump, name=f"publisher-{self.client_id}", daemon=True
        )
        self._thread.start()

    def submit(self, msg: EvidenceMessage, media: Mapping[str, bytes]) -> int:
        """Write a signed evidence item and its media to the outbox; it is sent from there.

        Returns once the item is durably on disk (not when it reaches the broker).
        """
        row = self.outbox.add(msg, media)
        self._wake.set()
        return row

    def submit_many(self, items: list[tuple[EvidenceMessage, Mapping[str, bytes]]]) -> list[int]:
        """Like :meth:`submit` for several items, in one outbox transaction (one fsync)."""
        rows = self.outbox.add_many(items)
        self._wake.set()
        return rows

    def flush(self, timeout: float) -> None:
        """Wait until the outbox is empty; raise :class:`FlushTimeoutError` after ``timeout``."""
        if self._thread is None:
            raise PublisherError(f"publisher {self.client_id} is not started; call start()")
        deadline = time.monotonic() + timeout
        while True:
            waiting = self.outbox.count()
            if waiting == 0:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise FlushTimeoutError(
                    f"publisher {self.client_id}: {waiting} message(s) still in the outbox "
                    f"after {timeout:.1f} s (broker {self.host}:{self.port} "
                    f"{'connected' if self.connected else 'unreachable'}); they stay queued"
                )
            self._idle.clear()
            self._idle.wait(min(left, 0.05))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop publishing and disconnect; what is not acknowledged stays in the outbox."""
        if self._thread is None:
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._status_topic and self.connected:
            info = self._client.publish(
                self._status_topic, self._status(online=False), qos=1, retain=True
            )
            # Not connected any more is fine: the will says offline anyway.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=min(timeout, 2.0))
        self._client.disconnect()
        self._client.loop_stop()
        self._thread = None

    def __enter__(self) -> "EvidencePublisher":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- paho callbacks (network thread) ----------------------------------------------------

    def _handle_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self.last_error = f"connect refused: {reason_code}"
            self._emit("connect_failed", {"reason": str(reason_code)})
            return
        self._connected.set()
        self._wake.set()
        if self._status_topic:
            client.publish(self._status_topic, self._status(online=True), qos=1, retain=True)
        self._emit("connected", {"session_present": bool(flags.session_present)})

    def _handle_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        self._emit("disconnected", {"reason": str(reason_code)})

    def _handle_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        # Called under paho's message lock: only hand over to the pump, never block here.
        self._acks.append((mid, int(reason_code.value)))
        if not self._wake.is_set():  # set() takes a lock and notifies, once per PUBACK
            self._wake.set()

    # -- pump thread --------------------------------------------------------------------------

    def _pump(self) -> None:
        last_backlog_check = 0.0
        while not self._stopping.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            try:
                self._process_acks()
                now = time.monotonic()
                if self._resend_at is not None and now >= self._resend_at:
                    # Rows refused for lack of subscribers: go back and send them again.
                    if self._resend_from is not None:
                        self._cursor = min(self._cursor, self._resend_from - 1)
                    self._resend_at = self._resend_from = None
                if self._connected.is_set() and self._resend_at is None:
                    self._send_more()
                if now - last_backlog_check > 1.0:
                    last_backlog_check = now
                    self._check_backlog()
                if not self._inflight:
                    self._idle.set()
            except Exception as exc:  # keep the pump alive: the outbox is the truth
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("publisher %s: pump error", self.client_id)
                self._stopping.wait(0.5)

    def _send_more(self) -> None:
        room = self.inflight - len(self._inflight)
        if room <= 0:
            return
        for item in self.outbox.pending(after_row=self._cursor, limit=room):
            info = self._client.publish(item.topic, item.payload, qos=1)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                self.last_error = f"publish rc={info.rc}"
                break
            # NO_CONN: paho keeps the message queued and sends it after the reconnect.
            self._inflight[info.mid] = item.row
            self._cursor = item.row

    def _process_acks(self) -> None:
        done: list[int] = []
        while self._acks:
            mid, code = self._acks.popleft()
            row = self._inflight.pop(mid, None)
            if row is None:
                continue
            if code == NO_MATCHING_SUBSCRIBERS or code >= 0x80:
                kind = "no_subscribers" if code == NO_MATCHING_SUBSCRIBERS else "publish_failed"
                self._emit(kind, {"row": row, "reason_code": code})
                self._resend_from = (
                    row if self._resend_from is None else min(row, self._resend_from)
                )
                self._resend_at = time.monotonic() + self.retry_after_s
                continue
            done.append(row)
        if done:
            self.outbox.remove(done)
            self.published += len(done)

    def _check_backlog(self) -> None:
        backlog = self.outbox.evidence_backlog()
        if backlog > self.backlog_warning and not self._backlog_warned:
            self._backlog_warned = True
            log.warning(
                "publisher %s: %d evidence items waiting in the outbox (warning limit %d)",
                self.client_id,
                backlog,
                self.backlog_warning,
            )
            self._emit("backlog", {"evidence_waiting": backlog, "limit": self.backlog_warning})
        elif backlog <= self.backlog_warning // 2:
            self._backlog_warned = False

    # -- helpers ------------------------------------------------------------------------------

    @property
    def _status_topic(self) -> str | None:
        if self.site_id and self.vehicle_id:
            return topic_for(self.site_id, self.vehicle_id, "status")
        return None

    def _status(self, online: bool) -> bytes:
        assert self.site_id and self.vehicle_id
        msg = StatusMessage(
            site_id=self.site_id,
            vehicle_id=self.vehicle_id,
            time=datetime.now(UTC),
            online=online,
            software="fieldpatrol",
        )
        return msg.model_dump_json().encode("utf-8")

    def _emit(self, kind: str, detail: dict[str, Any]) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(kind, detail)
        except Exception:  # a faulty listener must not stop publishing
            log.exception("publisher %s: on_event listener failed", self.client_id)
