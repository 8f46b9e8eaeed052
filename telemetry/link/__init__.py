"""MAVLink vehicle link: connect by URL, mission/fence/rally transfer, commands, telemetry
streams, camera captures, events and a ``.tlog`` of the whole conversation.

    from telemetry.link import Vehicle

    async with Vehicle.connect("tcp:127.0.0.1:5760", timeout=10) as v:
        await v.mission.upload(items)
        await v.action.arm()
"""

from __future__ import annotations

from .connection import Link
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
from .telemetry import (
    ArmedState,
    Attitude,
    Battery,
    EkfStatus,
    FenceStatus,
    FlightMode,
    GpsInfo,
    MissionProgress,
    MissionReached,
    Position,
    Sample,
    StatusText,
    VelocityNed,
)
from .url import LinkUrl, parse_url
from .vehicle import FlightReport, LinkGap, Vehicle, VehicleState

__all__ = [
    "ArmedChanged",
    "ArmedState",
    "Attitude",
    "Battery",
    "EkfStatus",
    "Failsafe",
    "FenceBreach",
    "FenceStatus",
    "FlightMode",
    "FlightReport",
    "GpsInfo",
    "Landed",
    "Link",
    "LinkGap",
    "LinkLost",
    "LinkRegained",
    "LinkUrl",
    "MissionFinished",
    "MissionProgress",
    "MissionReached",
    "ModeChanged",
    "Position",
    "Sample",
    "StatusText",
    "TookOff",
    "Vehicle",
    "VehicleEvent",
    "VehicleState",
    "VelocityNed",
    "WaypointReached",
    "parse_url",
]
