"""Run a scenario: start what it needs, fly it, inject its faults, measure, judge, clean up.

One run owns a temporary `$FIELDPATROL_HOME` (SQLite case database, keys, media, tlogs), a
private Mosquitto broker (:mod:`.broker`), a `patrol.ground.Ground` (database, ingest, audit)
and one `patrol.sortie.SortieRun` per vehicle — the same engine `patrol demo` and the fleet
fly with; nothing here orchestrates a flight a second way. What the runner adds:

- the timeline: each fault fires at a simulated time after its vehicle armed, or when a
  condition first holds (mission progress, a waypoint, a mode, evidence handed over);
- measurement: the vehicles' events as the ground saw them over MAVLink, and, on the
  built-in simulator, the simulator's own truth (mode, arming, failsafes, position) sampled
  while flying, because a lost link hides exactly the moments a failsafe scenario is about;
- afterwards: evidence and cases in the record, the audit log verified, every expectation
  judged, and everything stopped — also on Ctrl-C, and on a timeout.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from patrol.scenarios.expectations import Verdict, evaluate
from patrol.scenarios.junit import ScenarioResult
from patrol.scenarios.model import PlannedSortie, Scenario, TimelineEvent, VehicleSpec
from patrol.scenarios.record import Planted, RunRecord, Suspect, VehicleRecord, ground_distance_m

#: How often the runner looks at the vehicles and the timeline (wall-clock seconds): at
#: x100 that is one simulated second, the resolution of `at` and of the truth samples.
POLL_S = 0.01
#: Modes a failsafe switches to.
_FAILSAFE_MODES = ("RTL", "LAND", "SMART_RTL", "HOLD")

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    return None


@dataclass
class _Vehicle:
    """One vehicle of the run: its sortie, its record and what the runner saw of it."""

    spec: VehicleSpec
    planned: PlannedSortie
    record: VehicleRecord
    run: Any = None  # patrol.sortie.SortieRun
    arm_sim_s: float | None = None
    sim_wall0: float | None = None
    #: (wall epoch seconds, simulated seconds) pairs: converts link timestamps to sim time.
    clock: list[tuple[float, float]] = field(default_factory=list)
    reached: int = -1
    mode: str = ""
    evidence: int = 0
    truth_mode: str = ""
    truth_armed: bool = False
    truth_flew: bool = False
    truth_landed: bool = True
    truth_failsafe: str = ""
    link_failsafe_t: float | None = None
    last_truth_t: float = -1e9

    @property
    def id(self) -> str:
        return self.spec.id


class ScenarioRun:
    """`ScenarioRun(scenario).run()` -> `ScenarioResult`; everything started is stopped."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        report_dir: Path | None = None,
        progress: Progress | None = None,
        sitl_copter: str | None = None,
        sitl_rover: str | None = None,
        keep_home: bool = False,
    ) -> None:
        self.scenario = scenario
        self.report_dir = report_dir
        self.progress = progress or _quiet
        self.sitl_copter = sitl_copter
        self.sitl_rover = sitl_rover
        self.keep_home = keep_home
        self.home: Path | None = None
        self.broker: Any = None
        self.ground: Any = None
        self.record = RunRecord(
            scenario=scenario.slug, backend=scenario.backend, seed=scenario.seed
        )
        self.vehicles: dict[str, _Vehicle] = {}
        self._pending: list[TimelineEvent] = list(scenario.timeline)
        self._later: list[tuple[str, float, Callable[[], None]]] = []  # (vehicle, sim t, fn)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.verdicts: list[Verdict] = []
        self.error = ""

    # -- the whole run ---------------------------------------------------------------------

    def run(self) -> ScenarioResult:
        started, cpu0 = time.monotonic(), time.process_time()
        interrupted = False
        try:
            try:
                self._start()
                self._fly()
                self._collect()
            except KeyboardInterrupt:
                interrupted = True
                self.error = "interrupted (Ctrl-C)"
                raise
            except Exception as exc:  # reported as the scenario's error, never a traceback
                self.error = self.error or _one_line(exc)
            finally:
                self._stop(interrupted)
        finally:
            self.record.wall_s = round(time.monotonic() - started, 2)
            self.record.cpu_s = round(time.process_time() - cpu0, 2)
        if self.error:
            self.record.error = self.error
        self.verdicts = evaluate(self.scenario, self.record)
        report = ""
        if self.report_dir is not None:
            from patrol.scenarios.report import write_report

            report = str(
                write_report(self.report_dir, self.scenario, self.record, self.verdicts, self.error)
            )
        return ScenarioResult(
            name=self.scenario.name,
            path=str(self.scenario.path),
            slug=self.scenario.slug,
            verdicts=self.verdicts,
            wall_s=self.record.wall_s,
            cpu_s=self.record.cpu_s,
            error=self.error,
            report=report,
        )

    def _start(self) -> None:
        from patrol.config import Settings
        from patrol.ground import Ground
        from patrol.scenarios.broker import ScenarioBroker
        from patrol.scenarios.world import build_world
        from patrol.sortie import SortieRun, SortieSpec

        sc = self.scenario
        self.home = Path(tempfile.mkdtemp(prefix=f"fieldpatrol-scenario-{sc.slug}-"))
        settings = Settings(
            home=self.home,
            database_url=f"sqlite:///{self.home / 'fieldpatrol.db'}",
            sitl_copter=self.sitl_copter,
            sitl_rover=self.sitl_rover,
        )
        self.progress(f"{sc.slug}: 启动代理与数据库 (broker, database in {self.home})")
        self.broker = ScenarioBroker().start()
        self.ground = Ground(settings, actor="patrol.scenario", broker=self.broker.handle)
        self.ground.start()
        first_world = None
        for v in sc.vehicles:
            planned = sc.sorties[v.id]
            # One world per vehicle (each camera caches its own tiles); all are identical.
            world = build_world(sc.site, sc.world)
            if first_world is None:
                first_world = world
            # The rover carries no survey camera here; and a scenario that judges nothing the
            # camera produces (only flight safety) skips rendering and detecting frames.
            vision = v.kind == "copter" and uses_camera(sc)
            spec = SortieSpec(
                site=sc.site,
                vehicle_kind=v.kind,
                vehicle_id=v.id,
                plan=planned.plan,
                altitude_agl_m=float(planned.plan.altitude_agl_m),
                world=world,
                seed=sc.seed,
                backend=v.backend,
                speedup=v.speedup,
                sim_params=dict(v.params) or None,
                sysid=v.sysid,
                vision=vision,
                flight_timeout_s=sc.timeout_s,
                sitl_binary=self._sitl_binary(v) if v.backend == "sitl" else None,
            )
            record = VehicleRecord(
                id=v.id,
                kind=v.kind,
                backend=v.backend,
                planned_path=list(planned.path_lonlat),
            )
            self.record.vehicles[v.id] = record
            vehicle = _Vehicle(v, planned, record)
            vehicle.run = SortieRun(self.ground, spec, on_event=self._listener(vehicle))
            self.vehicles[v.id] = vehicle
        assert first_world is not None
        self.record.planted = [
            Planted(o.id, o.class_name, o.lat, o.lon, o.is_violation)
            for o in [*first_world.violations, *first_world.distractors]
        ]
        for vehicle in self.vehicles.values():
            vehicle.run.prepare()

    def _sitl_binary(self, v: VehicleSpec) -> str:
        from simulators.sitl import sitl_binary

        return str(sitl_binary(v.kind, self.sitl_copter, self.sitl_rover))

    def _fly(self) -> None:
        sc = self.scenario
        for vehicle in self.vehicles.values():
            self.progress(
                f"{sc.slug}: {vehicle.id} ({vehicle.spec.kind}, {vehicle.spec.backend} "
                f"×{vehicle.spec.speedup:g}) 起飞 (launching)"
            )
            vehicle.run.start()
        deadline = time.monotonic() + sc.timeout_s
        while not all(v.run.done for v in self.vehicles.values()):
            if time.monotonic() > deadline:
                self.error = (
                    f"timed out after {sc.timeout_s:g} s (timeout_s); the vehicles were "
                    + ", ".join(f"{v.id} {v.run.status}" for v in self.vehicles.values())
                )
                for v in self.vehicles.values():
                    v.run.abort("scenario timed out")
                break
            for vehicle in self.vehicles.values():
                self._observe(vehicle)
            self._fire_due()
            time.sleep(POLL_S)
        for vehicle in self.vehicles.values():
            try:
                vehicle.run.wait(30)
            except Exception as exc:
                vehicle.record.error = _one_line(exc)
                self.error = self.error or f"{vehicle.id}: {vehicle.record.error}"
        for t in self._threads:
            t.join(30)
        for event in self._pending:
            self.record.note(0.0, event.vehicle, "fault", f"{event.key} {event.fault}: never fired")
            self.error = self.error or (
                f"{event.key} ({event.fault} when {event.trigger}) never fired: the condition "
                "did not happen before the sortie ended"
            )

    # -- watching the vehicles -------------------------------------------------------------

    def _sim_now(self, vehicle: _Vehicle) -> float | None:
        sim = vehicle.run.simulator if vehicle.run is not None else None
        if sim is None:
            return None
        model = getattr(sim, "vehicle", None)
        if model is not None and hasattr(model, "time_s"):
            return float(model.time_s)
        # SITL: its own clock, the time_boot_ms of what it sends. It runs at the speed-up it
        # was given only on an idle machine (×100 asked may be ×30 under load), so wall time
        # times the speed-up would stretch every measured delay.
        link = getattr(vehicle.run, "link", None)
        boot_ms = getattr(getattr(link, "state", None), "boot_ms", None)
        if boot_ms is not None:
            return float(boot_ms) / 1000.0
        if link is not None:
            return None  # connected, nothing timed heard yet
        if vehicle.sim_wall0 is None:
            vehicle.sim_wall0 = time.monotonic()
        return (time.monotonic() - vehicle.sim_wall0) * vehicle.spec.speedup

    def _t(self, vehicle: _Vehicle, sim_s: float | None = None) -> float:
        """Simulated seconds since the vehicle armed (negative before)."""
        now = self._sim_now(vehicle) if sim_s is None else sim_s
        if now is None:
            return 0.0
        return now - (vehicle.arm_sim_s if vehicle.arm_sim_s is not None else now)

    def _observe(self, vehicle: _Vehicle) -> None:
        """Sample the simulator's truth (built-in back end) and the clock."""
        now = self._sim_now(vehicle)
        if now is None:
            return
        with self._lock:
            vehicle.clock.append((time.time(), now))
        model = getattr(vehicle.run.simulator, "vehicle", None)
        if model is None or not hasattr(model, "armed"):
            return
        rec = vehicle.record
        armed = bool(model.armed)
        if armed and vehicle.arm_sim_s is None:
            vehicle.arm_sim_s = now
            rec.armed_at_s = 0.0
            self.record.note(0.0, vehicle.id, "armed", "armed (simulator)")
        t = self._t(vehicle, now)
        mode = str(model.mode)
        if mode != vehicle.truth_mode:
            if vehicle.truth_mode:
                self.record.note(
                    t, vehicle.id, "mode", f"{vehicle.truth_mode} → {mode} (simulator)"
                )
            vehicle.truth_mode = mode
        if armed and vehicle.arm_sim_s is not None:
            reason = _failsafe_reason(model)
            if reason and not vehicle.truth_failsafe:
                vehicle.truth_failsafe = reason
                early = vehicle.link_failsafe_t
                self._failsafe(vehicle, t if early is None else min(t, early), reason)
            landed = bool(model.landed) if model.is_copter else False
            if not landed:
                vehicle.truth_flew = True
            if landed and vehicle.truth_flew and not vehicle.truth_landed:
                self._landed(vehicle, t, "landed (simulator)")
            vehicle.truth_landed = landed
            if t - vehicle.last_truth_t >= 1.0:
                vehicle.last_truth_t = t
                lat, lon = model.estimated_latlon()
                rec.track.append((round(t, 1), float(lon), float(lat)))
        if (
            vehicle.truth_armed
            and not armed
            and (vehicle.record.landed_at_s is None or vehicle.record.kind == "rover")
        ):
            self._landed(vehicle, t, "disarmed (simulator)")
        if vehicle.truth_flew and not armed:
            self._idle(vehicle)
        vehicle.truth_armed = armed

    def _idle(self, vehicle: _Vehicle) -> None:
        """A built-in vehicle that has flown and disarmed runs on at real time.

        At a speed-up of 100 an idle simulator still steps 5,000 times a second and streams
        telemetry the link must parse, all under the GIL the frame worker needs for the
        frames still queued; nothing the scenario measures happens on the ground after the
        flight, so its clock slows to real time (times after that are still simulated)."""
        sim = vehicle.run.simulator
        # Not while a link loss runs: it ends in simulated time.
        if getattr(sim, "link_down", True) or any(
            e.vehicle == vehicle.id and e.at_s is not None for e in self._pending
        ):
            return
        if getattr(sim, "speedup", 1.0) > 1.0:
            with contextlib.suppress(Exception):
                sim.call(lambda: setattr(sim, "speedup", 1.0))

    def _failsafe(self, vehicle: _Vehicle, t: float, reason: str, seen: str = "") -> None:
        """Record the first failsafe. On the built-in back end its name always comes from
        the simulator's flags (so two runs name it alike), its time from whichever saw it
        first: the sampled truth or the autopilot's own report over MAVLink."""
        rec = vehicle.record
        truth = hasattr(vehicle.run.simulator, "vehicle")
        if not rec.mission_finished:
            if rec.failsafe_at_s is None:
                if not truth or not seen:
                    rec.failsafe_at_s = round(t, 1)
                    rec.failsafe_reason = reason
                else:
                    vehicle.link_failsafe_t = t  # named when the truth catches up
            elif seen and t < rec.failsafe_at_s:
                rec.failsafe_at_s = round(t, 1)
        self.record.note(t, vehicle.id, "failsafe", seen or reason)

    def _landed(self, vehicle: _Vehicle, t: float, text: str) -> None:
        rec = vehicle.record
        if rec.landed_at_s is None or (
            rec.failsafe_at_s is not None and rec.landed_at_s < rec.failsafe_at_s
        ):
            rec.landed_at_s = round(t, 1)
        self.record.note(t, vehicle.id, "landed", text)

    def _listener(self, vehicle: _Vehicle) -> Callable[[Any], None]:
        """The sortie's events (as the ground saw them over MAVLink) into the record."""

        def on_event(event: Any) -> None:
            kind, detail = event.kind, event.detail
            now = self._sim_now(vehicle)
            rec = vehicle.record
            if kind == "armed_changed" and detail.get("armed") and vehicle.arm_sim_s is None:
                vehicle.arm_sim_s = now
                rec.armed_at_s = 0.0
            t = self._t(vehicle, now)
            if kind == "armed_changed":
                self.record.note(t, vehicle.id, "armed" if detail.get("armed") else "disarmed", "")
                if not detail.get("armed") and rec.kind == "rover":
                    self._landed(vehicle, t, "disarmed")
            elif kind == "mode_changed":
                vehicle.mode = str(detail.get("new_mode", ""))
                self.record.note(
                    t, vehicle.id, "mode", f"{detail.get('old_mode')} → {vehicle.mode}"
                )
            elif kind == "waypoint_reached":
                vehicle.reached = max(vehicle.reached, int(detail.get("seq", -1)))
            elif kind == "mission_finished":
                rec.mission_finished = True
                self.record.note(t, vehicle.id, "mission_finished", "mission finished")
                if rec.kind == "rover" and rec.landed_at_s is None:
                    rec.landed_at_s = round(t, 1)
            elif kind == "failsafe" and not detail.get("cleared"):
                text = str(detail.get("reason", "failsafe"))
                self._failsafe(vehicle, t, text, seen=text)
            elif kind == "fence_breach":
                rec.fence_breaches += 1
                text = f"Fence Breach ({detail.get('breach_type', '')})"
                self._failsafe(vehicle, t, text, seen=text)
            elif kind == "landed":
                if not hasattr(vehicle.run.simulator, "vehicle"):
                    self._landed(vehicle, t, "landed")
            elif kind in ("link_lost", "link_regained", "abort", "command_failed"):
                self.record.note(t, vehicle.id, kind, _short(detail))
            elif kind == "evidence":
                vehicle.evidence += 1
            elif kind == "status":
                self.record.note(t, vehicle.id, "status", str(detail.get("status", "")))

        return on_event

    # -- the timeline ----------------------------------------------------------------------

    def _due(self, event: TimelineEvent, vehicle: _Vehicle) -> bool:
        if event.at_s is not None:
            return vehicle.arm_sim_s is not None and self._t(vehicle) >= event.at_s
        assert event.when is not None
        cond, value = event.when
        if cond == "evidence_submitted":
            return vehicle.evidence >= int(value)
        if vehicle.arm_sim_s is None:
            return False
        if cond == "progress":
            last = max(1, len(vehicle.planned.items) - 1)
            return vehicle.reached >= math.ceil(float(value) * last)
        if cond == "waypoint":
            return vehicle.reached >= int(value)
        if cond == "mode":
            return vehicle.mode == value or vehicle.truth_mode == value
        return False

    def _fire_due(self) -> None:
        for event in list(self._pending):
            vehicle = self.vehicles[event.vehicle]
            if vehicle.run.simulator is None or not self._due(event, vehicle):
                continue
            self._pending.remove(event)
            t = self._t(vehicle)
            self.record.note(
                t,
                vehicle.id,
                "fault",
                f"{event.key} {event.fault} {_short(event.args)} ({event.trigger})",
            )
            self.progress(f"{self.scenario.slug}: t={t:.0f} s {event.fault} ({vehicle.id})")
            try:
                self._apply(event, vehicle)
            except Exception as exc:
                self.error = (
                    self.error
                    or f"{event.key} {event.fault} could not be applied: {_one_line(exc)}"
                )
        for item in list(self._later):
            vid, at, fn = item
            vehicle = self.vehicles[vid]
            if self._t(vehicle) >= at:
                self._later.remove(item)
                with contextlib.suppress(Exception):
                    fn()

    def _background(self, name: str, fn: Callable[[], None]) -> None:
        """Run a slow fault (a restart, a second ground station) without stalling the loop."""

        def target() -> None:
            try:
                fn()
            except Exception as exc:
                self.error = self.error or f"{name}: {_one_line(exc)}"

        thread = threading.Thread(target=target, name=f"scenario-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _apply(self, event: TimelineEvent, vehicle: _Vehicle) -> None:
        sim = vehicle.run.simulator
        faults = sim.faults
        args = event.args
        t = self._t(vehicle)
        if event.fault == "link_loss":
            faults.link_loss(float(args["duration_s"]))
        elif event.fault == "gps_loss":
            faults.gps_loss(True)
            if "duration_s" in args:
                self._later.append(
                    (vehicle.id, t + float(args["duration_s"]), lambda: faults.gps_loss(False))
                )
        elif event.fault == "low_battery":
            faults.low_battery(float(args.get("remaining_pct", 8.0)))
        elif event.fault == "wind":
            faults.wind(
                float(args["speed_m_s"]),
                float(args.get("from_deg", 0.0)),
                float(args.get("turbulence_m_s", 0.0)),
            )
        elif event.fault == "motor_failure":
            faults.motor_failure()
        elif event.fault == "fence_breach":
            target = args["target"]
            via = args.get("via")
            alt = args.get("alt_agl_m")
            self._background("fence_breach", lambda: self._guided_goto(vehicle, target, alt, via))
        elif event.fault == "broker_restart":
            down = float(args.get("down_s", 1.0))
            self._background("broker_restart", lambda: self.broker.restart(down))
        elif event.fault == "gateway_restart":
            down = float(args.get("down_s", 1.0))
            self._background("gateway_restart", lambda: _restart_ingest(self.ground, down))

    def _guided_goto(
        self,
        vehicle: _Vehicle,
        target: list[float],
        alt: float | None,
        via: list[float] | None = None,
    ) -> None:
        """A second ground station on the vehicle's MAVLink port switches to GUIDED and sends
        a position target: what a careless pilot or a bad script does. With `via`, it first
        sends the vehicle there and waits until it arrives, then aims at `target` across the
        fence."""
        from simulators.vehicle.gcs import GroundStation

        sim = vehicle.run.simulator
        port = getattr(sim, "control_port", 0)
        if port:
            # SITL: the launcher's second MAVLink port takes one client, and its fault
            # injector may hold it; it reconnects on its next fault.
            sim.faults.close()
        url = f"tcp:127.0.0.1:{port}" if port else sim.url
        if alt is None:
            alt = (
                float(vehicle.planned.plan.altitude_agl_m) if vehicle.spec.kind == "copter" else 0.0
            )
        station = GroundStation(
            url,
            target_system=vehicle.spec.sysid,
            source_system=250,
            timeout=10,
            request_streams=via is not None,  # SITL streams positions only when asked
        )
        try:
            station.set_mode("GUIDED")
            if via is None:
                # Aimed outside the fence: a copter refuses it and holds, a rover goes.
                _send_position_target(station, vehicle.spec.sysid, target, float(alt))
                station.drain(HOLD_OPEN_S)  # closing at once can lose what was just sent
                return
            _send_position_target(station, vehicle.spec.sysid, via, float(alt))
            _wait_near(station, via, within_m=8.0, timeout_s=VIA_TIMEOUT_S)
            _head_for(station, vehicle.spec.sysid, target, float(alt), timeout_s=30.0)
        finally:
            station.close()

    # -- afterwards ------------------------------------------------------------------------

    def _collect(self) -> None:
        from cases import audit
        from patrol.sortie import count_cases, count_evidence

        ids: list[str] = []
        for vehicle in self.vehicles.values():
            result = vehicle.run.result
            rec = vehicle.record
            rec.frames = int(result.frames)
            if rec.failsafe_at_s is None and vehicle.link_failsafe_t is not None:
                # Reported by the autopilot, but no flag of the simulator's named it.
                rec.failsafe_at_s = round(vehicle.link_failsafe_t, 1)
                rec.failsafe_reason = "failsafe (reported over MAVLink)"
            rec.mission_finished = rec.mission_finished or bool(result.mission_finished)
            with self._lock:
                clock = list(vehicle.clock)
            for sample in result.track:
                t = _sim_at(clock, sample[0])
                if t is not None:
                    rec.track.append(
                        (
                            round(t - (vehicle.arm_sim_s or 0.0), 1),
                            float(sample[2]),
                            float(sample[1]),
                        )
                    )
            rec.track.sort()
            if (
                rec.flew
                and rec.landed_at_s is None
                and rec.kind == "rover"
                and result.mission_finished
            ):
                rec.landed_at_s = rec.track[-1][0] if rec.track else 0.0
            for s in result.suspects:
                self.record.suspects.append(
                    Suspect(
                        vehicle.id,
                        str(s["class"]),
                        float(s["lat"]),
                        float(s["lon"]),
                        float(s["confidence"]),
                    )
                )
            ids.extend(result.evidence_ids)
        self.record.evidence_submitted = len(ids)
        settings = self.ground.settings
        with self.ground.sessions() as session:
            self.record.evidence_stored = count_evidence(session, ids)
            self.record.cases_opened = count_cases(session, ids)
            log_key = audit.LogKey.load_or_create(settings.keys_dir / "audit-log.key")
            audit.issue_head(session, log_key)
            session.commit()
            report = audit.verify(session, public_key=log_key.public_key)
            self.record.audit_ok = bool(report.ok)
            self.record.audit_entries = int(audit.count(session))

    def _stop(self, interrupted: bool = False) -> None:
        """Stop everything this run started, in reverse order, each step bounded in time.

        After a Ctrl-C nobody waits for a simulated vehicle to fly home: the simulators are
        stopped at once, and the sorties get a few seconds to unwind."""
        for vehicle in self.vehicles.values():
            run = vehicle.run
            if run is None or run.done or run._thread is None:
                continue
            run.abort("interrupted" if interrupted else "scenario stopped")
            sim = run.simulator
            if interrupted and sim is not None:
                with contextlib.suppress(Exception):
                    sim.stop()
            with contextlib.suppress(Exception):
                run.wait(3 if interrupted else 20)
            if sim is not None:  # a sortie stuck past its wait: its simulator must not outlive us
                with contextlib.suppress(Exception):
                    sim.stop()
        if self.ground is not None:
            with contextlib.suppress(Exception):
                self.ground.stop()
        if self.broker is not None:
            with contextlib.suppress(Exception):
                self.broker.stop()
        if self.home is not None and not self.keep_home:
            shutil.rmtree(self.home, ignore_errors=True)


_CAMERA_EXPECTATIONS = ("planted_found", "false_suspects", "evidence", "cases_opened")
_EVIDENCE_FAULTS = ("broker_restart", "gateway_restart")


def uses_camera(scenario: Scenario) -> bool:
    """Whether anything in the scenario depends on frames, detections or evidence."""
    return (
        any(e.kind in _CAMERA_EXPECTATIONS for e in scenario.expectations)
        or any(t.fault in _EVIDENCE_FAULTS for t in scenario.timeline)
        or any(t.when is not None and t.when[0] == "evidence_submitted" for t in scenario.timeline)
    )


def _restart_ingest(ground: Any, down_s: float) -> None:
    restart = getattr(ground, "restart_ingest", None)
    if restart is None:
        raise RuntimeError("this Ground cannot restart its ingest (Ground.restart_ingest missing)")
    restart(down_s=down_s)


def _failsafe_reason(model: Any) -> str:
    """The built-in simulator's own failsafe state, in ArduPilot's words."""
    if getattr(model, "batt_failsafe", False):
        return "Battery Failsafe"
    if getattr(model, "gcs_failsafe", False):
        return "GCS Failsafe"
    if getattr(model, "ekf_failsafe", False):
        return "EKF Failsafe"
    if getattr(model, "motor_failed", False):
        return "Motor failure"
    if int(getattr(model, "breach_type", 0) or 0):
        return "Fence Breach"
    return ""


def _sim_at(clock: list[tuple[float, float]], iso: str) -> float | None:
    """Simulated seconds at a wall-clock ISO time, interpolated on the sampled clock."""
    if not clock:
        return None
    try:
        wall = datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None
    if wall <= clock[0][0]:
        return clock[0][1]
    if wall >= clock[-1][0]:
        return clock[-1][1]
    lo, hi = 0, len(clock) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if clock[mid][0] <= wall:
            lo = mid
        else:
            hi = mid
    (w0, s0), (w1, s1) = clock[lo], clock[hi]
    return s0 if w1 == w0 else s0 + (s1 - s0) * (wall - w0) / (w1 - w0)


def _short(detail: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in detail.items() if v not in (None, ""))[:200]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:400]


