"""Telemetry: message rates (SET_MESSAGE_INTERVAL) and async streams of typed samples.

Each stream subscribes to the MAVLink messages it needs and yields a small frozen dataclass
per message; a consumer that falls behind loses the oldest samples (bounded queue), it never
slows the link. ``samples()`` merges every kind for the MQTT bridge and the sortie record.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from .mav import enum_name, mavlink, message_id
from .modes import mode_name

if TYPE_CHECKING:
    from .vehicle import Vehicle


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Sample:
    kind: ClassVar[str] = "sample"
    time: datetime = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = self.time.isoformat()
        data["kind"] = self.kind
        return data


@dataclass(frozen=True)
class Position(Sample):
    kind: ClassVar[str] = "position"
    lat: float = 0.0
    lon: float = 0.0
    alt_amsl_m: float = 0.0
    alt_agl_m: float = 0.0
    heading_deg: float = 0.0
    ground_speed_m_s: float = 0.0

    @property
    def relative_alt_m(self) -> float:
        """Altitude above home (same as ``alt_agl_m``; MAVSDK's name)."""
        return self.alt_agl_m


@dataclass(frozen=True)
class Attitude(Sample):
    kind: ClassVar[str] = "attitude"
    roll_deg: float = 0.0
    pitch_deg: float = 0.0
    yaw_deg: float = 0.0


@dataclass(frozen=True)
class VelocityNed(Sample):
    kind: ClassVar[str] = "velocity"
    north_m_s: float = 0.0
    east_m_s: float = 0.0
    down_m_s: float = 0.0

    @property
    def ground_speed_m_s(self) -> float:
        return math.hypot(self.north_m_s, self.east_m_s)


@dataclass(frozen=True)
class Battery(Sample):
    kind: ClassVar[str] = "battery"
    voltage_v: float = 0.0
    current_a: float | None = None
    remaining_pct: int | None = None


@dataclass(frozen=True)
class GpsInfo(Sample):
    kind: ClassVar[str] = "gps"
    fix_type: str = ""
    satellites: int = 0
    hdop: float | None = None


@dataclass(frozen=True)
class FlightMode(Sample):
    kind: ClassVar[str] = "mode"
    mode: str = ""


@dataclass(frozen=True)
class ArmedState(Sample):
    kind: ClassVar[str] = "armed"
    armed: bool = False


@dataclass(frozen=True)
class MissionProgress(Sample):
    kind: ClassVar[str] = "mission_current"
    current: int = 0
    total: int = 0


@dataclass(frozen=True)
class MissionReached(Sample):
    kind: ClassVar[str] = "mission_reached"
    seq: int = 0


@dataclass(frozen=True)
class FenceStatus(Sample):
    kind: ClassVar[str] = "fence"
    breached: bool = False
    breach_count: int = 0
    breach_type: str = ""


@dataclass(frozen=True)
class EkfStatus(Sample):
    kind: ClassVar[str] = "ekf"
    flags: int = 0
    healthy: bool = False
    velocity_variance: float = 0.0
    pos_horiz_variance: float = 0.0


@dataclass(frozen=True)
class StatusText(Sample):
    kind: ClassVar[str] = "statustext"
    severity: str = ""
    text: str = ""


# EKF flags that must all be set for a usable position solution (ArduPilot's own check).
_EKF_GOOD = (
    mavlink.EKF_ATTITUDE
    | mavlink.EKF_VELOCITY_HORIZ
    | mavlink.EKF_POS_HORIZ_ABS
    | mavlink.EKF_PRED_POS_HORIZ_ABS
)


def _text(raw: Any) -> str:
    text = raw if isinstance(raw, str) else bytes(raw).decode(errors="replace")
    return text.rstrip("\x00")


def _convert(msg: Any, mav_type: int) -> Sample | None:
    t = msg.get_type()
    if t == "GLOBAL_POSITION_INT":
        hdg = msg.hdg / 100.0 if msg.hdg != 65535 else float("nan")
        return Position(
            lat=msg.lat / 1e7,
            lon=msg.lon / 1e7,
            alt_amsl_m=msg.alt / 1000.0,
            alt_agl_m=msg.relative_alt / 1000.0,
            heading_deg=hdg,
            ground_speed_m_s=math.hypot(msg.vx, msg.vy) / 100.0,
        )
    if t == "ATTITUDE":
        return Attitude(
            roll_deg=math.degrees(msg.roll),
            pitch_deg=math.degrees(msg.pitch),
            yaw_deg=math.degrees(msg.yaw) % 360.0,
        )
    if t == "SYS_STATUS":
        return Battery(
            voltage_v=msg.voltage_battery / 1000.0,
            current_a=msg.current_battery / 100.0 if msg.current_battery >= 0 else None,
            remaining_pct=msg.battery_remaining if msg.battery_remaining >= 0 else None,
        )
    if t == "GPS_RAW_INT":
        return GpsInfo(
            fix_type=enum_name("GPS_FIX_TYPE", msg.fix_type),
            satellites=msg.satellites_visible if msg.satellites_visible != 255 else 0,
            hdop=msg.eph / 100.0 if msg.eph != 65535 else None,
        )
    if t == "HEARTBEAT":
        return FlightMode(mode=mode_name(msg.type, msg.custom_mode))
    if t == "MISSION_CURRENT":
        total = getattr(msg, "total", 0)
        return MissionProgress(current=msg.seq, total=0 if total == 65535 else total)
    if t == "MISSION_ITEM_REACHED":
        return MissionReached(seq=msg.seq)
    if t == "FENCE_STATUS":
        return FenceStatus(
            breached=bool(msg.breach_status),
            breach_count=msg.breach_count,
            breach_type=enum_name("FENCE_BREACH", msg.breach_type),
        )
    if t == "EKF_STATUS_REPORT":
        return EkfStatus(
            flags=msg.flags,
            healthy=(msg.flags & _EKF_GOOD) == _EKF_GOOD,
            velocity_variance=msg.velocity_variance,
            pos_horiz_variance=msg.pos_horiz_variance,
        )
    if t == "STATUSTEXT":
        return StatusText(severity=enum_name("MAV_SEVERITY", msg.severity), text=_text(msg.text))
    return None


_ALL_TYPES = (
    "GLOBAL_POSITION_INT",
    "ATTITUDE",
    "SYS_STATUS",
    "GPS_RAW_INT",
    "HEARTBEAT",
    "MISSION_CURRENT",
    "MISSION_ITEM_REACHED",
    "FENCE_STATUS",
    "EKF_STATUS_REPORT",
    "STATUSTEXT",
)


class TelemetryPlugin:
    """Message rates and typed telemetry streams of one vehicle."""

    def __init__(self, vehicle: Vehicle) -> None:
        self._v = vehicle

    async def set_rate(self, message: str | int, hz: float) -> None:
        """Ask for ``message`` at ``hz`` (0 stops it) with MAV_CMD_SET_MESSAGE_INTERVAL."""
        msg_id = message if isinstance(message, int) else message_id(message)
        interval_us = -1.0 if hz <= 0 else 1e6 / hz
        await self._v.command_long(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, (msg_id, interval_us))

    async def _stream(
        self,
        types: Iterable[str],
        convert: Callable[[Any], Any | None],
        maxlen: int = 100,
    ) -> AsyncIterator[Any]:
        sub = self._v.link.subscribe(types, self._v.sysid, maxlen=maxlen)
        try:
            async for msg in sub:
                sample = convert(msg)
                if sample is not None:
                    yield sample
        finally:
            sub.close()

    def _typed(self, *types: str) -> AsyncIterator[Any]:
        v = self._v

        def convert(msg: Any) -> Sample | None:
            if msg.get_type() == "HEARTBEAT" and msg.get_srcComponent() != v.compid:
                return None
            return _convert(msg, v.state.mav_type)

        return self._stream(types, convert)

    def position(self) -> AsyncIterator[Position]:
        return self._typed("GLOBAL_POSITION_INT")

    def attitude(self) -> AsyncIterator[Attitude]:
        return self._typed("ATTITUDE")

    def velocity(self) -> AsyncIterator[VelocityNed]:
        def convert(msg: Any) -> VelocityNed:
            return VelocityNed(north_m_s=msg.vx / 100, east_m_s=msg.vy / 100, down_m_s=msg.vz / 100)

        return self._stream(["GLOBAL_POSITION_INT"], convert)

    def battery(self) -> AsyncIterator[Battery]:
        return self._typed("SYS_STATUS")

    def gps(self) -> AsyncIterator[GpsInfo]:
        return self._typed("GPS_RAW_INT")

    def mission_current(self) -> AsyncIterator[MissionProgress]:
        return self._typed("MISSION_CURRENT")

    def mission_reached(self) -> AsyncIterator[MissionReached]:
        return self._typed("MISSION_ITEM_REACHED")

    def fence(self) -> AsyncIterator[FenceStatus]:
        return self._typed("FENCE_STATUS")

    def ekf(self) -> AsyncIterator[EkfStatus]:
        return self._typed("EKF_STATUS_REPORT")

    def statustext(self) -> AsyncIterator[StatusText]:
        return self._typed("STATUSTEXT")

    async def flight_mode(self) -> AsyncIterator[FlightMode]:
        """The flight mode, once now and then at each change."""
        last = None
        async for sample in self._typed("HEARTBEAT"):
            if sample.mode != last:
                last = sample.mode
                yield sample

    async def armed(self) -> AsyncIterator[ArmedState]:
        """The armed state, once now and then at each change."""
        last: bool | None = None
        v = self._v
        async for msg in self._stream(["HEARTBEAT"], lambda m: m):
            if msg.get_srcComponent() != v.compid:
                continue
            armed = bool(msg.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
            if armed != last:
                last = armed
                yield ArmedState(armed=armed)

    def samples(self) -> AsyncIterator[Sample]:
        """Every kind of sample above, merged in arrival order."""
        return self._typed(*_ALL_TYPES)
