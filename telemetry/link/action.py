"""Commands: modes by name, arm/disarm with pre-arm reasons, takeoff, mission start,
pause/continue, go to, return to launch, land and fence enable.

Every command waits for its COMMAND_ACK (``Vehicle.command_long``); commands that change the
vehicle's state also wait until the heartbeat shows the new state.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from ..errors import CommandDeniedError, LinkConfigError
from .mav import mavlink
from .modes import mode_number

if TYPE_CHECKING:
    from .vehicle import Vehicle

_FORCE_MAGIC = 21196  # MAV_CMD_COMPONENT_ARM_DISARM param2: force (skip checks)


def _is_arming_reason(text: str) -> bool:
    return "arm" in text.lower().split(":")[0]


class ActionPlugin:
    """Vehicle commands, each waiting for the autopilot's answer."""

    def __init__(self, vehicle: Vehicle) -> None:
        self._v = vehicle
        self.state_timeout_s = 5.0

    async def set_mode(self, name: str) -> None:
        """Switch to flight mode ``name`` (ArduPilot names: GUIDED, AUTO, RTL, LAND, HOLD …)."""
        v = self._v
        number = mode_number(v.state.mav_type, name)
        await v.command_long(
            mavlink.MAV_CMD_DO_SET_MODE,
            (mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, number),
        )
        await v.wait_for(
            lambda s: s.custom_mode == number, self.state_timeout_s, f"mode {name.upper()}"
        )

    async def arm(self, force: bool = False, wait_ready_s: float = 0.0) -> None:
        """Arm; ``CommandDeniedError`` carries the ``PreArm:`` reasons the autopilot sent.

        ``wait_ready_s`` > 0 keeps trying while the autopilot refuses (a vehicle that just
        booted needs a GPS fix and a settled EKF), then raises the last refusal.
        """
        v = self._v
        deadline = time.monotonic() + wait_ready_s
        while True:
            try:
                await v.command_long(
                    mavlink.MAV_CMD_COMPONENT_ARM_DISARM,
                    (1, _FORCE_MAGIC if force else 0),
                    reasons_filter=_is_arming_reason,
                )
                break
            except CommandDeniedError:
                if time.monotonic() + 0.5 > deadline:
                    raise
                await asyncio.sleep(0.5)
        await v.wait_for(lambda s: s.armed, self.state_timeout_s, "armed")

    async def disarm(self, force: bool = False) -> None:
        v = self._v
        await v.command_long(
            mavlink.MAV_CMD_COMPONENT_ARM_DISARM,
            (0, _FORCE_MAGIC if force else 0),
            reasons_filter=_is_arming_reason,
        )
        await v.wait_for(lambda s: not s.armed, self.state_timeout_s, "disarmed")

    async def takeoff(self, altitude_m: float) -> None:
        """Take off to ``altitude_m`` above home (copter, in GUIDED and armed)."""
        if not (0 < altitude_m <= 1000):
            raise LinkConfigError(
                f"takeoff altitude_m: {altitude_m} is out of range; give 0 < altitude <= 1000 m"
            )
        await self._v.command_long(
            mavlink.MAV_CMD_NAV_TAKEOFF, (0, 0, 0, float("nan"), 0, 0, altitude_m)
        )

    async def start_mission(self, first: int = 0, last: int = 0) -> None:
        """Start the uploaded mission (MAV_CMD_MISSION_START, ArduPilot switches to AUTO)."""
        v = self._v
        v.mission_started(v.state.mission_count)
        await v.command_long(mavlink.MAV_CMD_MISSION_START, (first, last))

    async def pause(self) -> None:
        """Hold position in the mission (MAV_CMD_DO_PAUSE_CONTINUE 0)."""
        await self._v.command_long(mavlink.MAV_CMD_DO_PAUSE_CONTINUE, (0,))

    async def resume(self) -> None:
        """Continue a paused mission (MAV_CMD_DO_PAUSE_CONTINUE 1)."""
        await self._v.command_long(mavlink.MAV_CMD_DO_PAUSE_CONTINUE, (1,))

    async def goto(self, lat_deg: float, lon_deg: float, alt_agl_m: float) -> None:
        """Fly/drive to a point (MAV_CMD_DO_REPOSITION, switching to GUIDED)."""
        if not (-90 <= lat_deg <= 90 and -180 <= lon_deg <= 180):
            raise LinkConfigError(
                f"goto: ({lat_deg}, {lon_deg}) is not a WGS84 lat/lon; give degrees"
            )
        await self._v.command_int(
            mavlink.MAV_CMD_DO_REPOSITION,
            mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
            (-1, mavlink.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE, 0, float("nan")),
            round(lat_deg * 1e7),
            round(lon_deg * 1e7),
            alt_agl_m,
        )

    async def _command_or_mode(self, command: int, mode: str) -> None:
        try:
            await self._v.command_long(command)
        except CommandDeniedError as exc:
            if exc.result_name != "MAV_RESULT_UNSUPPORTED":
                raise
            await self.set_mode(mode)

    async def return_to_launch(self) -> None:
        """Return to launch (MAV_CMD_NAV_RETURN_TO_LAUNCH, else mode RTL)."""
        await self._command_or_mode(mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH, "RTL")

    async def land(self) -> None:
        """Land here (MAV_CMD_NAV_LAND, else mode LAND)."""
        await self._command_or_mode(mavlink.MAV_CMD_NAV_LAND, "LAND")

    async def hold(self) -> None:
        """Stop and hold: LOITER for copters, HOLD for rovers."""
        await self.set_mode("HOLD" if self._v.state.is_rover else "LOITER")

    async def fence_enable(self, enable: bool = True) -> None:
        """Enable or disable the geofence (MAV_CMD_DO_FENCE_ENABLE)."""
        await self._v.command_long(mavlink.MAV_CMD_DO_FENCE_ENABLE, (1 if enable else 0,))
