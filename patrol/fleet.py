"""Fleet runs: several vehicles flying at once from one ground, each with its own sortie.

A `Fleet` launches `patrol.sortie.SortieRun`s against one started `patrol.ground.Ground`,
each in its own thread with its own simulator, MAVLink link, `sorties` row and audit trail.
It refuses to give a vehicle a second sortie while one is active, aborts one sortie or all of
them (RTL), and when a vehicle is lost mid-patrol (link down, or a failsafe ended its mission)
re-plans the unflown legs of its survey for another vehicle: a spare, or the first vehicle of
the fleet that comes home with its own sortie done.

    with Ground(settings) as ground:
        fleet = Fleet(ground, spares=["copter-x-4"])
        runs = fleet.survey(site, ["copter-x-1", "copter-x-2", "copter-x-3"], speedup=50)
        fleet.abort(runs[1].vehicle_id, "wind")        # one; fleet.abort_all() for all
        results = fleet.wait(600)                       # every sortie, re-plans included
        # Fleet(ground, reports=True): each sortie's mission report as soon as it ends
        fleet.replans                                   # {lost sortie id: re-plan sortie id}

Re-planning: the survey layout (`missions.survey.layout_survey`) is a pure function of the
site and the survey parameters, so the legs a sortie flies are a range of that layout's
legs (`SortieSpec.survey_legs`). A leg counts as flown once the vehicle reported its end
waypoint reached; the remainder is the rest of the range, built into a new plan from the
launch point (`missions.survey.build_survey`), checked against the fence like any plan.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from patrol.ground import Ground
from patrol.sortie import (
    FINAL_STATUSES,
    SortieEvent,
    SortieResult,
    SortieRun,
    SortieSpec,
    default_camera,
    load_site_arg,
    survey_leg_ends,
)

ACTIVE_STATUSES = ("new", "planned", "launching", "flying")
#: Survey parameters that define the layout (and so the meaning of a leg index).
LAYOUT_KEYS = ("front_overlap", "side_overlap", "speed_m_s", "angle_deg", "margin_m")


class FleetError(ValueError):
    """A fleet request cannot be done; the message says which vehicle or sortie and why."""


@dataclass
class Remainder:
    """The unflown part of a lost sortie, waiting for a vehicle."""

    result: SortieResult
    spec: SortieSpec
    legs: tuple[int, int]


def flown_legs(result: SortieResult) -> int:
    """How many of the sortie's survey legs were flown to their end."""
    return sum(1 for seq in result.leg_end_seqs if seq <= result.last_reached_seq)


def remainder_plan(
    site: Any, spec: SortieSpec, result: SortieResult
) -> tuple[Any, tuple[int, int]]:
    """The plan flying the survey legs `result` did not finish, and their layout range.

    `FleetError` when the sortie was no survey or nothing is left."""
    from missions.camera import CameraModel
    from missions.plan import VehicleProfile
    from missions.survey import build_survey, layout_survey

    if result.survey_legs is None or not result.leg_end_seqs:
        raise FleetError(
            f"sortie {result.sortie_id}: only survey sorties can be re-planned "
            f"(this one flew {result.pattern!r})"
        )
    first, last = result.survey_legs
    start = first + flown_legs(result)
    if start > last:
        raise FleetError(f"sortie {result.sortie_id}: every survey leg was flown; nothing is left")
    options = {k: v for k, v in spec.plan_options.items() if k in LAYOUT_KEYS}
    camera: CameraModel = spec.camera or default_camera()
    profile = VehicleProfile.for_kind("copter")
    lay = layout_survey(
        site,
        camera,
        spec.altitude_agl_m,
        options.get("front_overlap", 0.7),
        options.get("side_overlap", 0.6),
        options.get("speed_m_s", 10.0),
        options.get("angle_deg"),
        options.get("margin_m", 5.0),
        0.0,
        profile,
    )
    if last >= len(lay.legs):
        raise FleetError(
            f"sortie {result.sortie_id}: its legs {first}..{last} are not in the site's survey "
            f"layout ({len(lay.legs)} legs); the site or the survey parameters changed"
        )
    plan = build_survey(
        site,
        lay,
        range(start, last + 1),
        spec.altitude_agl_m,
        options.get("speed_m_s", 10.0),
        profile,
        pattern=f"survey remainder of {result.sortie_id}",
    )
    return plan, (start, last)


