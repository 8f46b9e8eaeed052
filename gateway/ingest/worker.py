"""The MQTT side of the ingest: a paho consumer that acknowledges only after the commit.

One :class:`IngestWorker` holds one MQTT 5 persistent session (clean start off, session
expiry set) with manual acknowledgement. Messages go from paho's network thread to a
processing thread, which handles them in batches: one database transaction per batch, media
files synced before it, and PUBACKs sent only after the commit. A crash at any point
leaves every unacknowledged message with the broker, which delivers it again; the
:class:`~gateway.ingest.processor.Processor` is idempotent, so that only costs time.

Evidence whose media are not in the store yet is held (not acknowledged) and retried until
``media_wait_s`` has passed, then dead-lettered as ``media_missing``. Several workers split
the stream with a shared subscription (``share="ingest"`` → ``$share/ingest/...``).
"""

import contextlib
import logging
import queue
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from cases.audit import AuditWriter
from cases.db import make_engine
from cases.db import session_factory as make_session_factory
from cases.models import Device
from gateway.ingest.metrics import IngestMetrics
from gateway.ingest.processor import (
    TRANSIENT_ERRORS,
    Outcome,
    Precheck,
    Processor,
    UnexpectedError,
)
from gateway.ingest.write_turn import WriteTurn
from gateway.media import MediaStore
from telemetry.contract import subscription_for
from telemetry.mqtt_session import check_mqtt_version, connect_persistent, persistent_client

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]

_PUBACK = struct.Struct("!BBH")  # fixed header (type, remaining length 2), packet id


class IngestError(RuntimeError):
    """The ingest could not start (broker unreachable, subscription refused)."""


@dataclass
class _Item:
    gen: int  # connection generation the message arrived on
    mid: int
    qos: int
    topic: str
    payload: bytes
    received: float
    deadline: float = 0.0  # for evidence waiting for media
    pre: Precheck | None = None  # checked before a transaction (kept while it waits)
    prechecked: bool = False


