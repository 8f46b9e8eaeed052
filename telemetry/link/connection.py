"""The transport of the link: one pymavlink connection, a reader thread, our GCS heartbeat,
the ``.tlog`` of both directions, and re-opening a dropped TCP/serial transport.

The reader thread is the only code that reads the socket; it hands batches of parsed messages
to the event loop through ``call_soon_threadsafe``. Everything else (requests, state, events)
runs on the event loop. Several vehicles (system ids) can share one ``Link``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from pymavlink import mavutil

from ..errors import ConnectionFailedError, HeartbeatTimeoutError, LinkConfigError
from .dispatch import Dispatcher, Subscription
from .mav import mavlink
from .tlog import TlogWriter
from .url import LinkUrl, parse_url

log = logging.getLogger(__name__)
T = TypeVar("T")

GCS_SYSTEM_ID = 255
GCS_COMPONENT_ID = 190  # MAV_COMP_ID_MISSIONPLANNER: what ArduPilot expects from a GCS

_NOT_VEHICLES = frozenset(
    {
        mavlink.MAV_TYPE_GCS,
        mavlink.MAV_TYPE_GIMBAL,
        mavlink.MAV_TYPE_ADSB,
        mavlink.MAV_TYPE_ONBOARD_CONTROLLER,
        mavlink.MAV_TYPE_CAMERA,
    }
)


def is_vehicle_heartbeat(msg: Any) -> bool:
    """Whether a HEARTBEAT comes from an autopilot (not a GCS, camera or gimbal)."""
    return (
        msg.get_type() == "HEARTBEAT"
        and msg.type not in _NOT_VEHICLES
        and msg.autopilot != mavlink.MAV_AUTOPILOT_INVALID
    )


class _TransportClosed(ConnectionError):
    """Raised from pymavlink's EOF hooks so the reader notices a closed TCP socket."""


def _raise_closed() -> None:
    raise _TransportClosed("transport closed by peer")


def _open_transport(url: LinkUrl, source_system: int, source_component: int) -> Any:
    try:
        if url.scheme == "serial":
            conn = mavutil.mavlink_connection(
                url.device,
                baud=url.baud,
                source_system=source_system,
                source_component=source_component,
                autoreconnect=False,
            )
        else:
            conn = mavutil.mavlink_connection(
                url.mavutil_device,
                source_system=source_system,
                source_component=source_component,
                retries=0,
                autoreconnect=False,
            )
    except (OSError, ValueError) as exc:
        raise ConnectionFailedError(f"connect: cannot open {url}: {exc}") from exc
    # Speak MAVLink 2 on this connection only (mission_type is a MAVLink 2 extension).
    conn.mav = mavlink.MAVLink(conn, srcSystem=source_system, srcComponent=source_component)
    conn.mav.robust_parsing = True
    conn.WIRE_PROTOCOL_VERSION = "2.0"
    conn.first_byte = False
    conn.handle_eof = _raise_closed
    conn.handle_disconnect = _raise_closed
    return conn


def _in_daemon_thread(fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Run a blocking call in its own daemon thread.

    Not the loop's default executor: a connect that hangs past our timeout must not hold up
    the loop's shutdown, which waits for executor threads.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            if error is None and hasattr(result, "close"):
                with contextlib.suppress(Exception):
                    result.close()  # type: ignore[union-attr]  # too late: nobody waits
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, None, exc)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=run, name="mavlink-connect", daemon=True).start()
    return future


