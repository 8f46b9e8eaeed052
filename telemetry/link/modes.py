"""ArduPilot flight modes by name, per vehicle type (custom_mode numbers of the HEARTBEAT)."""

from __future__ import annotations

from pymavlink import mavutil

from ..errors import ModeError


def mode_table(mav_type: int) -> dict[str, int]:
    """Mode name → ArduPilot custom mode number for a ``MAV_TYPE`` (copter, rover, plane ...)."""
    table = mavutil.mode_mapping_byname(mav_type)
    return dict(table) if table else {}


def mode_number(mav_type: int, name: str) -> int:
    """The custom mode number of ``name``; ``ModeError`` listing the valid names if unknown."""
    table = mode_table(mav_type)
    key = name.strip().upper().replace(" ", "_")
    if key not in table:
        valid = ", ".join(sorted(table)) or "(none known for this vehicle type)"
        raise ModeError(f"mode: {name!r} is not a flight mode of this vehicle; use one of {valid}")
    return table[key]


def mode_name(mav_type: int, custom_mode: int) -> str:
    """The name of a custom mode number, or ``MODE(n)`` when not in the table."""
    table = mavutil.mode_mapping_bynumber(mav_type) or {}
    return str(table.get(custom_mode, f"MODE({custom_mode})"))
