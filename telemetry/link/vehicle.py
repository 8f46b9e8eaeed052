"""``Vehicle``: one autopilot on a link, with plugins grouped by concern (MAVSDK style).

    async with Vehicle.connect("tcp:127.0.0.1:5760", timeout=10, tlog_path="s.tlog") as v:
        await v.mission.upload(items)
        await v.action.arm()
        async for pos in v.telemetry.position():
            ...

The vehicle keeps the state it needs to turn the MAVLink stream into events (mode changes,
waypoints, mission finished, landed, fence breach, failsafe, link lost/regained with the gap)
and detects link loss by missing heartbeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import (
    CommandDeniedError,
    CommandTimeoutError,
    LinkLostError,
    StateTimeoutError,
)
from .connection import Link, is_vehicle_heartbeat
from .dispatch import Subscription
from .events import (
    ArmedChanged,
    Failsafe,
    FenceBreach,
    Landed,
    LinkLost,
    LinkRegained,
    MissionFinished,
    ModeChanged,
    TookOff,
    VehicleEvent,
    WaypointReached,
)
from .mav import MAV_RESULT_IN_PROGRESS, command_name, enum_name, mavlink
from .modes import mode_name

COPTER_TYPES = frozenset({2, 3, 4, 13, 14, 15})  # MAV_TYPE quad/coax/heli/hexa/octo/tri
ROVER_TYPES = frozenset({10, 11})  # MAV_TYPE_GROUND_ROVER, MAV_TYPE_SURFACE_BOAT

# Telemetry rates (Hz) asked of the autopilot per legacy stream group on connect. ArduCopter
# ships with every SRx/MAVx stream rate at 0 on its serial ports and streams nothing but
# heartbeats until a ground station asks (MAVProxy and QGroundControl do the same);
# REQUEST_DATA_STREAM is understood by every ArduPilot version, whatever its rate
# parameters are called.
STREAM_RATES_HZ: dict[int, int] = {
    mavlink.MAV_DATA_STREAM_EXTENDED_STATUS: 2,  # SYS_STATUS, GPS_RAW_INT, MISSION_CURRENT
    mavlink.MAV_DATA_STREAM_POSITION: 4,  # GLOBAL_POSITION_INT, LOCAL_POSITION_NED
    mavlink.MAV_DATA_STREAM_EXTRA1: 4,  # ATTITUDE
    mavlink.MAV_DATA_STREAM_EXTRA2: 4,  # VFR_HUD
    mavlink.MAV_DATA_STREAM_EXTRA3: 2,  # EKF_STATUS_REPORT, BATTERY_STATUS, SYSTEM_TIME
    mavlink.MAV_DATA_STREAM_RAW_SENSORS: 1,
    mavlink.MAV_DATA_STREAM_RC_CHANNELS: 1,
}

# Messages in none of ArduPilot's stream groups, asked for one by one with
# MAV_CMD_SET_MESSAGE_INTERVAL: EXTENDED_SYS_STATE (landed state: on ground / taking off /
# in air / landing), without which a copter's take-off and landing go unseen.
INTERVAL_MESSAGES_HZ: dict[int, float] = {
    mavlink.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 2.0,
}

_ON_GROUND = mavlink.MAV_LANDED_STATE_ON_GROUND
_AIRBORNE = frozenset(
    {
        mavlink.MAV_LANDED_STATE_IN_AIR,
        mavlink.MAV_LANDED_STATE_TAKEOFF,
        mavlink.MAV_LANDED_STATE_LANDING,
    }
)
_MISSION_STATE_COMPLETE = 5
_EKF_POSITION = mavlink.EKF_ATTITUDE | mavlink.EKF_VELOCITY_HORIZ | mavlink.EKF_POS_HORIZ_ABS
_PREARM = mavlink.MAV_SYS_STATUS_PREARM_CHECK


@dataclass
class LinkGap:
    """A period without heartbeats from the vehicle."""

    lost_at: datetime
    regained_at: datetime | None = None
    gap_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lost_at": self.lost_at.isoformat(),
            "regained_at": self.regained_at.isoformat() if self.regained_at else None,
            "gap_s": self.gap_s,
        }


@dataclass(frozen=True)
class FlightReport:
    """What ``wait_landed`` returns: the flight just ended."""

    flight_time_s: float
    waypoints_reached: int
    mission_finished: bool
    mode: str


@dataclass
class VehicleState:
    """What the link knows about the vehicle right now."""

    mav_type: int = 0
    autopilot: int = 0
    custom_mode: int = -1
    mode: str = ""
    armed: bool = False
    system_status: int = 0
    landed_state: int | None = None
    mission_current: int = 0
    mission_count: int = 0
    mission_last_seq: int = -1
    reached: list[int] = field(default_factory=list)
    mission_finished: bool = False
    fence_breached: bool = False
    link_up: bool = True
    last_heartbeat_mono: float = 0.0
    last_heartbeat_utc: datetime | None = None
    statustexts: deque[tuple[float, int, str]] = field(default_factory=lambda: deque(maxlen=200))
    gaps: list[LinkGap] = field(default_factory=list)
    flight_started_mono: float | None = None
    flight_started_boot_ms: int | None = None
    flight_time_s: float = 0.0
    boot_ms: int | None = None
    flew: bool = False
    gps_fix_type: int = 0
    ekf_flags: int | None = None
    prearm_ok: bool | None = None  # SYS_STATUS pre-arm check bit, when the autopilot reports it

    @property
    def position_ok(self) -> bool:
        """A 3D GPS fix and (when reported) an EKF with a usable horizontal position."""
        if self.ekf_flags is None:
            # ArduPilot always reports its EKF: wait for the report rather than guess.
            ekf_good = self.autopilot != mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA
        else:
            ekf_good = (self.ekf_flags & _EKF_POSITION) == _EKF_POSITION
        return self.gps_fix_type >= 3 and ekf_good

    @property
    def is_copter(self) -> bool:
        return self.mav_type in COPTER_TYPES

    @property
    def is_rover(self) -> bool:
        return self.mav_type in ROVER_TYPES

    @property
    def on_ground(self) -> bool:
        """On the ground: by EXTENDED_SYS_STATE when the vehicle sends it, else disarmed."""
        if self.landed_state is not None and self.landed_state != 0:
            return self.landed_state == _ON_GROUND
        return not self.armed


def _is_failsafe_text(text: str) -> bool:
    """ArduPilot's failsafe announcements ("GCS Failsafe", "Battery 1 is low 10.2V ...",
    "Motor 1 failure: landing", "EKF Failsafe Cleared")."""
    low = text.lower()
    if "failsafe" in low or "failure" in low:
        return True
    return low.startswith("battery") and (" is low" in low or " is critical" in low)


class _Connector:
    """What ``Vehicle.connect`` returns: ``async with`` it, or ``await`` it."""

    def __init__(self, factory: Callable[[], Coroutine[Any, Any, Vehicle]]) -> None:
        self._factory = factory
        self._vehicle: Vehicle | None = None

    def __await__(self) -> Generator[Any, None, Vehicle]:
        return self._factory().__await__()

    async def __aenter__(self) -> Vehicle:
        self._vehicle = await self._factory()
        return self._vehicle

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._vehicle is not None:
            await self._vehicle.close()


class Vehicle:
    """One autopilot (system id) on a ``Link``."""

    def __init__(
        self,
        link: Link,
        sysid: int,
        compid: int,
        heartbeat: Any,
        *,
        owns_link: bool = False,
        link_timeout_s: float = 3.0,
    ) -> None:
        from .action import ActionPlugin
        from .camera import CameraPlugin
        from .mission import MissionPlugin
        from .params import ParamPlugin
        from .telemetry import TelemetryPlugin

        self.link = link
        self.sysid = sysid
        self.compid = compid
        self.link_timeout_s = link_timeout_s
        self._owns_link = owns_link
        self.state = VehicleState()
        self.event_log: list[VehicleEvent] = []
        self._event_subs: list[Subscription] = []
        self._closed = False
        self.mission = MissionPlugin(self, mavlink.MAV_MISSION_TYPE_MISSION)
        self.fence = MissionPlugin(self, mavlink.MAV_MISSION_TYPE_FENCE)
        self.rally = MissionPlugin(self, mavlink.MAV_MISSION_TYPE_RALLY)
        self.action = ActionPlugin(self)
        self.telemetry = TelemetryPlugin(self)
        self.camera = CameraPlugin(self)
        self.param = ParamPlugin(self)
        self._on_heartbeat(heartbeat, initial=True)
        link.dispatcher.add_listener(self._on_message)
        self.request_streams()
        self._monitor = asyncio.create_task(self._watch_link(), name=f"vehicle-{sysid}-link")

    def request_streams(self, rates_hz: dict[int, int] | None = None) -> None:
        """Ask the autopilot for its telemetry streams (see ``STREAM_RATES_HZ``) and for
        the messages no stream group carries (see ``INTERVAL_MESSAGES_HZ``)."""
        for stream_id, hz in (rates_hz or STREAM_RATES_HZ).items():
            self.link.send("request_data_stream", self.sysid, self.compid, stream_id, hz, 1)
        for msg_id, msg_hz in INTERVAL_MESSAGES_HZ.items():
            # Fire and forget like REQUEST_DATA_STREAM: an autopilot without the command
            # just NACKs it (the ACK goes unread: no command is waiting for it).
            self.link.send(
                "command_long",
                self.sysid,
                self.compid,
                mavlink.MAV_CMD_SET_MESSAGE_INTERVAL,
                0,
                float(msg_id),
                1e6 / msg_hz,
                0,
                0,
                0,
                0,
                0,
            )

    # -- connecting ------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        url: str,
        timeout: float = 10.0,
        *,
        sysid: int | None = None,
        tlog_path: str | Path | None = None,
        link_timeout_s: float = 3.0,
        reconnect_interval_s: float = 0.5,
    ) -> _Connector:
        """Open ``url`` and wait up to ``timeout`` s for the vehicle's heartbeat.

        ``sysid`` picks one vehicle on a shared link (default: the first autopilot heard).
        """

        async def factory() -> Vehicle:
            link = Link(url, tlog_path=tlog_path, reconnect_interval_s=reconnect_interval_s)
            started = time.monotonic()
            await link.open(timeout)
            try:
                remaining = max(timeout - (time.monotonic() - started), 0.1)
                sid, compid, hb = await link.wait_vehicle(sysid, remaining)
                return cls(link, sid, compid, hb, owns_link=True, link_timeout_s=link_timeout_s)
            except BaseException:
                await link.close()
                raise

        return _Connector(factory)

    @classmethod
    async def on_link(cls, link: Link, sysid: int | None = None, timeout: float = 10.0) -> Vehicle:
        """Another vehicle on an already open link (several vehicles by system id)."""
        sid, compid, hb = await link.wait_vehicle(sysid, timeout)
        return cls(link, sid, compid, hb)

    async def close(self) -> None:
        """Stop watching the vehicle; close the link (and its tlog) if this vehicle opened it."""
        if self._closed:
            return
        self._closed = True
        self._monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._monitor
        self.link.dispatcher.remove_listener(self._on_message)
        for sub in list(self._event_subs):
            sub.close()
        if self._owns_link:
            await self.link.close()

    async def __aenter__(self) -> Vehicle:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def tlog_path(self) -> str | None:
        return str(self.link.tlog.path) if self.link.tlog is not None else None

    @property
    def tlog_sha256(self) -> str | None:
        """The tlog's sha256: final after ``close()``, the running hash before."""
        if self.link.tlog_sha256 is not None:
            return self.link.tlog_sha256
        return self.link.tlog.sha256 if self.link.tlog is not None else None

    # -- state and events ------------------------------------------------------------------

    def _emit(self, event: VehicleEvent) -> None:
        self.event_log.append(event)
        for sub in list(self._event_subs):
            sub.put(event)

    def events(self) -> AsyncIterator[VehicleEvent]:
        """Events from now on, as an async iterator (ends when the vehicle is closed)."""
        sub = Subscription(None, maxlen=10000)
        self._event_subs.append(sub)
        return _EventIterator(self, sub)

    def _on_heartbeat(self, msg: Any, initial: bool = False) -> None:
        st = self.state
        now = time.monotonic()
        if not st.link_up and st.gaps:
            gap = st.gaps[-1]
            gap.regained_at = datetime.now(UTC)
            gap.gap_s = round(now - st.last_heartbeat_mono, 3)
            st.link_up = True
            self._emit(LinkRegained(self.sysid, gap_s=gap.gap_s))
        st.last_heartbeat_mono = now
        st.last_heartbeat_utc = datetime.now(UTC)
        st.mav_type = msg.type
        st.autopilot = msg.autopilot
        st.system_status = msg.system_status
        new_mode = mode_name(msg.type, msg.custom_mode)
        if msg.custom_mode != st.custom_mode:
            old = st.mode
            st.custom_mode = msg.custom_mode
            st.mode = new_mode
            if not initial:
                self._emit(ModeChanged(self.sysid, old_mode=old, new_mode=new_mode))
        armed = bool(msg.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
        if armed != st.armed:
            st.armed = armed
            if not initial:
                self._emit(ArmedChanged(self.sysid, armed=armed))
            if armed:
                st.flew = False
                st.flight_started_mono = now
                st.flight_started_boot_ms = st.boot_ms
            elif st.flight_started_mono is not None:
                # Vehicle time when the autopilot sends it (a simulator may run faster).
                if st.flight_started_boot_ms is not None and st.boot_ms is not None:
                    st.flight_time_s += max(0, st.boot_ms - st.flight_started_boot_ms) / 1000
                else:
                    st.flight_time_s += now - st.flight_started_mono
                st.flight_started_mono = None
                if (
                    not initial
                    and st.mode == "AUTO"
                    and 0 < st.mission_last_seq <= st.mission_current
                ):
                    # Disarmed in AUTO on the last item (a final LAND/RTL): the mission ended,
                    # also for autopilots that never report the last item as reached.
                    self._finish(st.mission_current)
                if st.is_copter and not initial and st.landed_state != _ON_GROUND:
                    # A copter that disarms is on the ground, whether or not (or before) its
                    # EXTENDED_SYS_STATE says so.
                    if st.landed_state is not None and st.landed_state != 0:
                        st.landed_state = _ON_GROUND
                    self._emit(Landed(self.sysid))

    def _on_message(self, msg: Any) -> None:
        if msg.get_srcSystem() != self.sysid:
            return
        mtype = msg.get_type()
        st = self.state
        boot_ms = getattr(msg, "time_boot_ms", None)
        if boot_ms is not None:
            st.boot_ms = boot_ms
        if mtype == "HEARTBEAT":
            if is_vehicle_heartbeat(msg) and msg.get_srcComponent() == self.compid:
                self._on_heartbeat(msg)
        elif mtype == "EXTENDED_SYS_STATE":
            old = st.landed_state
            st.landed_state = msg.landed_state
            if msg.landed_state in _AIRBORNE:
                st.flew = True
            if old in _AIRBORNE and msg.landed_state == _ON_GROUND:
                self._emit(Landed(self.sysid))
            elif old == _ON_GROUND and msg.landed_state in _AIRBORNE:
                self._emit(TookOff(self.sysid))
        elif mtype == "GPS_RAW_INT":
            st.gps_fix_type = msg.fix_type
        elif mtype == "EKF_STATUS_REPORT":
            st.ekf_flags = msg.flags
        elif mtype == "SYS_STATUS":
            if msg.onboard_control_sensors_present & _PREARM:
                st.prearm_ok = bool(msg.onboard_control_sensors_health & _PREARM)
        elif mtype == "MISSION_ITEM_REACHED":
            if not st.reached or st.reached[-1] != msg.seq:
                st.reached.append(msg.seq)
                self._emit(WaypointReached(self.sysid, seq=msg.seq))
            if st.mission_last_seq > 0 and msg.seq >= st.mission_last_seq:
                self._finish(msg.seq)
        elif mtype == "MISSION_CURRENT":
            st.mission_current = msg.seq
            total = getattr(msg, "total", 0)
            if total and total != 65535:
                # MAVLink: "on the last item, sequence == total" (home excluded).
                st.mission_last_seq = total
            if getattr(msg, "mission_state", 0) == _MISSION_STATE_COMPLETE:
                self._finish(msg.seq)
        elif mtype == "FENCE_STATUS":
            breached = bool(msg.breach_status)
            if breached and not st.fence_breached:
                self._emit(
                    FenceBreach(
                        self.sysid,
                        breach_type=enum_name("FENCE_BREACH", msg.breach_type),
                        breach_count=msg.breach_count,
                    )
                )
            st.fence_breached = breached
        elif mtype == "STATUSTEXT":
            text = msg.text if isinstance(msg.text, str) else msg.text.decode(errors="replace")
            text = text.rstrip("\x00")
            st.statustexts.append((time.monotonic(), msg.severity, text))
            if text.lower().startswith("mission complete") and st.mission_last_seq > 0:
                self._finish(st.mission_current)  # ArduPilot's own announcement
            if _is_failsafe_text(text):
                self._emit(Failsafe(self.sysid, reason=text, cleared="cleared" in text.lower()))

    def _finish(self, seq: int) -> None:
        if not self.state.mission_finished:
            self.state.mission_finished = True
            self._emit(MissionFinished(self.sysid, last_seq=seq))

    def mission_started(self, count: int) -> None:
        """Reset the mission progress (called by the mission upload and start)."""
        st = self.state
        st.mission_count = count
        st.mission_last_seq = count - 1
        st.reached.clear()
        st.mission_finished = False

    async def _watch_link(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            st = self.state
            silent = time.monotonic() - st.last_heartbeat_mono
            if st.link_up and silent > self.link_timeout_s:
                st.link_up = False
                st.gaps.append(LinkGap(lost_at=st.last_heartbeat_utc or datetime.now(UTC)))
                self._emit(LinkLost(self.sysid, last_heartbeat=st.last_heartbeat_utc))

    async def wait_for(
        self, predicate: Callable[[VehicleState], bool], timeout: float, what: str
    ) -> None:
        """Wait until ``predicate(state)`` holds; ``StateTimeoutError`` naming ``what``."""
        deadline = time.monotonic() + timeout
        while not predicate(self.state):
            if time.monotonic() > deadline:
                raise StateTimeoutError(
                    f"vehicle {self.sysid}: {what} not reached within {timeout:g} s "
                    f"(mode {self.state.mode}, armed {self.state.armed})"
                )
            await asyncio.sleep(0.02)

    async def wait_landed(self, timeout: float, disarmed: bool = False) -> FlightReport:
        """Wait until the flight is over and return what it was.

        Over means: disarmed, or (copter) back on the ground after having been in the air, or
        (rover) the mission finished. With ``disarmed`` the vehicle must also be disarmed
        (ArduCopter disarms by itself a few seconds after landing).
        """

        def over(s: VehicleState) -> bool:
            if not s.armed:
                return True
            if disarmed:
                return False
            if s.is_rover:
                return s.mission_finished
            return s.flew and s.landed_state == _ON_GROUND

        await self.wait_for(over, timeout, "landed and disarmed" if disarmed else "landed")
        st = self.state
        flight_time = st.flight_time_s
        if st.flight_started_mono is not None:  # still armed (rover, or copter before disarm)
            if st.flight_started_boot_ms is not None and st.boot_ms is not None:
                flight_time += (st.boot_ms - st.flight_started_boot_ms) / 1000
            else:
                flight_time += time.monotonic() - st.flight_started_mono
        return FlightReport(
            flight_time_s=round(flight_time, 1),
            waypoints_reached=len(st.reached),
            mission_finished=st.mission_finished,
            mode=st.mode,
        )

    @property
    def mission_progress(self) -> int:
        """The sequence number of the mission item being flown."""
        return self.state.mission_current

    async def wait_ready(self, timeout: float, armable: bool = True) -> None:
        """Wait for a position estimate (GPS 3D fix, EKF position) and, with ``armable``, for
        the autopilot's pre-arm checks to pass (SYS_STATUS bit, when it reports one)."""
        await self.wait_for(
            lambda s: s.position_ok and (not armable or s.prearm_ok is not False),
            timeout,
            "ready (GPS fix, EKF position" + (", pre-arm checks)" if armable else ")"),
        )

    async def wait_mission_finished(self, timeout: float) -> None:
        await self.wait_for(lambda s: s.mission_finished, timeout, "mission finished")

    # -- commands --------------------------------------------------------------------------

    def recent_texts(self, since_mono: float) -> list[str]:
        return [t for (when, _sev, t) in self.state.statustexts if when >= since_mono]

    async def command_long(
        self,
        command: int,
        params: tuple[float, ...] = (),
        *,
        timeout: float = 3.0,
        retries: int = 2,
        in_progress_timeout: float = 30.0,
        reasons_filter: Callable[[str], bool] | None = None,
    ) -> Any:
        """Send COMMAND_LONG and wait for its COMMAND_ACK.

        Retries with an increasing ``confirmation`` on timeout (MAVLink command protocol),
        keeps waiting while the ACK says MAV_RESULT_IN_PROGRESS, raises
        ``CommandDeniedError`` (with the STATUSTEXT reasons) or ``CommandTimeoutError``.
        """
        p = [float(x) for x in params] + [0.0] * (7 - len(params))
        return await self._command(
            command,
            lambda attempt: self.link.send(
                "command_long", self.sysid, self.compid, command, attempt, *p
            ),
            timeout,
            retries,
            in_progress_timeout,
            reasons_filter,
        )

    async def command_int(
        self,
        command: int,
        frame: int,
        params: tuple[float, float, float, float],
        x: int,
        y: int,
        z: float,
        *,
        timeout: float = 3.0,
        retries: int = 2,
    ) -> Any:
        """Send COMMAND_INT (positions as int degrees*1e7) and wait for its COMMAND_ACK."""
        return await self._command(
            command,
            lambda _attempt: self.link.send(
                "command_int", self.sysid, self.compid, frame, command, 0, 0, *params, x, y, z
            ),
            timeout,
            retries,
            30.0,
            None,
        )

    async def _command(
        self,
        command: int,
        send: Callable[[int], bool],
        timeout: float,
        retries: int,
        in_progress_timeout: float,
        reasons_filter: Callable[[str], bool] | None,
    ) -> Any:
        name = command_name(command)
        started = time.monotonic()
        with self.link.subscribe(["COMMAND_ACK"], self.sysid) as acks:
            for attempt in range(retries + 1):
                send(attempt)
                deadline = time.monotonic() + timeout
                while True:
                    try:
                        ack = await acks.get(max(deadline - time.monotonic(), 0.0))
                    except TimeoutError:
                        break
                    if ack.command != command:
                        continue
                    if ack.result == MAV_RESULT_IN_PROGRESS:
                        deadline = time.monotonic() + in_progress_timeout
                        continue
                    if ack.result == mavlink.MAV_RESULT_ACCEPTED:
                        return ack
                    # Autopilots send the reasons as STATUSTEXT around the ACK.
                    await asyncio.sleep(0.2)
                    texts = self.recent_texts(started - 2.0)
                    if reasons_filter is not None:
                        texts = [t for t in texts if reasons_filter(t)] or texts
                    reasons = list(dict.fromkeys(texts))
                    raise CommandDeniedError(name, enum_name("MAV_RESULT", ack.result), reasons)
        self.raise_if_lost(name)
        raise CommandTimeoutError(name, retries + 1, timeout)

    def raise_if_lost(self, what: str) -> None:
        """Raise ``LinkLostError`` when the vehicle's heartbeats have stopped."""
        st = self.state
        if not st.link_up:
            silent = time.monotonic() - st.last_heartbeat_mono
            raise LinkLostError(
                f"{what}: no answer, the link to vehicle {self.sysid} is down (no heartbeat for "
                f"{silent:.1f} s); it is re-opened automatically, retry when it is back"
            )


class _EventIterator:
    def __init__(self, vehicle: Vehicle, sub: Subscription) -> None:
        self._vehicle = vehicle
        self._sub = sub

    def __aiter__(self) -> _EventIterator:
        return self

    async def __anext__(self) -> VehicleEvent:
        try:
            event: VehicleEvent = await self._sub.__anext__()
        except StopAsyncIteration:
            self.close()
            raise
        return event

    async def get(self, timeout: float) -> VehicleEvent:
        """The next event, or ``TimeoutError`` after ``timeout`` s."""
        event: VehicleEvent = await self._sub.get(timeout)
        return event

    def close(self) -> None:
        self._sub.close()
        with contextlib.suppress(ValueError):
            self._vehicle._event_subs.remove(self._sub)