class Link:
    """One MAVLink transport shared by the vehicles on it."""

    def __init__(
        self,
        url: str,
        *,
        tlog_path: str | Path | None = None,
        source_system: int = GCS_SYSTEM_ID,
        source_component: int = GCS_COMPONENT_ID,
        heartbeat_interval_s: float = 1.0,
        reconnect_interval_s: float = 0.5,
    ) -> None:
        self.url = parse_url(url)
        self.source_system = source_system
        self.source_component = source_component
        self.heartbeat_interval_s = heartbeat_interval_s
        self.reconnect_interval_s = reconnect_interval_s
        self.dispatcher = Dispatcher()
        self.tlog: TlogWriter | None = TlogWriter(tlog_path) if tlog_path else None
        self.tlog_sha256: str | None = None
        self.messages_received = 0
        self.messages_sent = 0
        self.transport_drops = 0
        self.vehicles_seen: dict[int, tuple[int, Any]] = {}  # sysid -> (compid, last HEARTBEAT)
        self._conn: Any = None
        self._conn_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._hb_task: asyncio.Task[None] | None = None
        self._closed = False
        self.dispatcher.add_listener(self._note_heartbeat)

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self, timeout: float = 10.0) -> Link:
        """Open the transport (within ``timeout`` s) and start the reader and our heartbeat."""
        self._loop = asyncio.get_running_loop()
        try:
            # A TCP connect to a host that does not answer can block for minutes: bound it.
            conn = await asyncio.wait_for(
                _in_daemon_thread(
                    _open_transport, self.url, self.source_system, self.source_component
                ),
                timeout,
            )
        except (ConnectionFailedError, TimeoutError) as exc:
            if self.tlog is not None:
                self.tlog.close()
            if isinstance(exc, TimeoutError):
                raise ConnectionFailedError(
                    f"connect: {self.url} did not answer within {timeout:g} s; check the "
                    "address and that the vehicle or simulator is running"
                ) from None
            raise
        self._install(conn)
        self._reader = threading.Thread(
            target=self._read_loop, name=f"mavlink-reader {self.url}", daemon=True
        )
        self._reader.start()
        self._hb_task = asyncio.create_task(self._heartbeat_loop(), name="gcs-heartbeat")
        return self

    async def close(self) -> None:
        """Stop the heartbeat and the reader, close the transport and the tlog."""
        if self._closed:
            return
        self._closed = True
        if self._hb_task is not None:
            self._hb_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._hb_task
        self._stop.set()
        if self._reader is not None:
            await asyncio.to_thread(self._reader.join, 2.0)
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        self.dispatcher.close_all()
        if self.tlog is not None:
            self.tlog_sha256 = self.tlog.close()

    @property
    def transport_up(self) -> bool:
        return self._conn is not None

    def drop_transport(self) -> None:
        """Close the transport now (it is re-opened by the reader when reconnectable)."""
        with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            self.transport_drops += 1
            with contextlib.suppress(Exception):
                conn.close()

    def _install(self, conn: Any) -> None:
        conn.mav.set_send_callback(self._on_sent)
        with self._conn_lock:
            self._conn = conn

    # -- reading ---------------------------------------------------------------------------

    def _read_loop(self) -> None:
        next_attempt = 0.0
        while not self._stop.is_set():
            conn = self._conn
            if conn is None:
                if not self.url.reconnectable or time.monotonic() < next_attempt:
                    self._stop.wait(0.05)
                    continue
                next_attempt = time.monotonic() + self.reconnect_interval_s
                try:
                    self._install(
                        _open_transport(self.url, self.source_system, self.source_component)
                    )
                    log.info("link %s: transport re-opened", self.url)
                except ConnectionFailedError:
                    pass
                continue
            try:
                # Read what the transport has (up to 64 kB) and parse it in one go: per-message
                # reads would cost two system calls per message.
                data = conn.recv(65536)
                batch = [
                    m for m in (conn.mav.parse_buffer(data) or []) if m.get_type() != "BAD_DATA"
                ]
                if not data:
                    conn.select(0.05)
            except (OSError, ValueError, AttributeError, TypeError):
                # A closed socket shows as OSError, or as None/closed-port errors inside
                # pymavlink when close() raced with recv().
                batch = []
                if self._conn is conn:
                    log.info("link %s: transport dropped", self.url)
                    self.drop_transport()
            if batch:
                self._deliver(batch)

    def _deliver(self, batch: list[Any]) -> None:
        now = time.time()
        if self.tlog is not None:
            for msg in batch:
                self.tlog.write(msg.get_msgbuf(), now)
        self.messages_received += len(batch)
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # loop closed while we were reading
            loop.call_soon_threadsafe(self.dispatcher.dispatch_batch, batch)

    def _note_heartbeat(self, msg: Any) -> None:
        if is_vehicle_heartbeat(msg):
            self.vehicles_seen[msg.get_srcSystem()] = (msg.get_srcComponent(), msg)

    # -- writing ---------------------------------------------------------------------------

    def _on_sent(self, msg: Any) -> None:
        self.messages_sent += 1
        if self.tlog is not None:
            self.tlog.write(msg.get_msgbuf())

    def send(self, name: str, *args: Any, **kwargs: Any) -> bool:
        """Send message ``name`` (``"command_long"`` ...); False when the transport is down.

        A send on a down transport is dropped on purpose: every request has its own timeout
        and retries, which then report the loss with the right exception.
        """
        conn = self._conn
        if conn is None:
            return False
        try:
            with self._send_lock:
                getattr(conn.mav, name + "_send")(*args, **kwargs)
        except (OSError, _TransportClosed):
            self.drop_transport()
            return False
        return True

    async def _heartbeat_loop(self) -> None:
        while True:
            self.send(
                "heartbeat",
                mavlink.MAV_TYPE_GCS,
                mavlink.MAV_AUTOPILOT_INVALID,
                0,
                0,
                mavlink.MAV_STATE_ACTIVE,
            )
            await asyncio.sleep(self.heartbeat_interval_s)

    # -- subscriptions and discovery -----------------------------------------------------

    def subscribe(
        self, types: Iterable[str] | None = None, sysid: int | None = None, maxlen: int = 10000
    ) -> Subscription:
        return self.dispatcher.subscribe(types, sysid, maxlen)

    async def wait_vehicle(self, sysid: int | None, timeout: float) -> tuple[int, int, Any]:
        """Wait for an autopilot heartbeat (of ``sysid``, or of any system when None).

        Returns ``(sysid, compid, heartbeat)``; raises ``HeartbeatTimeoutError``.
        """
        if sysid is not None and not (1 <= sysid <= 255):
            raise LinkConfigError(f"sysid: {sysid} is not a MAVLink system id (1-255)")
        with self.subscribe(["HEARTBEAT"], sysid) as sub:
            for known, (compid, hb) in list(self.vehicles_seen.items()):
                if sysid is None or known == sysid:
                    return known, compid, hb
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                try:
                    msg = await sub.get(max(remaining, 0.0))
                except TimeoutError:
                    who = f"system {sysid}" if sysid is not None else "any autopilot"
                    raise HeartbeatTimeoutError(
                        f"connect: no heartbeat from {who} on {self.url} within {timeout:g} s; "
                        "check the URL, that the vehicle is powered and sending MAVLink"
                    ) from None
                if is_vehicle_heartbeat(msg):
                    return msg.get_srcSystem(), msg.get_srcComponent(), msg
