"""Faults on demand for tests and demonstrations: link loss, GPS loss, low battery, motor failure.

GPS loss, wind and a sagging battery go through ArduPilot SITL's own parameters (SIM_GPS_DISABLE,
SIM_WIND_*, SIM_BATT_VOLTAGE), so a scenario can also be driven against SITL with PARAM_SET.
Every call runs inside the simulation thread between two steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulators.vehicle.server import SimulatorServer


class Faults:
    """Fault injection of one `SimulatorServer` (`server.faults`)."""

    def __init__(self, server: SimulatorServer) -> None:
        self._server = server

    def link_loss(self, duration_s: float | None = None) -> None:
        """Drop every message both ways, for `duration_s` simulated seconds or until restored."""
        self._server.link(False, duration_s)

    def restore_link(self) -> None:
        self._server.link(True)

    def gps_loss(self, lost: bool = True) -> None:
        """Lose (or regain) the GPS fix; the EKF loses position a second later."""
        self._server.inject(lambda v: v.params.set("SIM_GPS_DISABLE", 1.0 if lost else 0.0))

    def low_battery(self, remaining_pct: float = 8.0) -> None:
        """Drain the battery to `remaining_pct`; below BATT_LOW_VOLT the failsafe follows."""
        self._server.inject(lambda v: v.drain_battery(remaining_pct))

    def motor_failure(self) -> None:
        """A motor fails: a copter lands where it is, a rover stops (HOLD)."""
        self._server.inject(lambda v: v.fail_motor())

    def wind(self, speed_m_s: float, from_deg: float = 0.0, turbulence: float = 0.0) -> None:
        """Steady wind from `from_deg` (compass) with gusts of `turbulence` m/s."""

        def apply(v: object) -> None:
            params = v.params  # type: ignore[attr-defined]
            params.set("SIM_WIND_SPD", speed_m_s)
            params.set("SIM_WIND_DIR", from_deg)
            params.set("SIM_WIND_TURB", turbulence)

        self._server.inject(apply)
