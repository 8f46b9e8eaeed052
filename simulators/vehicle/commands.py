"""COMMAND_LONG / COMMAND_INT handling of the simulator, answered with COMMAND_ACK like ArduPilot.

Results follow ArduPilot: arming refused by a check → MAV_RESULT_FAILED (after "PreArm: ..."
status texts), a command not valid in the vehicle's state → MAV_RESULT_FAILED or DENIED, an
unknown command → MAV_RESULT_UNSUPPORTED.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from simulators.vehicle.items import AMSL_FRAMES
from simulators.vehicle.model import FORCE_ARM_MAGIC, Vehicle
from simulators.vehicle.modes import mode_name, modes_for
from simulators.vehicle.streams import StreamScheduler

M = mavlink2
ACCEPTED = M.MAV_RESULT_ACCEPTED
FAILED = M.MAV_RESULT_FAILED
DENIED = M.MAV_RESULT_DENIED
UNSUPPORTED = M.MAV_RESULT_UNSUPPORTED


@dataclass
class Command:
    """A command from COMMAND_LONG or COMMAND_INT, latitude/longitude in degrees."""

    command: int
    p1: float
    p2: float
    p3: float
    p4: float
    p5: float
    p6: float
    p7: float
    frame: int
    is_int: bool

    @classmethod
    def from_message(cls, msg: Any) -> Command:
        """NaN or infinite params become 0 (MAVLink's "unchanged"), except param7, where NaN
        keeps its meaning "keep the altitude"."""
        if msg.get_type() == "COMMAND_INT":
            p5, p6 = msg.x / 1e7, msg.y / 1e7
            frame, is_int = int(msg.frame), True
            p7 = msg.z
        else:
            p5, p6 = msg.param5, msg.param6
            frame, is_int = M.MAV_FRAME_GLOBAL_RELATIVE_ALT, False
            p7 = msg.param7
        p1, p2, p3, p4, p5, p6 = (
            _finite(x) for x in (msg.param1, msg.param2, msg.param3, msg.param4, p5, p6)
        )
        p7 = float(p7) if math.isfinite(p7) else math.nan
        return cls(int(msg.command), p1, p2, p3, p4, p5, p6, p7, frame, is_int)

    def alt_rel(self, vehicle: Vehicle) -> float | None:
        """param7/z as altitude above home, or None when it says "keep the altitude"."""
        if self.p7 != self.p7:  # NaN: unchanged
            return None
        if self.frame in AMSL_FRAMES:
            return self.p7 - vehicle.home_alt_amsl_m
        return self.p7


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0


class CommandHandler:
    """Turns commands into vehicle actions and results."""

    def __init__(
        self,
        vehicle: Vehicle,
        streams: StreamScheduler,
        send_message_now: Callable[[int], bool],
    ) -> None:
        self.vehicle = vehicle
        self.streams = streams
        self.send_message_now = send_message_now

    def handle(self, cmd: Command) -> int:
        v = self.vehicle
        c = cmd.command
        if c == M.MAV_CMD_COMPONENT_ARM_DISARM:
            force = round(cmd.p2) == FORCE_ARM_MAGIC
            if cmd.p1 == 1:
                ok, _texts = v.arm(force=force)
                return ACCEPTED if ok else FAILED
            return ACCEPTED if v.disarm(force=force) else FAILED
        if c == M.MAV_CMD_DO_SET_MODE:
            name = mode_name(v.kind, int(cmd.p2))
            if name is None:
                return UNSUPPORTED
            return self._mode(name)
        if c == M.MAV_CMD_NAV_TAKEOFF:
            ok, reason = v.takeoff(cmd.p7)
            if not ok:
                v.text("warning", reason)
            return ACCEPTED if ok else FAILED
        if c == M.MAV_CMD_MISSION_START:
            ok, reason = v.start_mission(int(cmd.p1), int(cmd.p2))
            if not ok:
                v.text("warning", reason)
            return ACCEPTED if ok else FAILED
        if c == M.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            return self._mode("RTL")
        if c == M.MAV_CMD_NAV_LAND:
            return self._mode("LAND") if v.is_copter else UNSUPPORTED
        if c == M.MAV_CMD_NAV_LOITER_UNLIM:
            return self._mode("LOITER" if v.is_copter else "HOLD")
        if c == M.MAV_CMD_DO_REPOSITION:
            return self._reposition(cmd)
        if c == M.MAV_CMD_DO_PAUSE_CONTINUE:
            return ACCEPTED if v.pause(int(cmd.p1) == 0) else FAILED
        if c == M.MAV_CMD_DO_CHANGE_SPEED:
            if cmd.p2 <= 0:
                return FAILED
            v.set_speed(cmd.p2)
            if v.nav is not None and v.mode == "GUIDED":
                v.nav.speed = v.speed_override
            return ACCEPTED
        if c == M.MAV_CMD_DO_FENCE_ENABLE:
            if int(cmd.p1) not in (0, 1, 2):
                return FAILED
            v.do_command(c, cmd.p1, 0, 0, 0, 0, 0, 0)
            return ACCEPTED
        if c == M.MAV_CMD_DO_SET_HOME:
            if cmd.p1 != 1 and not (-90 <= cmd.p5 <= 90 and -180 <= cmd.p6 <= 180):
                return FAILED
            if not math.isfinite(cmd.p7):
                alt_amsl = v.ground_amsl_m + v.body.u
            elif cmd.frame in AMSL_FRAMES:
                alt_amsl = cmd.p7
            else:
                alt_amsl = cmd.p7 + v.home_alt_amsl_m
            v.do_command(c, cmd.p1, 0, 0, 0, cmd.p5, cmd.p6, alt_amsl)
            return ACCEPTED
        if c in (
            M.MAV_CMD_DO_DIGICAM_CONTROL,
            M.MAV_CMD_DO_SET_CAM_TRIGG_DIST,
            M.MAV_CMD_IMAGE_START_CAPTURE,
        ):
            if c == M.MAV_CMD_IMAGE_START_CAPTURE:
                v.trigger_camera()
                return ACCEPTED
            v.do_command(c, cmd.p1, cmd.p2, cmd.p3, cmd.p4, cmd.p5, cmd.p6, cmd.p7)
            return ACCEPTED
        if c == M.MAV_CMD_SET_MESSAGE_INTERVAL:
            return ACCEPTED if self.streams.set_interval(int(cmd.p1), cmd.p2) else FAILED
        if c == M.MAV_CMD_GET_MESSAGE_INTERVAL:
            return ACCEPTED if self.send_message_now(-int(cmd.p1)) else FAILED
        if c == M.MAV_CMD_REQUEST_MESSAGE:
            return ACCEPTED if self.send_message_now(int(cmd.p1)) else FAILED
        if c == M.MAV_CMD_GET_HOME_POSITION:
            self.send_message_now(M.MAVLINK_MSG_ID_HOME_POSITION)
            return ACCEPTED
        if c == M.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES:
            self.send_message_now(M.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
            return ACCEPTED
        if c == M.MAV_CMD_CONDITION_YAW:
            return ACCEPTED if v.armed and not v.landed else FAILED
        return UNSUPPORTED

    def _mode(self, name: str) -> int:
        ok, reason = self.vehicle.set_mode(name)
        if not ok:
            self.vehicle.text("warning", reason)
        return ACCEPTED if ok else FAILED

    def _reposition(self, cmd: Command) -> int:
        v = self.vehicle
        if int(cmd.p2) & M.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE and v.mode != "GUIDED":
            ok, _ = v.set_mode("GUIDED")
            if not ok:
                return FAILED
        if v.mode != "GUIDED":
            return DENIED
        if not (-90 <= cmd.p5 <= 90 and -180 <= cmd.p6 <= 180):
            return FAILED
        lat, lon = cmd.p5, cmd.p6
        if lat == 0 and lon == 0:  # no position given: stay here (ArduPilot)
            lat, lon = v.plane.to_latlon(v.body.n, v.body.e)
        speed = cmd.p1 if cmd.p1 > 0 else None
        return ACCEPTED if v.goto(lat, lon, cmd.alt_rel(v), speed) else FAILED


def set_mode_message(vehicle: Vehicle, msg: Any) -> int:
    """The legacy SET_MODE message (MAVProxy's `mode` command); result as for DO_SET_MODE."""
    if not int(msg.base_mode) & M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
        return UNSUPPORTED
    name = mode_name(vehicle.kind, int(msg.custom_mode))
    if name is None or name not in modes_for(vehicle.kind):
        return UNSUPPORTED
    ok, reason = vehicle.set_mode(name)
    if not ok:
        vehicle.text("warning", reason)
    return ACCEPTED if ok else FAILED
