"""`EngineLauncher`: scheduled runs flown through patrol's sortie engine on a shared `Ground`.

Each run is one `patrol.sortie.SortieRun` (the built-in simulator over real MAVLink, camera
frames of a synthetic world, the detector, evidence signed with the vehicle's key, published
over MQTT and ingested by the `Ground`'s ingest into the case record, `sortie.json`, and the
mission report), exactly as `patrol fleet` and the console's launches fly. The scheduler's
preflight gates run at the engine's pre-arm hook (`SortieSpec.preflight`): a failed gate ends
the sortie "blocked" before anything is uploaded or armed.

The engine writes the `sorties` row and its audit entries; the scheduler writes the
`schedule_runs` row. Cancelling the flight (the service stopping) commands RTL and ends the
sortie "aborted" without waiting for the landing (`SortieRun.abort(release=True)`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from patrol.ground import Ground
from patrol.scheduler.launcher import Gates, Job, LinkSession, Report

#: How often the live map gets the vehicle's position (seconds).
POSITION_PERIOD_S = 0.5


class EngineLauncher:
    """A `SortieLauncher` flying each job through `SortieRun` on a started `Ground`."""

    flies_sortie = True

    def __init__(
        self,
        ground: Ground,
        *,
        speedup: float = 25.0,
        vision: bool = True,
        reports: bool = True,
        ready_timeout_s: float = 30.0,
        flight_timeout_s: float = 900.0,
        abort_timeout_s: float = 12.0,
        on_started: Callable[[Job, Any], None] | None = None,
    ) -> None:
        self.ground = ground
        self.speedup = speedup
        self.vision = vision
        #: Make each sortie's mission report (HTML, PDF) once it ends, as `patrol fleet` does.
        self.reports = reports
        self.ready_timeout_s = ready_timeout_s
        self.flight_timeout_s = flight_timeout_s
        self.abort_timeout_s = abort_timeout_s
        #: Called with (job, simulator) once the simulator runs, before the gates: tests
        #: inject faults here.
        self.on_started = on_started
        #: Mission reports that could not be made: sortie id -> why (they can be made again
        #: with `patrol sortie report`).
        self.report_errors: dict[str, str] = {}

    def spec_for(self, job: Job, gates: Gates) -> Any:
        from patrol.sortie import SortieSpec

        async def preflight(vehicle: Any, run: Any) -> list[Any]:
            if self.on_started is not None and run.simulator is not None:
                self.on_started(job, run.simulator)
            session = LinkSession(vehicle, self.ready_timeout_s) if vehicle is not None else None
            return await gates(session, run.connect_error)

        plan = job.plan
        return SortieSpec(
            site=job.site,
            vehicle_kind=job.vehicle_kind,
            vehicle_id=job.vehicle_id,
            plan=plan,
            pattern=str(plan.pattern),
            altitude_agl_m=float(plan.altitude_agl_m),
            mission_id=job.mission_id or None,
            sortie_id=job.sortie_id,
            # One synthetic world per run, so that runs of a schedule do not all see the same.
            seed=job.run_id,
            speedup=self.speedup,
            vision=self.vision,
            flight_timeout_s=self.flight_timeout_s,
            preflight=preflight,
        )

    async def fly_sortie(self, job: Job, gates: Gates, report: Report) -> dict[str, Any]:
        from patrol.gateway_launcher import fly_live
        from patrol.sortie import SortieRun

        spec = self.spec_for(job, gates)
        result = await fly_live(
            lambda on_event: SortieRun(
                self.ground,
                spec,
                on_event=on_event,
                on_done=self._report if self.reports else None,
            ),
            job.vehicle_id,
            report,
            period_s=POSITION_PERIOD_S,
            # The service is stopping: RTL, and the sortie ends "aborted" without watching
            # the landing, so the stop stays within its time.
            abort_reason="the scheduler stopped during the sortie (returned to launch)",
            abort_timeout_s=self.abort_timeout_s,
            release=True,
        )
        return {
            "status": result.status,
            "reason": result.reason,
            "gates": list(result.gates),
            "mission_id": result.mission_id,
            "flight_time_s": result.flight_time_s,
            "distance_m": result.distance_m,
            "photos": len(result.captures),
            "frames": result.frames,
            "evidence": len(result.evidence_ids),
            "tlog_sha256": result.tlog_sha256,
        }

    def _report(self, run: Any) -> None:
        from patrol.sortie_report import build_report

        if run.released:
            # Shutting down: the report is made by hand later (`patrol sortie report`).
            return
        try:
            build_report(self.ground, run.sortie_id)
        except Exception as exc:  # recorded; the sortie itself ended as it did
            self.report_errors[run.sortie_id] = str(exc).splitlines()[0][:300]
            raise


__all__ = ["EngineLauncher"]
