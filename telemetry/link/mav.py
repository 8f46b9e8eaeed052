"""The MAVLink 2 dialect the link speaks, and helpers to name its enum values.

We bind the ArduPilot dialect of MAVLink 2 per connection instead of flipping pymavlink's
process-wide ``MAVLINK20`` switch, so that other code in the same process (the built-in
simulator, MAVProxy) keeps whatever it chose.
"""

from __future__ import annotations

from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

mavlink: Any = mavlink2

MAV_RESULT_IN_PROGRESS = 5


def enum_name(enum: str, value: int) -> str:
    """The MAVLink name of ``value`` in enum ``enum`` (``MAV_RESULT`` 4 → ``MAV_RESULT_FAILED``)."""
    entry = mavlink.enums.get(enum, {}).get(int(value))
    return entry.name if entry is not None else f"{enum}_{int(value)}"


def command_name(command: int) -> str:
    """The ``MAV_CMD`` name of a command number."""
    return enum_name("MAV_CMD", command)


def message_id(name: str) -> int:
    """The numeric id of a message given its name (``ATTITUDE`` → 30)."""
    key = "MAVLINK_MSG_ID_" + name.upper()
    value = getattr(mavlink, key, None)
    if value is None:
        from ..errors import LinkConfigError

        raise LinkConfigError(
            f"message: unknown MAVLink message name {name!r}; use a name such as "
            "'GLOBAL_POSITION_INT' or 'ATTITUDE'"
        )
    return int(value)
