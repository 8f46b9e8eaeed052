"""`SortieRun`: one sortie (one flight or drive of one vehicle), end to end, as a reusable engine.

A `SortieSpec` says what to fly: the site, the plan (or a pattern to plan: "survey" for a
copter, "perimeter" for a copter or rover), the vehicle (kind, id), the synthetic world or its
seed, the vehicle back end ("builtin": `simulators.vehicle.SimulatorServer` over real MAVLink
on a local TCP port; "sitl": ArduPilot SITL, `spec.sitl_binary`) and its speed-up.
`SortieRun(ground, spec)` flies it against a started `patrol.ground.Ground`:

    with Ground(settings) as ground:
        run = SortieRun(ground, SortieSpec(site=path, vehicle_id="uav-1", speedup=25))
        run.start()                 # background thread (or run.run() in this one)
        run.simulator.faults.link_loss()    # the simulator is reachable for fault injection
        run.abort("weather")        # RTL; the sortie ends "aborted"
        result = run.wait(600)      # SortieResult

What it does, each step recorded: site row and mission row (plan checked against the fence;
`sorties` row "planned") -> simulator started, mission + fence + rally uploaded and verified,
armed, AUTO ("flying") -> track, camera captures (frames rendered and run through the detector
when `spec.vision`), events (mode changes, fence breaches, failsafes, link gaps) -> landed,
or aborted (RTL), or lost (no heartbeat for `lost_after_s`, or landed by a failsafe before
the mission finished) -> evidence signed with the
vehicle key, published through the durable outbox, waited for in the case record -> the
`sorties` row's final status and figures, `reports/<sortie>/sortie.json` (the whole result:
track, capture poses with their ground footprints, events, evidence ids, tlog sha256).

Statuses: planned -> launching -> flying -> completed | aborted | lost | failed. Every
transition updates the `sorties` row and appends an audit entry `sortie.<status>`; anomalies
(fence breach, failsafe, link lost/regained) are audited as `sortie.anomaly`.
Events reach the caller as `SortieEvent`s: `run.events` (list), `run.event_queue`
(`queue.Queue`) and the `on_event` callback (called from the sortie's thread); `on_done`
is called once the sortie has ended and its record is written (the fleet makes the mission
report there, `patrol.sortie_report`).

The package, by what each module holds: `model` (spec, events, result, statuses, ids),
`planning` (site, plan, survey legs, footprints), `frames` (camera frames through the
detector), `run` (`SortieRun`), `records` (evidence and cases in the record); the locks that
tell a crashed process's sorties are in `patrol.sortie_claims`.
"""

from __future__ import annotations

from patrol.sortie.frames import FrameWorker
from patrol.sortie.model import (
    ANOMALY_KINDS,
    FINAL_STATUSES,
    KINDS,
    PATTERNS,
    Preflight,
    Progress,
    SortieError,
    SortieEvent,
    SortieResult,
    SortieSpec,
    default_camera,
    load_result,
    new_mission_id,
    new_sortie_id,
    utcnow,
)
from patrol.sortie.planning import (
    capture_footprint,
    haversine_m,
    load_site_arg,
    plan_for,
    survey_leg_ends,
)
from patrol.sortie.records import count_cases, count_evidence
from patrol.sortie.run import SortieRun

__all__ = [
    "ANOMALY_KINDS",
    "FINAL_STATUSES",
    "KINDS",
    "PATTERNS",
    "FrameWorker",
    "Preflight",
    "Progress",
    "SortieError",
    "SortieEvent",
    "SortieResult",
    "SortieRun",
    "SortieSpec",
    "capture_footprint",
    "count_cases",
    "count_evidence",
    "default_camera",
    "haversine_m",
    "load_result",
    "load_site_arg",
    "new_mission_id",
    "new_sortie_id",
    "plan_for",
    "survey_leg_ends",
    "utcnow",
]
