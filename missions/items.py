"""MAVLink mission items (MISSION_ITEM_INT semantics) and the MAV_CMD / MAV_FRAME numbers we use.

Positions are kept in degrees here; the link multiplies by 1e7 for the wire. They are rounded
to 1e-7 degree (the wire's resolution) when an item is built, so file round trips are exact.
Item 0 of a mission is the home position (ArduPilot convention).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# MAV_FRAME
MAV_FRAME_GLOBAL = 0
MAV_FRAME_MISSION = 2
MAV_FRAME_GLOBAL_RELATIVE_ALT = 3
MAV_FRAME_GLOBAL_INT = 5
MAV_FRAME_GLOBAL_RELATIVE_ALT_INT = 6
MAV_FRAME_GLOBAL_TERRAIN_ALT = 10

# MAV_CMD: navigation
MAV_CMD_NAV_WAYPOINT = 16
MAV_CMD_NAV_LOITER_UNLIM = 17
MAV_CMD_NAV_LOITER_TURNS = 18
MAV_CMD_NAV_LOITER_TIME = 19
MAV_CMD_NAV_RETURN_TO_LAUNCH = 20
MAV_CMD_NAV_LAND = 21
MAV_CMD_NAV_TAKEOFF = 22
MAV_CMD_NAV_SPLINE_WAYPOINT = 82
# MAV_CMD: do / condition
MAV_CMD_DO_JUMP = 177
MAV_CMD_DO_CHANGE_SPEED = 178
MAV_CMD_DO_SET_ROI_LOCATION = 195
MAV_CMD_DO_SET_ROI_NONE = 197
MAV_CMD_DO_DIGICAM_CONTROL = 203
MAV_CMD_DO_MOUNT_CONTROL = 205
MAV_CMD_DO_SET_CAM_TRIGG_DIST = 206
MAV_CMD_CONDITION_YAW = 115
MAV_CMD_IMAGE_START_CAPTURE = 2000
MAV_CMD_IMAGE_STOP_CAPTURE = 2001
# MAV_CMD: fence and rally (mission_type 1 and 2)
MAV_CMD_NAV_FENCE_RETURN_POINT = 5000
MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION = 5003
MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION = 5004
MAV_CMD_NAV_RALLY_POINT = 5100

# MAV_MISSION_TYPE
MAV_MISSION_TYPE_MISSION = 0
MAV_MISSION_TYPE_FENCE = 1
MAV_MISSION_TYPE_RALLY = 2

#: Commands whose lat/lon/alt is a place the vehicle flies to.
NAV_POSITION_COMMANDS = frozenset(
    {
        MAV_CMD_NAV_WAYPOINT,
        MAV_CMD_NAV_LOITER_UNLIM,
        MAV_CMD_NAV_LOITER_TURNS,
        MAV_CMD_NAV_LOITER_TIME,
        MAV_CMD_NAV_LAND,
        MAV_CMD_NAV_TAKEOFF,
        MAV_CMD_NAV_SPLINE_WAYPOINT,
    }
)
#: Commands that do not move the vehicle (safe to ignore for the fence check).
NON_NAV_COMMANDS = frozenset(
    {
        MAV_CMD_DO_CHANGE_SPEED,
        MAV_CMD_DO_SET_ROI_LOCATION,
        MAV_CMD_DO_SET_ROI_NONE,
        MAV_CMD_DO_DIGICAM_CONTROL,
        MAV_CMD_DO_MOUNT_CONTROL,
        MAV_CMD_DO_SET_CAM_TRIGG_DIST,
        MAV_CMD_CONDITION_YAW,
        MAV_CMD_IMAGE_START_CAPTURE,
        MAV_CMD_IMAGE_STOP_CAPTURE,
    }
)
COMMAND_NAMES = {
    value: name.removeprefix("MAV_CMD_")
    for name, value in dict(globals()).items()
    if name.startswith("MAV_CMD_") and isinstance(value, int)
}


@dataclass(frozen=True)
class MissionItem:
    """One MISSION_ITEM_INT: lat/lon in degrees, alt in metres in the given frame."""

    seq: int
    frame: int
    command: int
    current: int
    autocontinue: int
    param1: float
    param2: float
    param3: float
    param4: float
    lat_deg: float
    lon_deg: float
    alt_m: float
    mission_type: int = 0

    @property
    def command_name(self) -> str:
        return COMMAND_NAMES.get(self.command, str(self.command))

    @property
    def has_position(self) -> bool:
        return not (self.lat_deg == 0.0 and self.lon_deg == 0.0)

    def with_seq(self, seq: int) -> MissionItem:
        # Built directly: dataclasses.replace is slow for the hundreds of items of a survey.
        return MissionItem(
            seq,
            self.frame,
            self.command,
            1 if seq == 0 and self.mission_type == 0 else 0,
            self.autocontinue,
            self.param1,
            self.param2,
            self.param3,
            self.param4,
            self.lat_deg,
            self.lon_deg,
            self.alt_m,
            self.mission_type,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "frame": self.frame,
            "command": self.command,
            "current": self.current,
            "autocontinue": self.autocontinue,
            "param1": self.param1,
            "param2": self.param2,
            "param3": self.param3,
            "param4": self.param4,
            "lat_deg": self.lat_deg,
            "lon_deg": self.lon_deg,
            "alt_m": self.alt_m,
            "mission_type": self.mission_type,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MissionItem:
        return cls(
            seq=int(data["seq"]),
            frame=int(data["frame"]),
            command=int(data["command"]),
            current=int(data.get("current", 0)),
            autocontinue=int(data.get("autocontinue", 1)),
            param1=float(data.get("param1", 0.0)),
            param2=float(data.get("param2", 0.0)),
            param3=float(data.get("param3", 0.0)),
            param4=float(data.get("param4", 0.0)),
            lat_deg=float(data["lat_deg"]),
            lon_deg=float(data["lon_deg"]),
            alt_m=float(data["alt_m"]),
            mission_type=int(data.get("mission_type", 0)),
        )


def make_item(
    command: int,
    lon: float = 0.0,
    lat: float = 0.0,
    alt_m: float = 0.0,
    params: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
    frame: int = MAV_FRAME_GLOBAL_RELATIVE_ALT,
    mission_type: int = MAV_MISSION_TYPE_MISSION,
    seq: int = 0,
) -> MissionItem:
    """Build an item with the position rounded to the wire's 1e-7 degree resolution."""
    return MissionItem(
        seq=seq,
        frame=frame,
        command=command,
        current=0,
        autocontinue=1,
        param1=float(params[0]),
        param2=float(params[1]),
        param3=float(params[2]),
        param4=float(params[3]),
        lat_deg=round(float(lat), 7),
        lon_deg=round(float(lon), 7),
        alt_m=round(float(alt_m), 3),
        mission_type=mission_type,
    )


def renumber(items: list[MissionItem]) -> list[MissionItem]:
    """Sequence numbers 0..n-1; item 0 of a mission is marked current (home)."""
    return [item.with_seq(i) for i, item in enumerate(items)]
