"""The sortie launcher `patrol gateway serve --simulate` gives the gateway.

Each launch from the console (or `POST /api/missions/{id}/launch`) flies through patrol's
sortie engine (`patrol.sortie.SortieRun`) against one shared `patrol.ground.Ground`: the
built-in simulator over real MAVLink, synthetic camera frames of a world with planted
violations, the detector, evidence signed with the vehicle's key, published through the
durable outbox over MQTT, ingested into the case record, where it opens or joins cases.
The gateway never imports simulators, vision or patrol; patrol injects this callable
(`GatewayConfig.launcher`).

The engine keeps the `sorties` row through its statuses with audit entries, so the launcher
says ``records_sortie = True`` and the gateway only inserts the row at launch (with the
user's `sortie.launch` entry). Positions reach the live map at 5 Hz; the engine's events
(statuses, mode changes, fence breaches, failsafes, evidence) as progress/fence/evidence
views. Cancelling the launch (the console's abort, or the gateway stopping) brings the
vehicle home and ends the sortie "aborted".
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

from patrol.ground import Ground

Report = Callable[[dict[str, Any]], None]

#: How often the map gets the vehicle's position (seconds).
POSITION_PERIOD_S = 0.2


def plan_from_request(request: dict[str, Any]) -> Any:
    """The checked plan the user confirmed, rebuilt from what the gateway stored
    (items, fence, rally, path and figures): exactly what was checked is what flies."""
    from missions.items import MissionItem
    from missions.plan import MissionPlan, PlanEstimates

    summary = request.get("summary") or {}
    known = {f.name for f in dataclasses.fields(PlanEstimates)}
    estimates = PlanEstimates(**{k: v for k, v in summary.items() if k in known})
    return MissionPlan(
        items=[MissionItem(**i) for i in request["items"]],
        fence=[MissionItem(**i) for i in request.get("fence", [])],
        rally=[MissionItem(**i) for i in request.get("rally", [])],
        estimates=estimates,
        path_lonlat=[(float(p[0]), float(p[1])) for p in request.get("path_lonlat", [])],
        altitude_agl_m=float(summary.get("altitude_agl_m", 50.0)),
        trigger_distance_m=float(summary.get("trigger_distance_m", 0.0)),
        vehicle=str(request.get("vehicle") or summary.get("vehicle") or "copter"),
        pattern=str(summary.get("pattern") or "survey"),
        site_id=str(request.get("site_id") or summary.get("site_id") or ""),
        angle_deg=summary.get("angle_deg"),
        line_spacing_m=summary.get("line_spacing_m"),
        warnings=[str(w) for w in summary.get("warnings", [])],
    )


def event_view(event: Any, vehicle_id: str) -> dict[str, Any]:
    """The live view of one `SortieEvent`."""
    detail = {k: v for k, v in event.detail.items() if isinstance(v, str | int | float | bool)}
    when = event.time.isoformat()
    if event.kind == "evidence":
        return {
            "kind": "evidence",
            "vehicle_id": vehicle_id,
            "time": when,
            "evidence_id": detail.get("evidence_id"),
            "class_name": detail.get("class"),
            "confidence": detail.get("confidence"),
            "lat": detail.get("lat"),
            "lon": detail.get("lon"),
        }
    # A status change reads as its name ("flying"); other events by their kind.
    name = str(detail.get("status")) if event.kind == "status" else event.kind
    return {
        "kind": "fence" if "fence" in event.kind else "progress",
        "event": name,
        "vehicle_id": vehicle_id,
        "time": when,
        "detail": detail,
    }


async def fly_live(
    make_run: Callable[[Callable[[Any], None]], Any],
    vehicle_id: str,
    report: Callable[[dict[str, Any]], None],
    *,
    period_s: float,
    abort_reason: str,
    abort_timeout_s: float,
    release: bool = False,
) -> Any:
    """Fly one sortie while reporting its events and positions to a live view; its result.

    ``make_run(on_event)`` builds the ``SortieRun``. Cancelled, the sortie is aborted with
    ``abort_reason`` (``release``: RTL without watching the landing) before re-raising.
    """
    loop = asyncio.get_running_loop()

    def on_event(event: Any) -> None:  # called from the sortie's thread
        loop.call_soon_threadsafe(report, event_view(event, vehicle_id))

    run = make_run(on_event)
    started = False
    try:
        await asyncio.to_thread(run.prepare)
        run.start()
        started = True
        while not run.done:
            if run.position is not None:
                lat, lon, alt = run.position
                report(
                    {
                        "kind": "position",
                        "vehicle_id": vehicle_id,
                        "lat": lat,
                        "lon": lon,
                        "alt_agl_m": alt,
                        "status": run.status,
                    }
                )
            await asyncio.sleep(period_s)
        return await asyncio.to_thread(run.wait, 30)
    except asyncio.CancelledError:
        run.abort(abort_reason, release=release)
        if started:
            with contextlib.suppress(Exception):
                await asyncio.shield(asyncio.to_thread(run.wait, abort_timeout_s))
        raise


class SortieLauncher:
    """A gateway launcher flying each sortie through `SortieRun` on a started `Ground`."""

    #: The engine writes the `sorties` row and its audit entries (see the module docstring).
    records_sortie = True

    def __init__(
        self,
        ground: Ground,
        *,
        speedup: float = 25.0,
        seed: int = 7,
        vision: bool = True,
        flight_timeout_s: float = 900.0,
        abort_timeout_s: float = 120.0,
    ) -> None:
        self.ground = ground
        self.speedup = speedup
        self.seed = seed
        self.vision = vision
        self.flight_timeout_s = flight_timeout_s
        self.abort_timeout_s = abort_timeout_s

    def spec_for(self, request: dict[str, Any]) -> Any:
        from missions.site import site_from_geojson
        from patrol.sortie import SortieSpec

        if not request.get("site_geojson"):
            raise ValueError(f"mission {request['mission_id']} has no site to fly over")
        plan = plan_from_request(request)
        return SortieSpec(
            site=site_from_geojson(request["site_geojson"]),
            vehicle_kind=plan.vehicle,
            vehicle_id=request["vehicle_id"],
            plan=plan,
            pattern=plan.pattern,
            altitude_agl_m=plan.altitude_agl_m,
            mission_id=request["mission_id"],
            sortie_id=request["sortie_id"],
            seed=self.seed,
            speedup=self.speedup,
            vision=self.vision,
            flight_timeout_s=self.flight_timeout_s,
        )

    async def __call__(self, request: dict[str, Any], report: Report) -> dict[str, Any]:
        from patrol.sortie import SortieRun, count_cases

        # The engine reuses the gateway's `sorties` row (inserted at launch) and its mission
        # row (audited when the user planned it).
        spec = self.spec_for(request)
        result = await fly_live(
            lambda on_event: SortieRun(self.ground, spec, on_event=on_event),
            request["vehicle_id"],
            report,
            period_s=POSITION_PERIOD_S,
            abort_reason="aborted by a user",
            abort_timeout_s=self.abort_timeout_s,
        )
        with self.ground.sessions() as session:
            cases = count_cases(session, result.evidence_ids)
        return {
            "status": result.status,
            "reason": result.reason,
            "flight_time_s": result.flight_time_s,
            "distance_m": result.distance_m,
            "photos": len(result.captures),
            "frames": result.frames,
            "evidence": len(result.evidence_ids),
            "cases": cases,
        }


__all__ = ["SortieLauncher", "event_view", "fly_live", "plan_from_request"]