class Fleet:
    """Sorties of several vehicles at once against one ground."""

    def __init__(
        self,
        ground: Ground,
        *,
        spares: list[str] | tuple[str, ...] = (),
        auto_replan: bool = True,
        on_event: Callable[[SortieRun, SortieEvent], None] | None = None,
        reports: bool = False,
    ) -> None:
        self.ground = ground
        #: Make each sortie's mission report as soon as it ends (`patrol.sortie_report`).
        self.reports = reports
        #: sortie id -> why its report could not be made
        self.report_errors: dict[str, str] = {}
        self.spares = list(spares)
        self.auto_replan = auto_replan
        self.on_event = on_event
        self.runs: dict[str, SortieRun] = {}
        #: lost sortie id -> the sortie id re-flying its remainder
        self.replans: dict[str, str] = {}
        #: lost sortie id -> why its remainder was not re-planned
        self.unplanned: dict[str, str] = {}
        self._pending: list[Remainder] = []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)

    # -- launching ---------------------------------------------------------------------------

    def busy(self, vehicle_id: str) -> SortieRun | None:
        """The vehicle's active sortie in this fleet, if any."""
        with self._lock:
            for run in self.runs.values():
                if run.vehicle_id == vehicle_id and run.status in ACTIVE_STATUSES:
                    return run
        return None

    def launch(self, spec: SortieSpec) -> SortieRun:
        """Start one sortie; `FleetError` if its vehicle is already flying one."""
        with self._lock:
            vehicle_id = spec.vehicle_id or self.ground.default_vehicle_id(spec.vehicle_kind)
            active = self.busy(vehicle_id)
            if active is not None:
                raise FleetError(
                    f"vehicle {vehicle_id} is already flying sortie {active.sortie_id} "
                    f"(status {active.status}); wait for it or abort it first"
                )
            spec = replace(spec, vehicle_id=vehicle_id)
            holder: list[SortieRun] = []
            run = SortieRun(
                self.ground,
                spec,
                on_event=lambda event: self._on_event(holder[0], event),
                on_done=self._report if self.reports else None,
            )
            holder.append(run)
            self.runs[run.sortie_id] = run
        try:
            run.prepare()
        except BaseException:
            # A plan refused (fence check, bad site) flies nothing and holds no vehicle.
            with self._lock:
                self.runs.pop(run.sortie_id, None)
            raise
        run.start()
        return run

    def survey(
        self,
        site: Any,
        vehicle_ids: list[str],
        *,
        altitude_agl_m: float = 50.0,
        plan_options: dict[str, Any] | None = None,
        **spec_fields: Any,
    ) -> list[SortieRun]:
        """Split the site's survey among `vehicle_ids` (flight times balanced) and fly it."""
        from missions.split import split_survey

        if not vehicle_ids:
            raise FleetError("survey: name at least one vehicle")
        if len(set(vehicle_ids)) != len(vehicle_ids):
            raise FleetError(f"survey: a vehicle is named twice in {vehicle_ids}")
        for vehicle_id in vehicle_ids:
            active = self.busy(vehicle_id)
            if active is not None:
                raise FleetError(
                    f"vehicle {vehicle_id} is already flying sortie {active.sortie_id}; "
                    "leave it out or abort its sortie first"
                )
        site = load_site_arg(site)
        options = dict(plan_options or {})
        camera = spec_fields.get("camera") or default_camera()
        plans = split_survey(
            site,
            camera,
            len(vehicle_ids),
            altitude_agl_m=altitude_agl_m,
            **{k: v for k, v in options.items() if k in LAYOUT_KEYS},
        )
        runs: list[SortieRun] = []
        first = 0
        for vehicle_id, plan in zip(vehicle_ids, plans, strict=False):
            legs = len(survey_leg_ends(plan.items))
            spec = SortieSpec(
                site=site,
                vehicle_kind="copter",
                vehicle_id=vehicle_id,
                plan=plan,
                pattern="survey",
                altitude_agl_m=altitude_agl_m,
                plan_options=options,
                camera=camera,
                survey_legs=(first, first + legs - 1),
                **spec_fields,
            )
            first += legs
            runs.append(self.launch(spec))
        return runs

    # -- aborting ----------------------------------------------------------------------------

    def _find(self, key: str) -> SortieRun:
        with self._lock:
            if key in self.runs:
                return self.runs[key]
            active = self.busy(key)
            if active is not None:
                return active
            if any(r.vehicle_id == key for r in self.runs.values()):
                raise FleetError(f"vehicle {key} has no sortie in flight; nothing to abort")
        raise FleetError(f"{key!r} is neither a sortie nor a vehicle of this fleet")

    def abort(self, key: str, reason: str = "aborted by the operator") -> SortieRun:
        """Abort the sortie `key` (a sortie id, or a vehicle id with a sortie in flight)."""
        run = self._find(key)
        if run.status in FINAL_STATUSES:
            raise FleetError(f"sortie {run.sortie_id} has already ended ({run.status})")
        run.abort(reason)
        return run

    def abort_all(self, reason: str = "all sorties aborted by the operator") -> list[SortieRun]:
        """Abort every sortie in flight; no re-plan is made for them."""
        with self._lock:
            active = [r for r in self.runs.values() if r.status in ACTIVE_STATUSES]
            self._pending.clear()
            self.auto_replan = False
        for run in active:
            run.abort(reason)
        return active

    # -- waiting -----------------------------------------------------------------------------

    def wait(self, timeout: float) -> list[SortieResult]:
        """Wait until every sortie (re-plans included) has ended; their results, in launch
        order. A remainder no vehicle can take by then is recorded in `unplanned`."""
        from patrol.sortie import SortieError

        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                active = [r for r in self.runs.values() if not r.done]
                if not active:
                    self._give_up_pending("no vehicle of the fleet was free to fly it")
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    names = ", ".join(f"{r.sortie_id} ({r.vehicle_id}, {r.status})" for r in active)
                    raise SortieError(
                        f"the fleet's sorties did not end within {timeout:.0f} s: {names}"
                    )
                self._changed.wait(min(left, 0.5))
            runs = list(self.runs.values())
        results = []
        for run in runs:
            with contextlib.suppress(Exception):  # a failed run keeps its partial result
                run.wait(10)
            results.append(run.result)
        return results

    def close(self, timeout: float = 60.0) -> None:
        """Abort what still flies and wait for it (used on shutdown)."""
        self.abort_all("fleet closed")
        with contextlib.suppress(Exception):
            self.wait(timeout)

    def _report(self, run: SortieRun) -> None:
        from patrol.sortie_report import build_report

        try:
            build_report(self.ground, run.sortie_id)
        except Exception as exc:  # recorded; the report can be made again by hand
            self.report_errors[run.sortie_id] = str(exc).splitlines()[0][:300]
            raise

    # -- events and re-planning --------------------------------------------------------------

    def _on_event(self, run: SortieRun, event: SortieEvent) -> None:
        if self.on_event is not None:
            with contextlib.suppress(Exception):
                self.on_event(run, event)
        if event.kind != "status" or event.detail.get("status") not in FINAL_STATUSES:
            return
        with self._changed:
            if event.detail["status"] == "lost" and self.auto_replan:
                self._queue_remainder(run)
            self._dispatch()
            self._changed.notify_all()

    def _queue_remainder(self, run: SortieRun) -> None:
        try:
            plan, legs = remainder_plan(run.site, run.spec, run.result)
        except (FleetError, ValueError) as exc:
            self._unplanned(run.sortie_id, str(exc))
            return
        spec = replace(
            run.spec,
            plan=plan,
            survey_legs=legs,
            vehicle_id=None,
            sortie_id=None,
            mission_id=None,
            replans=run.sortie_id,
            save_ground_truth=False,
        )
        self._pending.append(Remainder(run.result, spec, legs))
        self.ground.record(
            "sortie.remainder",
            f"sortie:{run.sortie_id}",
            {"legs": list(legs), "waypoints": len(plan.items), "reason": run.result.reason},
        )

    def _free_vehicle(self, exclude: set[str]) -> str | None:
        for vehicle_id in self.spares:
            if vehicle_id not in exclude and self.busy(vehicle_id) is None:
                return vehicle_id
        lost = {r.vehicle_id for r in self.runs.values() if r.status == "lost"}
        for run in self.runs.values():
            vid = run.vehicle_id
            if vid in exclude or vid in lost or run.status != "completed":
                continue
            if self.busy(vid) is None:
                return vid
        return None

    def _dispatch(self) -> None:
        while self._pending:
            remainder = self._pending[0]
            lost_vehicle = remainder.result.vehicle_id
            vehicle_id = self._free_vehicle({lost_vehicle})
            if vehicle_id is None:
                return
            self._pending.pop(0)
            spec = replace(remainder.spec, vehicle_id=vehicle_id)
            try:
                run = self.launch(spec)
            except Exception as exc:  # recorded; the fleet keeps flying the others
                self._unplanned(remainder.result.sortie_id, f"launch failed: {exc}")
                continue
            self.replans[remainder.result.sortie_id] = run.sortie_id
            self.ground.record(
                "sortie.replanned",
                f"sortie:{remainder.result.sortie_id}",
                {
                    "by_sortie": run.sortie_id,
                    "vehicle_id": vehicle_id,
                    "legs": list(remainder.legs),
                },
            )

    def _give_up_pending(self, why: str) -> None:
        while self._pending:
            remainder = self._pending.pop(0)
            self._unplanned(remainder.result.sortie_id, why)

    def _unplanned(self, sortie_id: str, why: str) -> None:
        self.unplanned[sortie_id] = why
        with contextlib.suppress(Exception):
            self.ground.record("sortie.remainder_unplanned", f"sortie:{sortie_id}", {"reason": why})

    # -- state -------------------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """One line per sortie of this fleet: vehicle, status, position, progress."""
        with self._lock:
            runs = list(self.runs.values())
        out = []
        for run in runs:
            position = run.position
            out.append(
                {
                    "sortie_id": run.sortie_id,
                    "vehicle_id": run.vehicle_id,
                    "status": run.status,
                    "replans": run.spec.replans,
                    "position": (
                        None
                        if position is None
                        else {"lat": position[0], "lon": position[1], "alt_agl_m": position[2]}
                    ),
                    "photos": len(run.result.captures),
                    "reason": run.result.reason,
                }
            )
        return out


__all__ = ["Fleet", "FleetError", "flown_legs", "remainder_plan"]
