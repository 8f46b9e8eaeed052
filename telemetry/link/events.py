"""Typed vehicle events: what happened to a vehicle, derived from its MAVLink stream.

Events are what the layers above record (sortie record, audit log, MQTT ``event`` topic);
the link itself never writes anywhere but the ``.tlog``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class VehicleEvent:
    """Base of all events; ``kind`` names the event on the wire."""

    kind: ClassVar[str] = "event"
    sysid: int
    time: datetime = field(default_factory=utcnow)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = self.time.isoformat()
        data["kind"] = self.kind
        return data


@dataclass(frozen=True)
class ModeChanged(VehicleEvent):
    kind: ClassVar[str] = "mode_changed"
    old_mode: str = ""
    new_mode: str = ""


@dataclass(frozen=True)
class ArmedChanged(VehicleEvent):
    kind: ClassVar[str] = "armed_changed"
    armed: bool = False


@dataclass(frozen=True)
class WaypointReached(VehicleEvent):
    kind: ClassVar[str] = "waypoint_reached"
    seq: int = 0


@dataclass(frozen=True)
class MissionFinished(VehicleEvent):
    kind: ClassVar[str] = "mission_finished"
    last_seq: int = 0


@dataclass(frozen=True)
class TookOff(VehicleEvent):
    kind: ClassVar[str] = "took_off"


@dataclass(frozen=True)
class Landed(VehicleEvent):
    kind: ClassVar[str] = "landed"


@dataclass(frozen=True)
class FenceBreach(VehicleEvent):
    kind: ClassVar[str] = "fence_breach"
    breach_type: str = ""
    breach_count: int = 0


@dataclass(frozen=True)
class Failsafe(VehicleEvent):
    kind: ClassVar[str] = "failsafe"
    reason: str = ""
    cleared: bool = False


@dataclass(frozen=True)
class LinkLost(VehicleEvent):
    kind: ClassVar[str] = "link_lost"
    last_heartbeat: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if self.last_heartbeat is not None:
            data["last_heartbeat"] = self.last_heartbeat.isoformat()
        return data


@dataclass(frozen=True)
class LinkRegained(VehicleEvent):
    kind: ClassVar[str] = "link_regained"
    gap_s: float = 0.0


EVENT_TYPES: tuple[type[VehicleEvent], ...] = (
    ModeChanged,
    ArmedChanged,
    WaypointReached,
    MissionFinished,
    TookOff,
    Landed,
    FenceBreach,
    Failsafe,
    LinkLost,
    LinkRegained,
)