class IngestWorker:
    """Consume evidence and media from the broker at ``host:port`` into the case record.

    ``session_factory`` makes sessions of the case database; ``media_dir`` is the media
    store root. ``client_id`` must be stable across restarts (it names the persistent
    session that keeps unacknowledged messages while the worker is down).
    """

    def __init__(
        self,
        host: str,
        port: int,
        session_factory: SessionFactory,
        media_dir: str | Path,
        client_id: str = "fieldpatrol-ingest",
        *,
        share: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls_ca: str | Path | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        session_expiry_s: int = 7 * 24 * 3600,
        receive_maximum: int = 1000,
        batch_max: int = 500,
        batch_linger_s: float = 0.005,
        media_wait_s: float = 30.0,
        attach: bool = True,
        metrics: IngestMetrics | None = None,
        keepalive_s: int = 15,
        mqtt_version: int = 5,
        site_id: str = "+",
        vehicle_id: str = "+",
    ) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.sessions = session_factory
        self._own_engine: Engine | None = None
        self._turn: WriteTurn | contextlib.nullcontext[None] = contextlib.nullcontext()
        with session_factory() as probe:
            bind = probe.get_bind()
        if isinstance(bind, Engine) and bind.dialect.name == "sqlite":
            # Our own engine on the same file: every ingest transaction writes, so it takes
            # the write lock at its start (cases.db, sqlite_immediate); the caller's engine
            # keeps its own behaviour.
            self._own_engine = make_engine(
                bind.url.render_as_string(hide_password=False), sqlite_immediate=True
            )
            self.sessions = make_session_factory(self._own_engine)
            if bind.url.database and bind.url.database != ":memory:":
                # Several ingest processes on this file take turns without SQLite's sleeps.
                self._turn = WriteTurn(bind.url.database)
        self.media = MediaStore(media_dir)
        self.metrics = metrics or IngestMetrics()
        self.processor = Processor(self.media, self.metrics, attach=attach)
        self.share = share
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum
        self.batch_max = batch_max
        self.batch_linger_s = batch_linger_s
        self.media_wait_s = media_wait_s
        self.keepalive_s = keepalive_s
        self.mqtt_version = check_mqtt_version(mqtt_version)
        # A gateway may serve one site or one vehicle only ("+" = all of them).
        self.site_id, self.vehicle_id = site_id, vehicle_id
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._waiting: list[_Item] = []
        self._gen = 0
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None
        self._connect_error: str | None = None
        self.last_error: str | None = None

        # Acknowledged only after the database commit.
        client = persistent_client(
            client_id,
            mqtt_version,
            username=username,
            password=password,
            tls_ca=tls_ca,
            tls_cert=tls_cert,
            tls_key=tls_key,
            manual_ack=True,
            read_all=True,  # every arrived message per wake-up, not one per loop turn
        )
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def subscriptions(self) -> list[str]:
        """The topic filters this worker subscribes to."""
        return [
            subscription_for("evidence", self.site_id, self.vehicle_id, share=self.share),
            subscription_for("media", self.site_id, self.vehicle_id, share=self.share),
        ]

    def start(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Connect, subscribe and start processing.

        With ``wait`` (default), return only once the subscriptions are acknowledged, so
        that nothing published afterwards can miss the ingest; raise :class:`IngestError`
        after ``timeout`` seconds.
        """
        if self._thread is not None:
            raise IngestError(f"ingest worker {self.client_id} is already started")
        connect_persistent(
            self._client,
            self.host,
            self.port,
            mqtt_version=self.mqtt_version,
            keepalive_s=self.keepalive_s,
            session_expiry_s=self.session_expiry_s,
            receive_maximum=self.receive_maximum,
        )
        self._client.loop_start()
        self._thread = threading.Thread(
            target=self._run, name=f"ingest-{self.client_id}", daemon=True
        )
        self._thread.start()
        if wait and not self._subscribed.wait(timeout):
            why = self._connect_error or "no answer"
            self.stop(timeout=2)
            raise IngestError(
                f"ingest worker {self.client_id} could not subscribe at {self.host}:{self.port} "
                f"within {timeout:.0f} s ({why}); check the broker and its credentials"
            )

    def wait_ready(self, timeout: float) -> bool:
        """True once subscribed (waits up to ``timeout`` seconds)."""
        return self._subscribed.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand, then disconnect; unacknowledged messages stay queued."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        self._thread = None
        if self._own_engine is not None:
            self._own_engine.dispose()
        if isinstance(self._turn, WriteTurn):
            self._turn.close()

    def __enter__(self) -> "IngestWorker":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def backlog(self) -> int:
        """Messages received but not yet committed (queued plus waiting for media)."""
        return self._queue.qsize() + len(self._waiting)

    # -- paho callbacks (network thread) ------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._connect_error = f"connection refused: {reason_code}"
            log.error("ingest %s: %s", self.client_id, self._connect_error)
            return
        # Messages of an earlier connection must not be acked on this one (ids may clash).
        self._gen += 1
        if self.mqtt_version == 5:
            client.subscribe([(f, SubscribeOptions(qos=1)) for f in self.subscriptions])
        else:
            client.subscribe([(f, 1) for f in self.subscriptions])

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        failed = [str(rc) for rc in reason_codes if rc.is_failure]
        if failed:
            self._connect_error = f"subscription refused: {', '.join(failed)}"
            log.error("ingest %s: %s", self.client_id, self._connect_error)
            return
        self._subscribed.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.metrics.count("disconnects")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._queue.put(
            _Item(self._gen, msg.mid, msg.qos, msg.topic, bytes(msg.payload), time.monotonic())
        )

    # -- processing thread --------------------------------------------------------------------

    def _take_batch(self) -> list[_Item]:
        """The next batch: what is queued, up to ``batch_max``.

        When the queue runs dry before that, wait up to ``batch_linger_s`` from the first
        message for more. A batch has a fixed cost (its queries, a filesystem sync, the
        commit: 5-10 ms of CPU on the 2-core test VM) and a camera frame's items arrive
        over a few milliseconds: without the wait, a frame was split into several batches
        at moderate rates, each paying that cost.
        """
        batch: list[_Item] = []
        try:
            batch.append(self._queue.get(timeout=0.1))
        except queue.Empty:
            return batch
        deadline = time.monotonic() + self.batch_linger_s
        while len(batch) < self.batch_max:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        retry: list[_Item] = []
        last_waiting_check = 0.0
        while not self._stopping.is_set():
            batch = retry or self._take_batch()
            retry = []
            now = time.monotonic()
            # Evidence held for its media: try again when media came in, or now and then.
            if self._waiting and (
                any("/media/" in i.topic for i in batch) or now - last_waiting_check > 0.25
            ):
                last_waiting_check = now
                batch = self._waiting + batch
                self._waiting = []
            if not batch:
                continue
            try:
                outcomes = self._commit(batch)
            except TRANSIENT_ERRORS as exc:
                # Database unavailable, locked, deadlocked, or a concurrent update of the same
                # row: nothing was committed, nothing is acked; the batch is tried again.
                self.last_error = f"database: {exc}"
                log.warning("ingest %s: batch rolled back, retrying: %s", self.client_id, exc)
                self.metrics.count("batch_retries")
                retry = batch
                self._stopping.wait(0.5)
                continue
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("ingest %s: batch failed, retrying", self.client_id)
                self.metrics.count("batch_retries")
                retry = batch
                self._stopping.wait(0.5)
                continue
            done = time.monotonic()
            acks: list[_Item] = []
            for item, outcome in zip(batch, outcomes, strict=True):
                if outcome.final:
                    acks.append(item)
                    if outcome.status in ("stored", "duplicate"):
                        self.metrics.latency((done - item.received) * 1000.0)
                else:
                    if not item.deadline:
                        item.deadline = item.received + self.media_wait_s
                        self.metrics.count("waited_for_media")  # each item once
                    self._waiting.append(item)
            self._ack_all(acks)

    def _commit(self, batch: list[_Item]) -> list[Outcome]:
        now = time.monotonic()
        messages = [
            (item.topic, item.payload, bool(item.deadline) and now >= item.deadline)
            for item in batch
        ]
        # Parsing, signatures and media files before the transaction: on SQLite it holds
        # the database's write lock from its start, and several ingest processes should
        # spend only the writes under it.
        # Evidence waiting for its media (on another worker, say) is checked only once.
        t0 = time.perf_counter()
        todo = [item for item in batch if not item.prechecked]
        found = self.processor.precheck([(i.topic, i.payload, False) for i in todo])
        for item, checked in zip(todo, found, strict=True):
            item.pre, item.prechecked = checked, True
        pre = [item.pre for item in batch]
        self.metrics.count("precheck_ms", round((time.perf_counter() - t0) * 1000))
        try:
            return self._commit_once(messages, pre, careful=False)
        except UnexpectedError as exc:
            # Something odd in this batch: redo it message by message in savepoints.
            log.warning("ingest %s: %s; redoing the batch carefully", self.client_id, exc)
            self.metrics.count("careful_batches")
            return self._commit_once(messages, pre, careful=True)

    def _commit_once(
        self,
        messages: list[tuple[str, bytes, bool]],
        pre: list[Precheck | None],
        careful: bool,
    ) -> list[Outcome]:
        tw = time.perf_counter()
        if self.media.unsynced:
            # Files the precheck wrote, made durable before the write lock is taken.
            self.media.sync()
        tw0 = time.perf_counter()
        with self._turn, self.sessions() as session, AuditWriter(session) as writer:
            t0 = time.perf_counter()
            outcomes = self.processor.process_batch(
                session, messages, careful=careful, writer=writer, pre=pre
            )
            for vehicle, seq in self._stored_sequences(outcomes).items():
                session.execute(
                    update(Device)
                    .where(Device.vehicle_id == vehicle, Device.last_seq < seq)
                    .values(last_seq=seq)
                )
            # Media files must be on disk before the rows that point to them are committed.
            t1 = time.perf_counter()
            # The precheck's files were synced above; what is left is what the transaction
            # put itself (a careful redo, a message without precheck). A blob found on disk
            # counts too: another ingest process may have written it and not synced yet.
            # Mostly nothing: a filesystem sync costs 5-30 ms here, inside the write turn.
            if self.media.unsynced:
                self.media.sync()
            t2 = time.perf_counter()
            session.commit()
        t3 = time.perf_counter()
        # Where the time goes, for the benchmark and for operators (milliseconds).
        self.metrics.count("batches")
        self.metrics.count("batch_messages", len(messages))
        self.metrics.count("turn_wait_ms", round((t0 - tw0) * 1000))
        self.metrics.count("process_ms", round((t1 - t0) * 1000))
        self.metrics.count("media_sync_ms", round((t2 - t1 + tw0 - tw) * 1000))
        self.metrics.count("commit_ms", round((t3 - t2) * 1000))
        return outcomes

    @staticmethod
    def _stored_sequences(outcomes: list[Outcome]) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in outcomes:
            if o.status == "stored" and o.vehicle_id is not None and o.sequence is not None:
                out[o.vehicle_id] = max(o.sequence, out.get(o.vehicle_id, -1))
        return out

    def _ack_all(self, items: list[_Item]) -> None:
        """Acknowledge committed messages: the batch's PUBACKs as one write.

        ``Client.ack`` queues one packet per message, wakes paho's network thread for each
        and sends each in its own system call: two of each per evidence item. Joined, a
        batch of PUBACKs costs one wake-up and one send.
        """
        gen = self._gen
        # QoS 0 needs no ack; an old connection's message will come again.
        mids = [item.mid for item in items if item.qos == 1 and item.gen == gen]
        others = [item for item in items if item.qos == 2 and item.gen == gen]
        queue_packet = getattr(self._client, "_packet_queue", None)
        if mids and queue_packet is not None:
            # PUBACK without reason code (= success), as paho's own ack() sends it.
            packets = b"".join(_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids)
            queue_packet(mqtt.PUBACK, packets, 0, 1)
        else:
            others += [item for item in items if item.qos == 1 and item.gen == gen]
        for item in others:
            self._client.ack(item.mid, item.qos)
