"""`SimulatorServer`: one simulated ArduPilot vehicle on a MAVLink socket, in its own thread.

The thread runs a fixed-step loop in simulated time (50 Hz by default) paced against the wall
clock by the speed-up factor, and between steps reads and answers ground-station messages. Each
server has its own port and system id, so several run side by side in one process. `stop()` sets
a flag the loop checks at least every step, joins the thread and closes the sockets.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from simulators.vehicle.commands import Command, CommandHandler, set_mode_message
from simulators.vehicle.errors import SimulatorError
from simulators.vehicle.faults import Faults
from simulators.vehicle.mission_protocol import MissionProtocol
from simulators.vehicle.model import Vehicle
from simulators.vehicle.params import REAL32, ParamStore
from simulators.vehicle.streams import BUILDERS, StreamScheduler, autopilot_version, heartbeat
from simulators.vehicle.transport import Transport, open_transport

M = mavlink2
T = TypeVar("T")
AUTOPILOT_COMPONENT = M.MAV_COMP_ID_AUTOPILOT1
GREETING = (
    M.MAVLINK_MSG_ID_HEARTBEAT,
    M.MAVLINK_MSG_ID_SYS_STATUS,
    M.MAVLINK_MSG_ID_EKF_STATUS_REPORT,
    M.MAVLINK_MSG_ID_EXTENDED_SYS_STATE,
)
# Catch up at most this many steps before looking at the sockets again.
MAX_STEPS_PER_POLL = 100
# Shortest sleep of the loop, wall-clock seconds (at ×20, 0.2 s of simulated time).
WAKE_S = 0.01


class SimulatorServer:
    """A simulated ArduCopter or ArduRover speaking MAVLink 2 (dialect ardupilotmega)."""

    def __init__(
        self,
        kind: str = "copter",
        home: tuple[float, float, float] = (41.7, 123.4, 42.0),
        port: int = 0,
        sysid: int = 1,
        speedup: float = 1.0,
        seed: int = 0,
        transport: str = "tcp",
        host: str = "127.0.0.1",
        params: dict[str, float] | None = None,
        rate_hz: float = 50.0,
        epoch_unix_s: float | None = None,
        wall_clock: bool = False,
    ) -> None:
        if kind not in ("copter", "rover"):
            raise SimulatorError(f"vehicle kind {kind!r} is not simulated; use 'copter' or 'rover'")
        if not (isinstance(speedup, int | float) and math.isfinite(speedup)) or not (
            0 < speedup <= 1000
        ):
            raise SimulatorError(f"speedup {speedup!r} is out of range; use a number in (0, 1000]")
        if not 1 <= int(sysid) <= 255:
            raise SimulatorError(f"sysid {sysid!r} is out of range; use 1..255")
        if not 0 <= int(port) <= 65535:
            raise SimulatorError(f"port {port!r} is out of range; use 0 (any free port), 1..65535")
        lat, lon, alt = (float(x) for x in home)
        if not (-90 < lat < 90 and -180 <= lon <= 180 and -500 < alt < 9000):
            raise SimulatorError(
                f"home {home!r} is not a (lat, lon, alt_amsl_m) position; e.g. (41.70, 123.40, 42)"
            )
        if transport not in ("tcp", "udp"):
            raise SimulatorError(f"transport {transport!r} is not supported; use 'tcp' or 'udp'")
        if not 1.0 <= rate_hz <= 400.0:
            raise SimulatorError(f"rate_hz {rate_hz!r} is out of range; use 1..400")
        overrides = dict(params or {})
        overrides["SYSID_THISMAV"] = sysid
        overrides["SIM_SPEEDUP"] = speedup
        try:
            store = ParamStore(kind, overrides)
        except KeyError as exc:
            raise SimulatorError(
                f"parameter {exc.args[0]!r} is not simulated; see docs/simulator.md for the list"
            ) from exc
        self.kind = kind
        self.home = (lat, lon, alt)
        self.port = int(port)
        self.sysid = int(sysid)
        self.speedup = float(speedup)
        self.seed = seed
        self.transport_kind = transport
        self.host = host
        self.dt = 1.0 / rate_hz
        self._outbox: list[Any] = []
        self.vehicle = Vehicle(
            kind,
            self.home,
            store,
            seed=seed,
            epoch_unix_s=time.time() if epoch_unix_s is None else epoch_unix_s,
            emit=self._outbox.append,
        )
        if wall_clock:
            # Timestamps (SYSTEM_TIME, GPS, CAMERA_FEEDBACK) from the real clock, not from the
            # accelerated simulated one: evidence is then never dated in the future.
            self.vehicle.wall_clock = time.time
        self.params = store
        self.streams = StreamScheduler()
        self.missions = MissionProtocol(self.vehicle, self._outbox.append)
        self.commands = CommandHandler(self.vehicle, self.streams, self._request_message)
        self.faults = Faults(self)
        self._encoder = M.MAVLink(None, srcSystem=self.sysid, srcComponent=AUTOPILOT_COMPONENT)
        self._transport: Transport | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[Any]]] = (
            queue.SimpleQueue()
        )
        self._param_queue: list[int] = []
        self._after_ack: list[Any] = []
        self.link_down_until: float | None = None
        self.url = ""
        self.steps = 0
        self.real_started = 0.0
        self.error: BaseException | None = None
        self.messages_sent = 0
        self.messages_received = 0
        self.handler_errors = 0
        self.last_handler_error = ""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Open the socket and start the loop thread; returns the URL to connect to."""
        if self._thread is not None:
            return self.url
        self._transport = open_transport(self.transport_kind, self.host, self.port)
        self.port = self._transport.port
        self.url = self._transport.url
        self._stop.clear()
        self.real_started = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, name=f"sim-{self.kind}-{self.sysid}-{self.port}", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and close the sockets (idempotent)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"simulator thread {thread.name} did not stop in {timeout} s")
        self._thread = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def sim_time_s(self) -> float:
        return self.vehicle.time_s

    @property
    def real_time_factor(self) -> float:
        """Simulated seconds per wall-clock second since start."""
        elapsed = time.monotonic() - self.real_started
        return self.vehicle.time_s / elapsed if elapsed > 0 else 0.0

    @property
    def client_count(self) -> int:
        return 0 if self._transport is None else self._transport.client_count

    def call(self, fn: Callable[[], T], timeout: float = 5.0) -> T:
        """Run `fn` in the simulation thread between two steps and return its result."""
        if not self.running:
            return fn()
        reply: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._calls.put((fn, reply))
        try:
            ok, value = reply.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"simulator did not run the call within {timeout} s") from None
        if not ok:
            raise value
        return value

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the vehicle could arm (GPS fix and position estimate)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.vehicle.ekf_ok and self.vehicle.gps_fix:
                return
            if not self.running:
                raise SimulatorError("simulator is not running; call start() first")
            time.sleep(0.005)
        raise TimeoutError(f"simulated vehicle not ready to arm within {timeout} s")

    def wait_until(
        self, predicate: Callable[[Vehicle], bool], timeout: float, poll: float = 0.005
    ) -> bool:
        """Wait (wall-clock) until `predicate(vehicle)` holds; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.vehicle):
                return True
            if self.error is not None:
                raise RuntimeError("simulator loop failed") from self.error
            time.sleep(poll)
        return predicate(self.vehicle)

    # ------------------------------------------------------------------ loop

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # surfaced through .error and wait_until
            self.error = exc
            raise

    def _loop(self) -> None:
        transport = self._transport
        assert transport is not None
        banner = "ArduCopter" if self.kind == "copter" else "ArduRover"
        self.vehicle.text("info", f"{banner} V4.5.7 (FieldPatrol simulator)")
        next_due = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            steps = 0
            period = self.dt / self.speedup
            while next_due <= now and steps < MAX_STEPS_PER_POLL and not self._stop.is_set():
                self._step(now)
                next_due += period
                steps += 1
            if now - next_due > 0.5:
                # Cannot keep up (CPU): run slower than asked rather than burst afterwards.
                next_due = now
            self._run_calls()
            self._flush()
            # Wake at most every WAKE_S of wall clock (or at once for an incoming message):
            # steps then run in small batches, and every socket call, which hands the GIL to
            # any ground station thread in this process, is paid per batch, not per step.
            wake = max(next_due, now + WAKE_S)
            wait = max(0.0, wake - time.monotonic())
            for msg in transport.poll(min(wait, 0.05)):
                try:
                    self._handle(msg, time.monotonic())
                except Exception as exc:  # one bad message must not take the vehicle down
                    self.handler_errors += 1
                    self.last_handler_error = f"{msg.get_type()}: {exc!r}"
            if transport.accepted:
                transport.accepted = 0
                self._greet()
            self.missions.tick(time.monotonic())
            self._send_params()
            self._flush()

    def _step(self, real_now: float) -> None:
        v = self.vehicle
        v.step(self.dt, real_now)
        self.steps += 1
        if self.link_down_until is not None and v.time_s >= self.link_down_until:
            self.link_down_until = None
        for mid in self.streams.due(v.time_s):
            if mid == M.MAVLINK_MSG_ID_FENCE_STATUS and not (v.fence_enabled or v.fence_items):
                continue
            self._outbox.append(BUILDERS[mid](v))
        if v.heartbeat_now:
            v.heartbeat_now = False
            self._outbox.append(heartbeat(v))

    def _greet(self) -> None:
        """Status at once for a new ground station, rather than at the next 1 Hz slot: it
        then never sees a GPS fix before it has seen the EKF and pre-arm state."""
        v = self.vehicle
        for mid in GREETING:
            self._outbox.append(BUILDERS[mid](v))

    def _run_calls(self) -> None:
        while True:
            try:
                fn, reply = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                reply.put((True, fn()))
            except Exception as exc:
                reply.put((False, exc))

    @property
    def link_down(self) -> bool:
        return self.link_down_until is not None

    def _flush(self) -> None:
        if not self._outbox:
            return
        msgs = self._outbox[:]
        self._outbox.clear()
        if self.link_down or self._transport is None:
            return
        chunks = []
        for msg in msgs:
            chunks.append(msg.pack(self._encoder))
        self.messages_sent += len(chunks)
        if self.transport_kind == "udp":
            for chunk in chunks:
                self._transport.send(chunk)
        else:
            self._transport.send(b"".join(chunks))

    # ------------------------------------------------------------------ incoming

    def _for_us(self, msg: Any) -> bool:
        target = getattr(msg, "target_system", None)
        if target is not None and target not in (0, self.sysid):
            return False
        comp = getattr(msg, "target_component", None)
        return comp is None or comp in (0, AUTOPILOT_COMPONENT)

    def _handle(self, msg: Any, real_now: float) -> None:
        if self.link_down:
            return
        mtype = msg.get_type()
        if mtype == "BAD_DATA":
            return
        self.messages_received += 1
        v = self.vehicle
        if mtype == "HEARTBEAT":
            if msg.type == M.MAV_TYPE_GCS:
                v.gcs_heartbeat(real_now)
            return
        if not self._for_us(msg):
            return
        if self.missions.handle(msg, real_now):
            return
        peer = (msg.get_srcSystem(), msg.get_srcComponent())
        if mtype in ("COMMAND_LONG", "COMMAND_INT"):
            cmd = Command.from_message(msg)
            result = self.commands.handle(cmd)
            self._outbox.append(
                M.MAVLink_command_ack_message(cmd.command, result, 0, 0, peer[0], peer[1])
            )
            # Requested messages follow the ACK, as ArduPilot queues them for its next update.
            self._outbox.extend(self._after_ack)
            self._after_ack.clear()
        elif mtype == "SET_MODE":
            result = set_mode_message(v, msg)
            self._outbox.append(
                M.MAVLink_command_ack_message(M.MAV_CMD_DO_SET_MODE, result, 0, 0, *peer)
            )
        elif mtype == "PARAM_REQUEST_LIST":
            self._param_queue = list(range(len(self.params)))
        elif mtype == "PARAM_REQUEST_READ":
            name = _param_name(msg.param_id)
            index = int(msg.param_index)
            p = self.params.by_index(index) if index >= 0 else self.params.param(name)
            if p is not None:
                self._outbox.append(self._param_value(p.name))
        elif mtype == "PARAM_SET":
            name = _param_name(msg.param_id)
            if not math.isfinite(msg.param_value):
                return  # ArduPilot ignores NaN and infinite values
            p = self.params.set(name, float(msg.param_value))
            if p is not None:
                self._param_changed(name)
                self._outbox.append(self._param_value(name))
        elif mtype == "SET_POSITION_TARGET_GLOBAL_INT":
            self._position_target(msg)
        elif mtype == "REQUEST_DATA_STREAM":
            self.streams.set_stream(
                int(msg.req_stream_id), int(msg.req_message_rate), bool(msg.start_stop)
            )
        elif mtype == "TIMESYNC" and msg.tc1 == 0:
            self._outbox.append(M.MAVLink_timesync_message(int(v.time_s * 1e9), msg.ts1, *peer))

    def _param_value(self, name: str) -> Any:
        p = self.params.param(name)
        assert p is not None
        return M.MAVLink_param_value_message(
            name.encode(),
            p.value,
            p.type if p.type else REAL32,
            len(self.params),
            self.params.index(name),
        )

    def _send_params(self) -> None:
        if not self._param_queue or self.link_down:
            return
        batch, self._param_queue = self._param_queue[:25], self._param_queue[25:]
        for index in batch:
            p = self.params.by_index(index)
            if p is not None:
                self._outbox.append(self._param_value(p.name))

    def _param_changed(self, name: str) -> None:
        if name == "SIM_SPEEDUP":
            value = self.params[name]
            if 0 < value <= 1000:
                self.speedup = value

    def _position_target(self, msg: Any) -> None:
        mask = int(msg.type_mask)
        if mask & (M.POSITION_TARGET_TYPEMASK_X_IGNORE | M.POSITION_TARGET_TYPEMASK_Y_IGNORE):
            return
        v = self.vehicle
        alt: float | None = float(msg.alt)
        if mask & M.POSITION_TARGET_TYPEMASK_Z_IGNORE or not math.isfinite(msg.alt):
            alt = None
        elif int(msg.coordinate_frame) in (M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_INT):
            alt = float(msg.alt) - v.home_alt_amsl_m
        v.goto(msg.lat_int / 1e7, msg.lon_int / 1e7, alt, None)

    def _request_message(self, msg_id: int) -> bool:
        """Queue one message now (REQUEST_MESSAGE); a negative id asks for its interval."""
        v = self.vehicle
        if msg_id < 0:
            mid = -msg_id
            interval = self.streams.interval_us(mid)
            self._after_ack.append(M.MAVLink_message_interval_message(mid, interval))
            return True
        if msg_id == M.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
            self._after_ack.append(autopilot_version(v, self.sysid))
            return True
        builder = BUILDERS.get(msg_id)
        if builder is None:
            return False
        self._after_ack.append(builder(v))
        return True

    def inject(self, fn: Callable[[Vehicle], T]) -> T:
        """Run `fn(vehicle)` inside the simulation thread (thread-safe access for tests)."""
        return self.call(lambda: fn(self.vehicle))

    def link(self, up: bool, duration_s: float | None = None) -> None:
        """Cut (or restore) the link in both directions, optionally for `duration_s` sim s."""

        def apply() -> None:
            if up:
                self.link_down_until = None
            else:
                self.link_down_until = (
                    self.vehicle.time_s + duration_s if duration_s is not None else math.inf
                )

        self.call(apply)


def _param_name(raw: Any) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    return str(raw).rstrip("\x00")