def run_scenarios(
    scenarios: list[Scenario],
    *,
    report_dir: Path | None = None,
    progress: Progress | None = None,
    sitl_copter: str | None = None,
    sitl_rover: str | None = None,
) -> list[ScenarioResult]:
    """Run each scenario in turn (one at a time: each one's figures are its own)."""
    return [
        ScenarioRun(
            sc,
            report_dir=report_dir,
            progress=progress,
            sitl_copter=sitl_copter,
            sitl_rover=sitl_rover,
        ).run()
        for sc in scenarios
    ]


#: Wall-clock seconds a breach attempt waits for the vehicle to reach its `via` point.
VIA_TIMEOUT_S = 120.0
#: Wall-clock seconds the second ground station stays connected after its last command.
HOLD_OPEN_S = 1.0


def _send_position_target(station: Any, sysid: int, lonlat: list[float], alt: float) -> None:
    """SET_POSITION_TARGET_GLOBAL_INT to (lon, lat) at `alt` m above home, position only."""
    from pymavlink.dialects.v20 import ardupilotmega as m

    mask = (
        m.POSITION_TARGET_TYPEMASK_VX_IGNORE
        | m.POSITION_TARGET_TYPEMASK_VY_IGNORE
        | m.POSITION_TARGET_TYPEMASK_VZ_IGNORE
        | m.POSITION_TARGET_TYPEMASK_AX_IGNORE
        | m.POSITION_TARGET_TYPEMASK_AY_IGNORE
        | m.POSITION_TARGET_TYPEMASK_AZ_IGNORE
        | m.POSITION_TARGET_TYPEMASK_YAW_IGNORE
        | m.POSITION_TARGET_TYPEMASK_YAW_RATE_IGNORE
    )
    station.mav.set_position_target_global_int_send(
        0,
        sysid,
        m.MAV_COMP_ID_AUTOPILOT1,
        m.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
        mask,
        round(float(lonlat[1]) * 1e7),
        round(float(lonlat[0]) * 1e7),
        alt,
        0, 0, 0, 0, 0, 0, 0, 0,
    )  # fmt: skip


