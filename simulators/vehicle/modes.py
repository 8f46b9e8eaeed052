"""ArduPilot flight modes (custom_mode numbers) and MAVLink vehicle types of the simulator.

The numbers are ArduPilot's own (ArduCopter `Mode::Number`, ArduRover `Mode::Number`) so that any
ground station that knows ArduPilot shows the right mode names.
"""

from __future__ import annotations

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

COPTER_MODES: dict[str, int] = {
    "STABILIZE": 0,
    "AUTO": 3,
    "GUIDED": 4,
    "LOITER": 5,
    "RTL": 6,
    "LAND": 9,
    "BRAKE": 17,
}
ROVER_MODES: dict[str, int] = {
    "MANUAL": 0,
    "HOLD": 4,
    "AUTO": 10,
    "RTL": 11,
    "SMART_RTL": 12,
    "GUIDED": 15,
}

MAV_TYPE: dict[str, int] = {
    "copter": mavlink2.MAV_TYPE_QUADROTOR,
    "rover": mavlink2.MAV_TYPE_GROUND_ROVER,
}

# Modes a vehicle may be armed in (ArduPilot `Mode::allows_arming`); AUTO also needs AUTO_OPTIONS
# bit 0 on a copter, as in ArduPilot.
COPTER_ARMABLE = frozenset({"STABILIZE", "GUIDED", "LOITER", "AUTO"})
ROVER_ARMABLE = frozenset({"MANUAL", "HOLD", "AUTO", "GUIDED"})

# Modes that need a position estimate (GPS + EKF), as `Mode::requires_GPS` in ArduPilot.
NEEDS_POSITION = frozenset({"AUTO", "GUIDED", "LOITER", "RTL", "SMART_RTL", "BRAKE"})


def modes_for(kind: str) -> dict[str, int]:
    """The name → custom_mode table of a vehicle kind ("copter" or "rover")."""
    return COPTER_MODES if kind == "copter" else ROVER_MODES


def mode_name(kind: str, number: int) -> str | None:
    """The name of custom mode `number` for `kind`, or None when ArduPilot has no such mode here."""
    for name, value in modes_for(kind).items():
        if value == number:
            return name
    return None
