"""Camera captures: each CAMERA_FEEDBACK (one per shutter trigger, with the pose at the
instant of capture) as a ``telemetry.contract.CameraPose``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telemetry.contract import CameraPose

    from .vehicle import Vehicle

# CAMERA_FEEDBACK.time_usec is Unix time when the autopilot has GPS time, else time since
# boot; anything after 2001 is taken as Unix time.
_UNIX_US_MIN = 1_000_000_000 * 1_000_000


def pose_from_feedback(msg: Any, received: datetime | None = None) -> CameraPose:
    """The ``CameraPose`` of a CAMERA_FEEDBACK message."""
    from telemetry.contract import CameraPose

    if msg.time_usec >= _UNIX_US_MIN:
        when = datetime.fromtimestamp(msg.time_usec / 1e6, UTC)
    else:
        when = received or datetime.now(UTC)
    return CameraPose(
        time=when,
        lat=msg.lat / 1e7,
        lon=msg.lng / 1e7,
        alt_agl_m=float(msg.alt_rel),
        alt_amsl_m=float(msg.alt_msl),
        roll_deg=float(msg.roll),
        pitch_deg=float(msg.pitch),
        yaw_deg=float(msg.yaw) % 360.0,
    )


class CameraPlugin:
    """Capture events of the vehicle's camera."""

    def __init__(self, vehicle: Vehicle) -> None:
        self._v = vehicle
        self.captures_seen = 0

    async def captures(self) -> AsyncIterator[CameraPose]:
        """One ``CameraPose`` per photo taken, from now on."""
        sub = self._v.link.subscribe(["CAMERA_FEEDBACK"], self._v.sysid, maxlen=10000)
        try:
            async for msg in sub:
                self.captures_seen += 1
                yield pose_from_feedback(msg)
        finally:
            sub.close()
