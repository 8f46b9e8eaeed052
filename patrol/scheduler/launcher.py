"""Launchers: how the scheduler reaches a vehicle, reads it for the gates, and flies it.

Two kinds of launcher:

- a `SortieLauncher` (`patrol.scheduler.engine.EngineLauncher`, the default of `patrol run
  --simulate`) flies the whole run through patrol's sortie engine (`patrol.sortie.SortieRun`:
  camera, vision, signed evidence, ingest, `sortie.json`, mission report); the scheduler's
  gates run at the engine's pre-arm hook (`SortieSpec.preflight`);
- a `Launcher` (`SimulatorLauncher`: flight only, light enough for a simulated week):
  `await launcher.connect(job)` returns a `VehicleSession` on which the scheduler reads the
  gates (`readings`, `upload_fence`), then flies (`fly`) or lets go (`close`).

`LinkSession` reads the gates from any connected `telemetry.link.Vehicle`; a real fleet plugs
in a launcher that reaches its vehicles' links.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from patrol.scheduler.gates import GateResult, Readings

#: Live views of a flight for the console: position, progress, fence (as in `gateway.live`).
Report = Callable[[dict[str, Any]], None]


class LaunchError(ValueError):
    """A vehicle could not be reached or launched; the message says why."""


@dataclass
class Job:
    """One automatic sortie: which schedule run, where, what plan, which vehicle."""

    run_id: int
    schedule_id: int
    sortie_id: str
    site: Any  # missions.site.Site
    plan: Any  # missions.plan.MissionPlan
    vehicle_id: str
    vehicle_kind: str = "copter"
    mission_id: str = ""


class GateSession(Protocol):
    """What the gates read from a connected vehicle."""

    async def readings(self) -> Readings: ...

    async def upload_fence(self, items: list[Any]) -> GateResult: ...


class VehicleSession(GateSession, Protocol):
    async def fly(self, report: Report) -> dict[str, Any]: ...

    async def close(self) -> None: ...


class Launcher(Protocol):
    async def connect(self, job: Job) -> VehicleSession: ...


#: The scheduler's gate check, handed to a `SortieLauncher`: called with the connected
#: vehicle's session (None: it did not connect) and why it did not connect.
Gates = Callable[[GateSession | None, str], Awaitable[list[GateResult]]]


class SortieLauncher(Protocol):
    """Flies the whole run (the engine records the `sorties` row), calling `gates` on the
    connected vehicle before arming; returns the outcome with "status" (a sortie status,
    "blocked" when a gate failed), "reason", and "gates" (dicts)."""

    flies_sortie: bool

    async def fly_sortie(self, job: Job, gates: Gates, report: Report) -> dict[str, Any]: ...


class SimulatorLauncher:
    """Each run on its own built-in simulated vehicle at the site's launch point."""

    def __init__(
        self,
        speedup: float = 50.0,
        tlog_dir: Path | None = None,
        connect_timeout_s: float = 20.0,
        ready_timeout_s: float = 30.0,
        flight_timeout_s: float = 900.0,
        on_started: Callable[[Job, Any], None] | None = None,
    ) -> None:
        self.speedup = speedup
        self.tlog_dir = tlog_dir
        self.connect_timeout_s = connect_timeout_s
        self.ready_timeout_s = ready_timeout_s
        self.flight_timeout_s = flight_timeout_s
        #: Called with (job, simulator) once the simulator runs: tests inject faults here.
        self.on_started = on_started

    async def connect(self, job: Job) -> VehicleSession:
        from simulators.vehicle import SimulatorServer
        from telemetry.link import Vehicle

        lon, lat = job.site.launch
        sim = SimulatorServer(
            kind=job.vehicle_kind,
            home=(lat, lon, 42.0),
            port=0,
            speedup=self.speedup,
            seed=job.run_id,
            wall_clock=True,
        )
        url = await asyncio.to_thread(sim.start)
        try:
            if self.on_started is not None:
                self.on_started(job, sim)
            tlog = self.tlog_dir / f"{job.sortie_id}.tlog" if self.tlog_dir else None
            vehicle = await Vehicle.connect(url, timeout=self.connect_timeout_s, tlog_path=tlog)
        except BaseException:
            await asyncio.to_thread(sim.stop)
            raise
        return _SimSession(self, job, sim, vehicle)


async def _first(stream: Any, timeout: float) -> Any:
    try:
        return await asyncio.wait_for(anext(stream), timeout)
    except (TimeoutError, StopAsyncIteration):
        return None
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()


class LinkSession:
    """The gate readings of a connected `telemetry.link.Vehicle` (flying is someone else's)."""

    def __init__(self, vehicle: Any, ready_timeout_s: float = 30.0) -> None:
        self.vehicle = vehicle
        self.ready_timeout_s = ready_timeout_s

    async def readings(self) -> Readings:
        v = self.vehicle
        # A position estimate takes a moment after boot; the GPS gate fails if it never comes.
        with contextlib.suppress(Exception):
            await v.wait_ready(self.ready_timeout_s, armable=False)
        battery = await _first(v.telemetry.battery(), 5.0)
        gps = await _first(v.telemetry.gps(), 5.0)
        st = v.state
        texts = [t for _, _, t in st.statustexts]
        return Readings(
            heartbeat_age_s=time.monotonic() - st.last_heartbeat_mono
            if st.last_heartbeat_mono
            else None,
            prearm_ok=st.prearm_ok,
            failsafe=any("failsafe" in t.lower() for t in texts),
            battery_pct=None
            if battery is None or battery.remaining_pct is None
            else float(battery.remaining_pct),
            gps_fix_type=int(st.gps_fix_type),
            satellites=int(gps.satellites) if gps is not None else 0,
            position_ok=bool(st.position_ok),
        )

    async def upload_fence(self, items: list[Any]) -> GateResult:
        try:
            back = await self.vehicle.fence.upload(items, verify=True)
        except Exception as exc:  # any upload or read-back failure fails the gate
            return GateResult("fence", False, f"fence upload or read-back failed: {exc}")
        return GateResult("fence", True, f"{len(back)} fence items uploaded and read back")


class _SimSession(LinkSession):
    def __init__(self, launcher: SimulatorLauncher, job: Job, sim: Any, vehicle: Any) -> None:
        super().__init__(vehicle, launcher.ready_timeout_s)
        self.launcher, self.job, self.sim = launcher, job, sim

    async def fly(self, report: Report) -> dict[str, Any]:
        v, job = self.vehicle, self.job
        plan = job.plan
        await v.mission.upload(plan.items)
        if plan.rally:
            await v.rally.upload(plan.rally)
        if v.state.is_copter:
            await v.action.set_mode("GUIDED")
        await v.action.arm(wait_ready_s=10)
        await v.action.start_mission()
        report({"kind": "progress", "event": "mission_started", "vehicle_id": job.vehicle_id})
        try:
            landed = await v.wait_landed(
                timeout=self.launcher.flight_timeout_s, disarmed=v.state.is_copter
            )
        except asyncio.CancelledError:
            # Stopping the service or an abort: bring the vehicle home before letting go.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(v.action.return_to_launch(), 5.0)
            raise
        return {
            "status": "completed" if landed.mission_finished else "failed",
            "flight_time_s": round(float(landed.flight_time_s), 1),
            "waypoints_reached": landed.waypoints_reached,
            "tlog_sha256": v.tlog_sha256,
        }

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.vehicle.close()
        await asyncio.to_thread(self.sim.stop)
