"""Stored mission, fence and rally items, as MISSION_ITEM_INT carries them.

The simulator keeps the wire fields unchanged (degE7 integers, the frame, the four params) so that
a download returns exactly what was uploaded, as ArduPilot does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

MISSION = mavlink2.MAV_MISSION_TYPE_MISSION
FENCE = mavlink2.MAV_MISSION_TYPE_FENCE
RALLY = mavlink2.MAV_MISSION_TYPE_RALLY
ALL = mavlink2.MAV_MISSION_TYPE_ALL

# Altitudes beyond this (m) are typing errors, not flights (ArduPilot stores int32 cm).
MAX_ALT_M = 100_000.0
# How many items each list may hold (ArduPilot's limits depend on the board's storage; these are
# those of a board with the usual 16 kB of storage).
CAPACITY = {MISSION: 724, FENCE: 200, RALLY: 20}

NAV_COMMANDS = frozenset(
    {
        mavlink2.MAV_CMD_NAV_WAYPOINT,
        mavlink2.MAV_CMD_NAV_LOITER_UNLIM,
        mavlink2.MAV_CMD_NAV_LOITER_TURNS,
        mavlink2.MAV_CMD_NAV_LOITER_TIME,
        mavlink2.MAV_CMD_NAV_RETURN_TO_LAUNCH,
        mavlink2.MAV_CMD_NAV_LAND,
        mavlink2.MAV_CMD_NAV_TAKEOFF,
        mavlink2.MAV_CMD_NAV_SPLINE_WAYPOINT,
        mavlink2.MAV_CMD_NAV_DELAY,
    }
)

RELATIVE_FRAMES = frozenset(
    {
        mavlink2.MAV_FRAME_GLOBAL_RELATIVE_ALT,
        mavlink2.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
        mavlink2.MAV_FRAME_GLOBAL_TERRAIN_ALT,
        mavlink2.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT,
    }
)
AMSL_FRAMES = frozenset({mavlink2.MAV_FRAME_GLOBAL, mavlink2.MAV_FRAME_GLOBAL_INT})


@dataclass(frozen=True)
class StoredItem:
    """One item of a mission, fence or rally list (MISSION_ITEM_INT fields)."""

    seq: int
    frame: int
    command: int
    current: int
    autocontinue: int
    param1: float
    param2: float
    param3: float
    param4: float
    x: int
    y: int
    z: float
    mission_type: int = MISSION

    @property
    def lat(self) -> float:
        return self.x / 1e7

    @property
    def lon(self) -> float:
        return self.y / 1e7

    @property
    def _scale(self) -> float:
        return 1.0 if self.frame == mavlink2.MAV_FRAME_MISSION else 1e7

    def with_seq(self, seq: int) -> StoredItem:
        return replace(self, seq=seq)

    @classmethod
    def from_message(cls, msg: object) -> StoredItem:
        """From a MISSION_ITEM_INT or a legacy MISSION_ITEM (float degrees)."""
        m = msg
        if m.get_type() == "MISSION_ITEM":  # type: ignore[attr-defined]
            # Degrees become degE7, except in the MISSION frame where x, y are plain numbers.
            scale = 1.0 if int(m.frame) == mavlink2.MAV_FRAME_MISSION else 1e7  # type: ignore[attr-defined]
            x = round(float(m.x) * scale)  # type: ignore[attr-defined]
            y = round(float(m.y) * scale)  # type: ignore[attr-defined]
        else:
            x, y = int(m.x), int(m.y)  # type: ignore[attr-defined]
        return cls(
            seq=int(m.seq),  # type: ignore[attr-defined]
            frame=int(m.frame),  # type: ignore[attr-defined]
            command=int(m.command),  # type: ignore[attr-defined]
            current=int(m.current),  # type: ignore[attr-defined]
            autocontinue=int(m.autocontinue),  # type: ignore[attr-defined]
            param1=float(m.param1),  # type: ignore[attr-defined]
            param2=float(m.param2),  # type: ignore[attr-defined]
            param3=float(m.param3),  # type: ignore[attr-defined]
            param4=float(m.param4),  # type: ignore[attr-defined]
            x=x,
            y=y,
            z=float(m.z),  # type: ignore[attr-defined]
            mission_type=int(getattr(m, "mission_type", 0)),
        )

    def to_int_message(self, target_system: int, target_component: int) -> object:
        return mavlink2.MAVLink_mission_item_int_message(
            target_system,
            target_component,
            self.seq,
            self.frame,
            self.command,
            self.current,
            self.autocontinue,
            self.param1,
            self.param2,
            self.param3,
            self.param4,
            self.x,
            self.y,
            self.z,
            self.mission_type,
        )

    def to_float_message(self, target_system: int, target_component: int) -> object:
        return mavlink2.MAVLink_mission_item_message(
            target_system,
            target_component,
            self.seq,
            self.frame,
            self.command,
            self.current,
            self.autocontinue,
            self.param1,
            self.param2,
            self.param3,
            self.param4,
            self.x / self._scale,
            self.y / self._scale,
            self.z,
            self.mission_type,
        )


def validate_item(item: StoredItem) -> int:
    """MAV_MISSION_RESULT for one item on its own: ACCEPTED, or the first bad field."""
    r = mavlink2
    if item.mission_type == FENCE:
        if item.command not in (
            r.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            r.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
            r.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
            r.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
            r.MAV_CMD_NAV_FENCE_RETURN_POINT,
        ):
            return r.MAV_MISSION_UNSUPPORTED
        if (
            item.command
            in (
                r.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                r.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
            )
            and item.param1 < 3
        ):
            return r.MAV_MISSION_INVALID_PARAM1
        if (
            item.command
            in (
                r.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
                r.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
            )
            and item.param1 <= 0
        ):
            return r.MAV_MISSION_INVALID_PARAM1
    elif item.mission_type == RALLY and item.command != r.MAV_CMD_NAV_RALLY_POINT:
        return r.MAV_MISSION_UNSUPPORTED
    if item.frame not in (
        r.MAV_FRAME_MISSION,
        *RELATIVE_FRAMES,
        *AMSL_FRAMES,
    ):
        return r.MAV_MISSION_UNSUPPORTED_FRAME
    if not math.isfinite(item.z) or abs(item.z) > MAX_ALT_M:
        return r.MAV_MISSION_INVALID_PARAM7
    if not -90e7 <= item.x <= 90e7:
        return r.MAV_MISSION_INVALID_PARAM5_X
    if not -180e7 <= item.y <= 180e7:
        return r.MAV_MISSION_INVALID_PARAM6_Y
    return r.MAV_MISSION_ACCEPTED


def validate_fence(items: list[StoredItem]) -> int:
    """Polygon vertices must come in complete groups of the count each vertex announces."""
    r = mavlink2
    i = 0
    while i < len(items):
        item = items[i]
        if item.command in (
            r.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            r.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
        ):
            count = int(item.param1)
            group = items[i : i + count]
            if len(group) < count or any(
                g.command != item.command or int(g.param1) != count for g in group
            ):
                return r.MAV_MISSION_INVALID_PARAM1
            i += count
        else:
            i += 1
    return r.MAV_MISSION_ACCEPTED
