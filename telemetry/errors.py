"""Exceptions raised by the MAVLink vehicle link (``telemetry.link``).

Every failure of the link has its own type so that callers (the CLI, the mission runner,
the gateway) can tell an autopilot that refused something from one that never answered, and
every exception carries the MAVLink reason (the ``MAV_RESULT`` / ``MAV_MISSION_RESULT`` name,
and for arming the ``PreArm:`` texts the autopilot sent).
"""

from __future__ import annotations


class LinkError(Exception):
    """Base class of every error of the vehicle link."""


class LinkConfigError(LinkError, ValueError):
    """A user-supplied connection setting is wrong (URL, mode name, mission item ...)."""


class ConnectionFailedError(LinkError):
    """The transport could not be opened (port refused, serial device missing ...)."""


class LinkTimeoutError(LinkError, TimeoutError):
    """Base class of every wait of the link that ran out of time."""


class HeartbeatTimeoutError(LinkTimeoutError):
    """No autopilot heartbeat arrived on the link within the connect timeout."""


class CommandTimeoutError(LinkTimeoutError):
    """A COMMAND_LONG/COMMAND_INT got no final COMMAND_ACK after all retries."""

    def __init__(self, command: str, attempts: int, timeout_s: float) -> None:
        self.command = command
        self.attempts = attempts
        self.timeout_s = timeout_s
        super().__init__(
            f"{command}: no COMMAND_ACK after {attempts} attempt(s) of {timeout_s:g} s; "
            "check the link and that the autopilot supports the command"
        )


class MissionTimeoutError(LinkTimeoutError):
    """A mission-protocol transfer stopped: the autopilot stopped answering."""

    def __init__(self, operation: str, mission_type: str, detail: str) -> None:
        self.operation = operation
        self.mission_type = mission_type
        self.items_sent = 0
        super().__init__(f"{mission_type} {operation} timed out: {detail}")


class StateTimeoutError(LinkTimeoutError):
    """The vehicle did not reach an expected state (mode, armed, landed ...) in time."""


class LinkClosedError(LinkError):
    """The link was closed (by us) while an operation was waiting on it."""


class LinkLostError(LinkTimeoutError):
    """The link to the vehicle is down (no heartbeat) while an operation waited on it."""


class MissionUploadError(LinkError):
    """The autopilot refused (NACKed) a mission, fence or rally transfer.

    ``result_name`` is the ``MAV_MISSION_RESULT`` name (e.g. ``MAV_MISSION_INVALID_SEQUENCE``)
    or, for failures detected on our side, a descriptive name in the same style.
    """

    def __init__(self, result_name: str, message: str = "", mission_type: str = "mission") -> None:
        self.result_name = result_name
        self.mission_type = mission_type
        self.items_sent = 0
        text = message or f"{mission_type} transfer refused by the autopilot"
        super().__init__(f"{text} ({result_name})")


class MissionSequenceError(MissionUploadError):
    """The autopilot asked for items out of sequence or out of range."""


class MissionVerifyError(MissionUploadError):
    """The read-back of an upload differs from what was sent."""

    def __init__(self, mission_type: str, differences: list[str]) -> None:
        self.differences = differences
        shown = "; ".join(differences[:5])
        more = f" (+{len(differences) - 5} more)" if len(differences) > 5 else ""
        super().__init__(
            "VERIFY_MISMATCH",
            f"{mission_type} read back from the vehicle differs from the upload: {shown}{more}",
            mission_type,
        )


class MissionDownloadError(LinkError):
    """A download got a NACK or a malformed reply."""

    def __init__(self, result_name: str, message: str) -> None:
        self.result_name = result_name
        super().__init__(f"{message} ({result_name})")


class CommandDeniedError(LinkError):
    """The autopilot answered a command with a failing ``MAV_RESULT``.

    ``reasons`` holds the STATUSTEXT lines the autopilot sent about it (``PreArm: ...``).
    """

    def __init__(self, command: str, result_name: str, reasons: list[str] | None = None) -> None:
        self.command = command
        self.result_name = result_name
        self.reasons = list(reasons or [])
        why = f": {'; '.join(self.reasons)}" if self.reasons else ""
        super().__init__(f"{command} denied by the autopilot ({result_name}){why}")


class ModeError(LinkConfigError):
    """An unknown flight mode name for this vehicle type."""