def _distance_m(msg: Any, lonlat: list[float]) -> float:
    """Ground distance (m) from a GLOBAL_POSITION_INT to (lon, lat)."""
    return ground_distance_m(msg.lat / 1e7, msg.lon / 1e7, float(lonlat[1]), float(lonlat[0]))


def _head_for(station: Any, sysid: int, lonlat: list[float], alt: float, timeout_s: float) -> None:
    """Send the target until the vehicle is seen closing on it (5 m nearer), resending every
    second as a ground station does: a SET_POSITION_TARGET has no acknowledgement, and one sent
    just before the station hangs up may never be read."""
    start = _distance_m(station.recv("GLOBAL_POSITION_INT"), lonlat)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _send_position_target(station, sysid, lonlat, alt)
        resend = time.monotonic() + 1.0
        while time.monotonic() < resend:
            msg = station.recv("GLOBAL_POSITION_INT")
            if _distance_m(msg, lonlat) < start - 5.0:
                return
    raise TimeoutError(
        f"the vehicle did not head for {lonlat} within {timeout_s:g} s (a copter refuses a "
        "GUIDED destination outside an enabled fence)"
    )


def _wait_near(station: Any, lonlat: list[float], within_m: float, timeout_s: float) -> None:
    """Until GLOBAL_POSITION_INT puts the vehicle within `within_m` of (lon, lat)."""

    def near(msg: Any) -> bool:
        return _distance_m(msg, lonlat) < within_m

    try:
        station.recv("GLOBAL_POSITION_INT", timeout=timeout_s, cond=near)
    except TimeoutError as exc:
        raise TimeoutError(
            f"the vehicle did not reach the via point {lonlat} within {timeout_s:g} s"
        ) from exc
