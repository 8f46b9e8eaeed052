"""`SortieRun`: the engine flying one `SortieSpec` against a started `Ground`, recording
every step (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from patrol.ground import Ground
from patrol.sortie.frames import FrameWorker
from patrol.sortie.model import (
    ANOMALY_KINDS,
    FINAL_STATUSES,
    KINDS,
    Progress,
    SortieError,
    SortieEvent,
    SortieResult,
    SortieSpec,
    default_camera,
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
from patrol.sortie.records import count_evidence


def _no_progress(stage: str, done: float, total: float | None, message: str) -> None:
    return None


class SortieRun:
    """One sortie against a started `Ground`: `run()` here, or `start()` + `wait()`."""

    def __init__(
        self,
        ground: Ground,
        spec: SortieSpec,
        *,
        on_event: Callable[[SortieEvent], None] | None = None,
        progress: Progress | None = None,
        on_done: Callable[[SortieRun], None] | None = None,
    ) -> None:
        if spec.vehicle_kind not in KINDS:
            raise SortieError(
                f"vehicle kind {spec.vehicle_kind!r} is not known; use one of {', '.join(KINDS)}"
            )
        if spec.backend not in ("builtin", "sitl"):
            raise SortieError(
                f"backend {spec.backend!r} is not supported by SortieRun; use 'builtin' "
                "(the built-in simulator) or 'sitl' (ArduPilot SITL)"
            )
        if spec.backend == "sitl" and not spec.sitl_binary:
            raise SortieError(
                "backend 'sitl' needs the SITL binary: set FIELDPATROL_SITL_COPTER / "
                "FIELDPATROL_SITL_ROVER (SortieSpec.sitl_binary)"
            )
        self.ground = ground
        self.spec = spec
        self.on_event = on_event
        #: Called in the sortie's thread once it has ended and sortie.json is written (e.g. to
        #: make its mission report), before `wait()` returns; its failure is an event, not
        #: the sortie's.
        self.on_done = on_done
        self.progress = progress or _no_progress
        self.sortie_id = spec.sortie_id or new_sortie_id()
        self.mission_id = spec.mission_id or new_mission_id()
        self.vehicle_id = spec.vehicle_id or ground.default_vehicle_id(spec.vehicle_kind)
        self.events: list[SortieEvent] = []
        self.event_queue: queue.Queue[SortieEvent] = queue.Queue()
        self.status = "new"
        #: The connected `telemetry.link.Vehicle` while the sortie flies (its state is read,
        #: e.g. the autopilot's clock by the scenario runner); None before it connects.
        self.link: Any = None
        self.simulator: Any = None
        self.site: Any = None
        self.plan: Any = None
        self.world: Any = None
        self.camera: Any = spec.camera or default_camera()
        self.result = SortieResult(
            sortie_id=self.sortie_id,
            mission_id=self.mission_id,
            site_id="",
            vehicle_id=self.vehicle_id,
            vehicle_kind=spec.vehicle_kind,
            pattern=spec.pattern if spec.plan is None else str(spec.plan.pattern),
            replans=spec.replans,
            altitude_agl_m=spec.altitude_agl_m,
            camera=asdict(self.camera),
        )
        self.report_dir = ground.settings.reports_dir / self.sortie_id
        self.position: tuple[float, float, float] | None = None  # lat, lon, alt_agl_m
        self.pipeline: Any = None
        self._abort = threading.Event()
        self._abort_reason = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._prepared = False
        self._stack: list[Callable[[], None]] = []
        self._final = "failed"
        #: Why the vehicle did not connect (for `spec.preflight`, called with vehicle None).
        self.connect_error = ""
        #: Set by `abort(release=True)`: RTL sent, the landing not watched (shutting down).
        self.released = False
        self._claim: Any = None

    # -- the caller's side -------------------------------------------------------------------

    def prepare(self) -> None:
        """Load the site, plan and check the mission, store the site, mission and sortie rows.

        Called by `run()`; call it earlier to refuse a bad plan before anything flies."""
        if self._prepared:
            return
        ground = self.ground
        if ground.sessions is None:
            raise SortieError("the ground is not started: call Ground.start() first")
        ground.settings.ensure_dirs()
        # This process holds the sortie until its final status is written: a row left open
        # by a process that died is then recognised (`patrol.sortie_claims.recover_stale`).
        from patrol.sortie_claims import claim

        self._claim = claim(ground.settings, self.sortie_id)
        try:
            self._prepare()
        except BaseException:
            self._release_claim()
            raise
        self._prepared = True
        self._set_status("planned", {"mission": self.mission_id, "vehicle_id": self.vehicle_id})

    def _release_claim(self) -> None:
        if self._claim is not None:
            self._claim.release()
            self._claim = None

    def _prepare(self) -> None:
        from missions.check import check_mission

        spec, ground = self.spec, self.ground
        self.site = site = load_site_arg(spec.site)
        self.result.site_id = site.id
        self.report_dir.mkdir(parents=True, exist_ok=True)
        self.result.report_dir = str(self.report_dir)
        ground.record(
            "site.loaded",
            f"site:{site.id}",
            {"name": site.name, "file": str(spec.site) if not hasattr(spec.site, "id") else ""},
        )
        if spec.vision:
            from simulators.world import generate_world

            self.world = spec.world or generate_world(site, seed=spec.seed)
            if spec.save_ground_truth:
                self.world.save(self.report_dir / "ground_truth.geojson")
        self.plan = plan = plan_for(spec, site, self.camera)
        check = check_mission(site, plan.items, vehicle=spec.vehicle_kind)
        if not check.ok:
            raise SortieError(
                "the planned mission failed the fence check: " + "; ".join(check.problems)
            )
        self.result.waypoints = len(plan.items)
        self.result.plan_summary = plan.summary()
        # The survey's safety margin: the report measures coverage on the area it leaves.
        self.result.plan_summary["margin_m"] = float(spec.plan_options.get("margin_m", 5.0))
        self.result.leg_end_seqs = survey_leg_ends(plan.items)
        legs = spec.survey_legs
        if legs is None and spec.plan is None and spec.pattern == "survey":
            legs = (0, len(self.result.leg_end_seqs) - 1)
        self.result.survey_legs = list(legs) if legs is not None else None
        (self.report_dir / "plan.geojson").write_text(
            json.dumps(
                {
                    "type": "Feature",
                    "properties": {"mission_id": self.mission_id, "sortie_id": self.sortie_id},
                    "geometry": {"type": "LineString", "coordinates": plan.path_lonlat},
                }
            ),
            encoding="utf-8",
        )
        if not self._store_rows(check):
            # A mission planned elsewhere (the gateway, the scheduler) was audited there.
            return
        ground.record(
            "mission.planned",
            f"mission:{self.mission_id}",
            {
                "site": site.id,
                "pattern": self.result.pattern,
                "altitude_agl_m": spec.altitude_agl_m,
                "items": len(plan.items),
                "distance_m": plan.estimates.distance_m,
                "check": "passed",
            },
        )

    def run(self) -> SortieResult:
        """Fly the sortie in this thread; returns when it has ended (any final status)."""
        try:
            self.prepare()
            asyncio.run(self._main())
        except BaseException as exc:
            if self.status not in FINAL_STATUSES and self._prepared:
                with contextlib.suppress(Exception):
                    self.result.reason = self.result.reason or str(exc).splitlines()[0][:300]
                    self._set_status("failed", {"error": self.result.reason})
            raise
        finally:
            self._unwind()
            if self._prepared:
                with contextlib.suppress(Exception):
                    self.result.events = [e.to_dict() for e in self.events]
                    self.result.save(self.report_dir / "sortie.json")
                if self.on_done is not None:
                    try:
                        self.on_done(self)
                    except Exception as exc:  # the sortie itself has ended as it did
                        self._emit("after_failed", {"error": str(exc)[:300]})
            # After the final status: a recovering process must find the row closed.
            self._release_claim()
            self._done.set()
        return self.result

    def start(self) -> SortieRun:
        """Fly the sortie in a background thread; `wait()` for its result."""
        if self._thread is not None:
            return self

        def target() -> None:
            try:
                self.run()
            except BaseException as exc:  # handed to wait()
                self._error = exc

        self._thread = threading.Thread(target=target, name=f"sortie-{self.sortie_id}", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float) -> SortieResult:
        """The result once the sortie has ended; `SortieError` after `timeout` seconds."""
        if not self._done.wait(timeout):
            raise SortieError(
                f"sortie {self.sortie_id} ({self.vehicle_id}) did not end within {timeout:.0f} s "
                f"(status {self.status}); abort it or give it more time"
            )
        if self._thread is not None:
            self._thread.join(10)
        if self._error is not None:
            raise self._error
        return self.result

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def abort(self, reason: str = "aborted by the operator", *, release: bool = False) -> None:
        """Bring the vehicle home (RTL) and end the sortie as "aborted" (thread-safe).

        `release=True` (a service shutting down): once RTL is commanded the landing is not
        watched; the sortie ends at once, its evidence so far still published."""
        if self.status in FINAL_STATUSES:
            return
        self._abort_reason = reason
        self.released = release
        self._abort.set()

    def wait_status(self, statuses: tuple[str, ...], timeout: float) -> str:
        """Block until the sortie is in one of `statuses`; `SortieError` after `timeout`."""
        deadline = time.monotonic() + timeout
        while self.status not in statuses:
            if time.monotonic() > deadline or (self.done and self.status not in statuses):
                raise SortieError(
                    f"sortie {self.sortie_id}: status {self.status}, not {'/'.join(statuses)}, "
                    f"after {timeout:.0f} s"
                )
            time.sleep(0.05)
        return self.status

    # -- records -----------------------------------------------------------------------------

    def _emit(self, kind: str, detail: dict[str, Any], when: datetime | None = None) -> None:
        event = SortieEvent(when or utcnow(), kind, detail)
        self.events.append(event)
        self.event_queue.put(event)
        if self.on_event is not None:
            with contextlib.suppress(Exception):  # a broken listener must not end the flight
                self.on_event(event)

    def _store_rows(self, check: Any) -> bool:
        """Store the site, mission and sortie rows; an existing mission row (planned by the
        gateway or the scheduler) and sortie row (the gateway's, inserted at launch) are
        reused. True when the mission row is new."""
        from cases.models import MissionRecord, SiteRecord, Sortie
        from gateway.api.missions import plan_json

        site, plan = self.site, self.plan
        summary = plan.summary()
        summary["valid"] = bool(check.ok)
        summary["problems"] = list(check.problems)
        with self.ground.sessions() as session:
            if session.get(SiteRecord, site.id) is None:
                session.add(SiteRecord(id=site.id, name=site.name, geojson=site.to_geojson()))
                session.flush()
            new_mission = session.get(MissionRecord, self.mission_id) is None
            if new_mission:
                session.add(
                    MissionRecord(
                        id=self.mission_id,
                        site_id=site.id,
                        kind=self.result.pattern.split(" ")[0],
                        vehicle=self.spec.vehicle_kind,
                        plan=plan_json(plan, summary),
                        area_m2=float(site.local_keep_in.area),
                        created_by=self.ground.actor,
                    )
                )
                session.flush()
            row = session.get(Sortie, self.sortie_id)
            if row is None:
                session.add(
                    Sortie(
                        id=self.sortie_id,
                        mission_id=self.mission_id,
                        vehicle_id=self.vehicle_id,
                        status="planned",
                        tlog_path=None,
                    )
                )
            elif row.started_at is None and row.status in ("planned", "launching"):
                row.status, row.mission_id, row.vehicle_id = (
                    "planned",
                    self.mission_id,
                    self.vehicle_id,
                )
            else:
                raise SortieError(
                    f"sortie {self.sortie_id} was already flown (status {row.status}); "
                    "give the new sortie its own id"
                )
            session.commit()
        return new_mission

    def _set_status(self, status: str, payload: dict[str, Any] | None = None) -> None:
        from cases import audit
        from cases.models import Sortie
        from cases.models import utcnow as db_now

        self.status = status
        self.result.status = status
        now = db_now()
        with self.ground.audit_lock, self.ground.sessions() as session:
            row = session.get(Sortie, self.sortie_id)
            if row is not None:
                row.status = status
                if status == "flying" and row.started_at is None:
                    row.started_at = now
                    self.result.started_at = now.isoformat()
                if status in FINAL_STATUSES:
                    row.ended_at = now
                    self.result.ended_at = now.isoformat()
                    row.distance_m = self.result.distance_m
                    row.photos = len(self.result.captures)
                    row.tlog_path = self.result.tlog or None
            audit.append(
                session,
                self.ground.actor,
                f"sortie.{status}",
                f"sortie:{self.sortie_id}",
                {"vehicle_id": self.vehicle_id, **(payload or {})},
            )
            session.commit()
        self._emit("status", {"status": status, **(payload or {})}, now)

    def update_coverage(self, area_covered_m2: float) -> None:
        """Store the area actually imaged (the mission report computes it)."""
        from cases.models import Sortie

        with self.ground.sessions() as session:
            row = session.get(Sortie, self.sortie_id)
            if row is not None:
                row.area_covered_m2 = float(area_covered_m2)
                session.commit()

    # -- the flow ----------------------------------------------------------------------------

    def _on_stop(self, stop: Callable[[], None]) -> None:
        self._stack.append(stop)

    def _unwind(self) -> None:
        while self._stack:
            stop = self._stack.pop()
            # Keep stopping the rest; a failure to stop is not the run's result.
            with contextlib.suppress(Exception):
                stop()

    async def _main(self) -> None:
        spec, ground = self.spec, self.ground
        self._loop = asyncio.get_running_loop()
        publisher = None
        worker: FrameWorker | None = None
        if spec.vision:
            ground.open_broker()
        key = ground.enroll(self.vehicle_id)
        if spec.vision:
            from vision.detector import load_detector
            from vision.pipeline import FramePipeline

            publisher = ground.publisher(self.vehicle_id)
            self._on_stop(publisher.outbox.close)
            self._on_stop(lambda: publisher.stop(timeout=10))
            self.pipeline = FramePipeline(load_detector(), self.camera)
            worker = FrameWorker(
                self.world, self.camera, self.pipeline, seed=spec.seed, name=self.vehicle_id
            )
            self._on_stop(worker.abort)

        await self._fly(worker)

        if self._final == "blocked":
            # Stopped at the gates: nothing was flown, so there is nothing to process; the
            # link's log (the gate readings) is kept and hashed all the same.
            tlog = ground.settings.tlog_dir / f"{self.sortie_id}.tlog"
            if tlog.is_file():
                self.result.tlog = str(tlog)
                self.result.tlog_sha256 = hashlib.sha256(tlog.read_bytes()).hexdigest()
            self._finish_status()
            return
        if worker is not None and self.pipeline is not None and publisher is not None:
            self.progress("frames", worker.frames, None, "处理剩余图像 (finishing frames)")
            worker.close(stall_timeout=60)
            self._publish(worker, publisher, key)
        self._finish_status()

    def _finish_status(self) -> None:
        result = self.result
        final = self._final
        payload: dict[str, Any] = {
            "flight_time_s": result.flight_time_s,
            "distance_m": result.distance_m,
            "last_reached_seq": result.last_reached_seq,
            "photos": len(result.captures),
            "evidence": len(result.evidence_ids),
        }
        if result.reason:
            payload["reason"] = result.reason
        self._set_status(final, payload)

    async def _fly(self, worker: FrameWorker | None) -> None:
        from simulators.vehicle import SimulatorServer
        from telemetry.link import Vehicle

        spec, site, plan = self.spec, self.site, self.plan
        record = self.ground.record
        subject = f"sortie:{self.sortie_id}"
        self._final = "failed"
        launch_lon, launch_lat = site.launch
        if self._abort.is_set():
            self.result.reason = self._abort_reason
            self._final = "aborted"
            return
        self._set_status("launching", {"backend": spec.backend, "speedup": spec.speedup})
        sim: Any
        if spec.backend == "sitl":
            from simulators.sitl import SitlVehicle

            # Same interface as the built-in simulator: start() -> url, stop(), faults.
            sim = SitlVehicle(
                str(spec.sitl_binary),
                kind=spec.vehicle_kind,
                home=(launch_lat, launch_lon, spec.home_amsl_m),
                speedup=spec.speedup,
                sysid=spec.sysid,
                params=spec.sim_params,
            )
        else:
            sim = SimulatorServer(
                kind=spec.vehicle_kind,
                home=(launch_lat, launch_lon, spec.home_amsl_m),
                port=0,
                sysid=spec.sysid,
                speedup=spec.speedup,
                seed=spec.seed,
                params=spec.sim_params,
                # Evidence is dated by the real clock: at a speed-up, simulated time would run
                # ahead and date captures in the future.
                wall_clock=True,
            )
        # Reachable (and stoppable) while it starts: SITL's start waits up to minutes for the
        # autopilot, and a caller interrupted meanwhile must be able to stop its process.
        self.simulator = sim
        self._on_stop(sim.stop)
        tlog_path = self.ground.settings.tlog_dir / f"{self.sortie_id}.tlog"
        result = self.result
        track = result.track
        async with contextlib.AsyncExitStack() as stack:
            vehicle: Any = None
            try:
                url = await asyncio.to_thread(sim.start)
                vehicle = await stack.enter_async_context(
                    Vehicle.connect(
                        url, timeout=20, tlog_path=tlog_path, link_timeout_s=spec.link_timeout_s
                    )
                )
                self.link = vehicle
            except Exception as exc:
                if spec.preflight is None:
                    raise
                # Not connecting is a failed gate too: recorded "blocked", with the reason.
                self.connect_error = str(exc).splitlines()[0][:300] if str(exc) else repr(exc)
            if spec.preflight is not None and not await self._preflight(vehicle):
                return
            self.progress("upload", 0, None, f"上传任务 (uploading to {url})")
            await vehicle.mission.upload(plan.items)
            await vehicle.fence.upload(plan.fence)
            await vehicle.rally.upload(plan.rally)
            await asyncio.to_thread(
                record,
                "vehicle.upload",
                subject,
                {
                    "mission_id": self.mission_id,
                    "url": url,
                    "mission_items": len(plan.items),
                    "fence_items": len(plan.fence),
                    "rally_items": len(plan.rally),
                    "verified": True,
                },
            )
            await vehicle.wait_ready(30)
            if self._abort.is_set():
                result.reason = self._abort_reason
                self._final = "aborted"
                return

            async def captures() -> None:
                async for pose in vehicle.camera.captures():
                    result.captures.append(pose.model_dump(mode="json"))
                    ring = capture_footprint(pose, self.camera)
                    result.footprints.append(ring or [])
                    if worker is not None:
                        worker.submit(pose)

            async def positions() -> None:
                total = max(1, len(plan.items) - 1)
                async for pos in vehicle.telemetry.position():
                    self.position = (pos.lat, pos.lon, pos.relative_alt_m)
                    if pos.relative_alt_m > 1.0 or track or spec.vehicle_kind == "rover":
                        track.append(
                            [pos.time.isoformat(), pos.lat, pos.lon, round(pos.relative_alt_m, 2)]
                        )
                    frames = worker.frames if worker else 0
                    pending = worker.pending if worker else 0
                    self.progress(
                        "flight",
                        float(vehicle.mission_progress or 0),
                        float(total),
                        f"飞行中 frames={frames} queue={pending}",
                    )

            handled: set[int] = set()
            anomaly_records: list[asyncio.Task[None]] = []
            log_start = len(vehicle.event_log)

            def record_anomaly(detail: dict[str, Any]) -> None:
                # A recorder failure must not end the flight; the event stays in the
                # result either way.
                with contextlib.suppress(Exception):
                    record("sortie.anomaly", subject, detail)

            def handle(event: Any) -> None:
                handled.add(id(event))
                detail = {
                    k: v for k, v in event.to_dict().items() if k not in ("time", "kind", "sysid")
                }
                detail = {
                    k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in detail.items()
                }
                self._emit(event.kind, detail, event.time)
                if event.kind in ANOMALY_KINDS:
                    # Recorded beside the stream, not inline: a slow database (the audit
                    # lock under load) must not hold back the events that follow.
                    anomaly_records.append(
                        asyncio.create_task(
                            asyncio.to_thread(record_anomaly, {"kind": event.kind, **detail})
                        )
                    )

            async def events() -> None:
                async for event in vehicle.events():
                    handle(event)

            tasks = [asyncio.create_task(f()) for f in (captures, positions, events)]
            t0 = time.monotonic()
            try:
                await vehicle.action.arm(wait_ready_s=10)
                # The mission starts at once, recorded after: an armed copter idle on the
                # ground disarms itself after DISARM_DELAY (10 s of its time, 67 ms of ours
                # at ×150), and an audit write in between can take longer under load.
                try:
                    await vehicle.action.start_mission()
                finally:
                    await asyncio.to_thread(
                        record, "vehicle.armed", subject, {"vehicle": self.vehicle_id}
                    )
                await asyncio.to_thread(record, "vehicle.mode", subject, {"mode": "AUTO"})
                await asyncio.to_thread(
                    self._set_status, "flying", {"mission_items": len(plan.items)}
                )

                await self._supervise(vehicle)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                # Events the stream had not delivered when the flight ended (the link-lost
                # event that ended it, on a busy machine) are still the sortie's.
                for event in vehicle.event_log[log_start:]:
                    if id(event) not in handled:
                        handle(event)
                if anomaly_records:
                    await asyncio.wait(anomaly_records, timeout=30)
            st = vehicle.state
            result.mission_finished = bool(st.mission_finished)
            result.last_reached_seq = max(st.reached) if st.reached else -1
            flight_time = st.flight_time_s
            if st.flight_started_mono is not None:
                if st.flight_started_boot_ms is not None and st.boot_ms is not None:
                    flight_time += max(0, st.boot_ms - st.flight_started_boot_ms) / 1000
                else:
                    flight_time += (time.monotonic() - st.flight_started_mono) * spec.speedup
            result.flight_time_s = round(float(flight_time), 1) or round(
                (time.monotonic() - t0) * spec.speedup, 1
            )
            if self._final != "lost" and not self.released:
                record("vehicle.landed", subject, {"flight_time_s": result.flight_time_s})
        result.distance_m = round(
            sum(haversine_m(a[1], a[2], b[1], b[2]) for a, b in itertools.pairwise(track)), 1
        )
        result.tlog = str(tlog_path)
        result.tlog_sha256 = hashlib.sha256(tlog_path.read_bytes()).hexdigest()
        (self.report_dir / "track.geojson").write_text(
            json.dumps(
                {
                    "type": "Feature",
                    "properties": {"sortie_id": self.sortie_id},
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [[p[2], p[1]] for p in track],
                    },
                }
            ),
            encoding="utf-8",
        )
        record(
            "sortie.telemetry",
            subject,
            {
                "tlog_sha256": result.tlog_sha256,
                "distance_m": result.distance_m,
                "flight_time_s": result.flight_time_s,
                "track_points": len(track),
            },
        )

    async def _preflight(self, vehicle: Any) -> bool:
        """Run `spec.preflight` on the connected vehicle (None: it did not connect); False,
        with the sortie to end "blocked" and the reason, when a gate failed."""
        assert self.spec.preflight is not None
        gates = [_gate_dict(g) for g in (await self.spec.preflight(vehicle, self) or [])]
        if vehicle is None and not any(not g["ok"] for g in gates):
            # A hook that forgot the link must still not let an unconnected sortie fly.
            gates.insert(0, {"gate": "connected", "ok": False, "detail": self.connect_error})
        self.result.gates = gates
        failed = next((g for g in gates if not g["ok"]), None)
        subject = f"sortie:{self.sortie_id}"
        if failed is None:
            await asyncio.to_thread(
                self.ground.record, "sortie.preflight", subject, {"passed": len(gates)}
            )
            return True
        self.result.reason = f"preflight gate {failed['gate']}: {failed['detail']}"
        self._final = "blocked"
        self._emit("preflight_failed", {"gate": failed["gate"], "detail": failed["detail"]})
        await asyncio.to_thread(
            self.ground.record,
            "sortie.preflight",
            subject,
            {"passed": False, "gate": failed["gate"], "gates": gates},
        )
        return False

    async def _supervise(self, vehicle: Any) -> None:
        """Watch the flight until it is over, aborted and home, lost, or timed out."""
        from telemetry.link.vehicle import _ON_GROUND

        spec, result = self.spec, self.result
        deadline = time.monotonic() + spec.flight_timeout_s
        rtl_sent = False
        home = self.site.launch  # lon, lat
        while True:
            await asyncio.sleep(0.05)
            st = vehicle.state
            if self._abort.is_set() and not rtl_sent:
                rtl_sent = True
                result.reason = self._abort_reason
                self._final = "aborted"
                self._emit("abort", {"reason": self._abort_reason})
                await asyncio.to_thread(
                    self.ground.record,
                    "sortie.abort",
                    f"sortie:{self.sortie_id}",
                    {"reason": self._abort_reason},
                )
                try:
                    await asyncio.wait_for(vehicle.action.return_to_launch(), 15)
                except Exception as exc:  # noted; the landing wait decides what happened
                    self._emit("command_failed", {"command": "RTL", "error": str(exc)[:200]})
                if self.released:
                    # Shutting down: the vehicle flies home on its own; stop watching.
                    return
            if not st.link_up:
                silent = time.monotonic() - st.last_heartbeat_mono
                if silent > spec.lost_after_s:
                    self._final = "lost"
                    result.reason = result.reason or (
                        f"no heartbeat for {silent:.0f} s (link lost) at mission item "
                        f"{st.mission_current}"
                    )
                    return
                continue
            if not st.armed:
                break
            if st.is_rover:
                if st.mission_finished:
                    break
                if rtl_sent and self.position is not None:
                    lat, lon, _ = self.position
                    if haversine_m(lat, lon, home[1], home[0]) < 3.0:
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(vehicle.action.disarm(), 10)
                        break
            elif st.flew and st.landed_state == _ON_GROUND:
                break
            if time.monotonic() > deadline:
                result.reason = f"the flight did not end within {spec.flight_timeout_s:.0f} s"
                self._final = "failed"
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(vehicle.action.return_to_launch(), 10)
                return
        if self._final == "aborted":
            return
        if st.mission_finished:
            self._final = "completed"
            return
        # Landed without finishing: a failsafe (battery, GCS, EKF, motor) ended the mission.
        failsafes = [e for e in self.events if e.kind == "failsafe" and not e.detail.get("cleared")]
        self._final = "lost"
        result.reason = (
            f"failsafe: {failsafes[-1].detail.get('reason', '')}"
            if failsafes
            else f"landed before the mission finished (mission item {st.mission_current})"
        )

    def _publish(self, worker: FrameWorker, publisher: Any, key: Any) -> None:
        """Sign each suspect's evidence with the vehicle key, publish, wait for the ingest."""
        from missions.site import Site

        pipeline, result, record = self.pipeline, self.result, self.ground.record
        site: Site = self.site
        result.frames, result.detections = worker.frames, worker.detections
        result.unlocated = worker.unlocated
        result.discarded_too_small = int(pipeline.merger.dropped_small)
        suspects = pipeline.suspects()
        record(
            "detection.summary",
            f"sortie:{self.sortie_id}",
            {
                "frames": worker.frames,
                "detections": worker.detections,
                "discarded_too_small": pipeline.merger.dropped_small,
                "discarded_unlocated": worker.unlocated,
                "suspects": len(suspects),
            },
        )
        items = pipeline.evidence(
            site_id=site.id,
            vehicle_id=self.vehicle_id,
            mission_id=self.mission_id,
            sortie_id=self.sortie_id,
            first_sequence=int(publisher.outbox.next_sequence(self.vehicle_id)),
        )
        for (message, media), suspect in zip(items, suspects, strict=True):
            signed = key.sign(message)
            publisher.submit(signed, media)
            result.evidence_ids.append(signed.id)
            info = {
                "class": suspect.class_name,
                "confidence": round(float(suspect.confidence), 3),
                "frames": len(suspect.frames),
                "lat": round(suspect.lat, 7),
                "lon": round(suspect.lon, 7),
            }
            result.suspects.append({"evidence_id": signed.id, **info})
            record("detection.kept", f"evidence:{signed.id}", info)
            self._emit("evidence", {"evidence_id": signed.id, **info})
        publisher.flush(timeout=30)
        self._wait_ingested(result.evidence_ids, self.spec.ingest_timeout_s)

    def _wait_ingested(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.ground.sessions() as session:
                if count_evidence(session, ids) >= len(ids):
                    return
            time.sleep(0.1)
        raise SortieError(
            f"the gateway stored fewer than {len(ids)} evidence items within {timeout:.0f} s; "
            "check the broker and `patrol doctor`"
        )


def _gate_dict(gate: Any) -> dict[str, Any]:
    """{gate, ok, detail} of one preflight result (a dict or an object with those fields)."""
    if isinstance(gate, dict):
        return {"gate": str(gate["gate"]), "ok": bool(gate["ok"]), "detail": str(gate["detail"])}
    return {"gate": str(gate.gate), "ok": bool(gate.ok), "detail": str(gate.detail)}
