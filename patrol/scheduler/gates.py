"""Preflight gates: what must hold before an automatic launch, each with a readable reason.

The gates are checked on the connected vehicle, in this order: connected, healthy (the
autopilot's pre-arm checks and no failsafe), battery, GPS fix, fence uploaded and verified
(read back), plan valid (`missions.check` against the site), no no-fly window in force. All
are evaluated and recorded (a failed one does not hide the others), except that nothing
can be read from a vehicle that did not connect.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

GATES = ("connected", "healthy", "battery", "gps", "fence", "plan", "no_fly")


@dataclass(frozen=True)
class Thresholds:
    """Minimums for an automatic launch (a supervisor can be stricter, never laxer)."""

    battery_pct: float = 60.0
    gps_fix_type: int = 3  # 3D fix
    satellites: int = 6


@dataclass(frozen=True)
class Readings:
    """What the connected vehicle reports before launch."""

    heartbeat_age_s: float | None = None
    prearm_ok: bool | None = None
    failsafe: bool = False
    battery_pct: float | None = None
    gps_fix_type: int = 0
    satellites: int = 0
    position_ok: bool = False


@dataclass(frozen=True)
class GateResult:
    gate: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def vehicle_gates(readings: Readings, limits: Thresholds) -> list[GateResult]:
    """The gates read from the vehicle itself: healthy, battery, GPS."""
    out: list[GateResult] = []
    if readings.failsafe:
        out.append(GateResult("healthy", False, "a failsafe is active on the vehicle"))
    elif readings.prearm_ok is False:
        out.append(GateResult("healthy", False, "the autopilot's pre-arm checks fail"))
    elif readings.heartbeat_age_s is None or readings.heartbeat_age_s > 3.0:
        out.append(GateResult("healthy", False, "no recent heartbeat from the vehicle"))
    else:
        out.append(GateResult("healthy", True, "pre-arm checks pass, heartbeat current"))
    if readings.battery_pct is None:
        out.append(GateResult("battery", False, "the vehicle reports no battery level"))
    elif readings.battery_pct < limits.battery_pct:
        out.append(
            GateResult(
                "battery",
                False,
                f"battery {readings.battery_pct:.0f}% is below the {limits.battery_pct:.0f}% "
                "needed for an automatic launch",
            )
        )
    else:
        out.append(GateResult("battery", True, f"battery {readings.battery_pct:.0f}%"))
    fix_ok = readings.gps_fix_type >= limits.gps_fix_type and readings.position_ok
    sats_ok = readings.satellites >= limits.satellites
    detail = f"GPS fix type {readings.gps_fix_type}, {readings.satellites} satellites"
    if fix_ok and sats_ok:
        out.append(GateResult("gps", True, detail))
    else:
        need = f"needs fix type >= {limits.gps_fix_type} and >= {limits.satellites} satellites"
        out.append(GateResult("gps", False, f"{detail}; {need}"))
    return out


def first_failure(results: list[GateResult]) -> GateResult | None:
    return next((r for r in results if not r.ok), None)
