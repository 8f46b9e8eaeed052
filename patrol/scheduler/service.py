"""The running scheduler: decides every due occurrence once, gates and flies the runs.

Each pass (`decide`) takes, per active schedule, the occurrences due since its high-water mark
(`Schedule.decided_until`) and writes one `ScheduleRun` per occurrence in the same transaction
that moves the mark: so a restarted scheduler (same database) neither loses nor repeats a run,
and the unique (schedule, due time) key stops a second scheduler from flying it again.
Occurrences found late (the service was down) follow the schedule's missed-run policy:
``skip`` records them all as missed; ``run_once_late`` runs the latest of them now and records
the others as missed. Holidays, the time window and vehicle availability are checked before
a run is launched; then the preflight gates (`gates.py`) on the connected vehicle: by the
scheduler itself with a `Launcher`, or at the sortie engine's pre-arm hook with a
`SortieLauncher` (`engine.py`), which then records the sortie from plan to report.

All database work runs in worker threads, so the scheduler can share the gateway's event loop
(`patrol run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cases import audit
from cases.errors import CalendarError
from cases.models import MissionRecord, SiteRecord, Sortie
from cases.schedules import (
    ACTIVE_STATUSES,
    ON_TIME_S,
    Schedule,
    ScheduleError,
    ScheduleRun,
    calendar_for,
    day_refusal,
    launch_lonlat,
    load_site_record,
    next_due,
    no_fly_now,
    occurrences,
    parse_window,
    plan_for,
    vehicles_busy,
    window_refusal,
    zone,
)
from cases.workdays import HolidayTable
from patrol.scheduler.clock import Clock, SystemClock
from patrol.scheduler.gates import GateResult, Thresholds, first_failure, vehicle_gates
from patrol.scheduler.launcher import (
    GateSession,
    Job,
    Launcher,
    SortieLauncher,
    VehicleSession,
)
from patrol.scheduler.notify import EventNotifier

log = logging.getLogger(__name__)

ACTOR = "system:scheduler"


class Scheduler:
    """Runs the schedules of one database through ``launcher`` on ``clock``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        launcher: Launcher | SortieLauncher,
        *,
        clock: Clock | None = None,
        notifier: EventNotifier | None = None,
        thresholds: Thresholds | None = None,
        actor: str = ACTOR,
        rescan_s: float = 15.0,
        on_time_s: float = ON_TIME_S,
        connect_timeout_s: float = 60.0,
        on_view: Callable[[dict[str, Any]], None] | None = None,
        calendar_tables: Sequence[HolidayTable] = (),
    ) -> None:
        self.sessions = sessions
        self.launcher = launcher
        self.clock: Clock = clock or SystemClock()
        self.notifier = notifier
        self.thresholds = thresholds or Thresholds()
        self.actor = actor
        self.rescan_s = rescan_s
        self.on_time_s = on_time_s
        self.connect_timeout_s = connect_timeout_s
        self.on_view = on_view
        self.calendar_tables = list(calendar_tables)
        self.flights: dict[int, asyncio.Task[None]] = {}
        self.notifications: list[dict[str, Any]] = []
        self._wake: asyncio.Event | None = None
        self._stopping = False

    # -- lifecycle ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop the loop (flights in the air are brought home); safe from the loop's thread."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()

    async def run(self, until: datetime | None = None) -> None:
        """Run until `request_stop()` or, with ``until``, until that (clock) time has passed
        and the last flight has ended."""
        self._wake = asyncio.Event()
        self._stopping = False
        await asyncio.to_thread(self.recover)
        try:
            while not self._stopping:
                now = self.clock.now()
                horizon = min(now, until) if until is not None else now
                for run_id in await asyncio.to_thread(self.decide, horizon):
                    self.flights[run_id] = asyncio.create_task(self._fly(run_id))
                finished = until is not None and now >= until
                if finished and not self.flights:
                    break
                nxt = None if finished else await asyncio.to_thread(self.next_wake, now)
                if until is not None:
                    nxt = until if nxt is None else min(nxt, until)
                if nxt is None or finished:
                    nxt = now + timedelta(seconds=self.rescan_s)
                self._wake.clear()
                await self.clock.sleep_until(
                    nxt, self._wake, idle=not self.flights, max_real_s=self.rescan_s
                )
        finally:
            await self._abort_flights()

    async def _abort_flights(self) -> None:
        tasks = list(self.flights.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    def recover(self) -> int:
        """Runs left pending or in flight by a scheduler that stopped: recorded as interrupted
        (never flown again; the vehicle's own failsafe took it home)."""
        with self.sessions() as session:
            rows = session.scalars(
                select(ScheduleRun).where(ScheduleRun.status.in_(ACTIVE_STATUSES))
            ).all()
            now = self.clock.now()
            for row in rows:
                if row.id in self.flights:
                    continue
                row.status = "interrupted"
                row.reason = (row.reason + "; " if row.reason else "") + (
                    "the scheduler stopped while this run was in progress"
                )
                row.ended_at = now
                if row.sortie_id:
                    sortie = session.get(Sortie, row.sortie_id)
                    if sortie is not None and sortie.status in ("launching", "flying"):
                        sortie.status = "aborted"
                        sortie.ended_at = now
                audit.append(
                    session,
                    self.actor,
                    "schedule.interrupted",
                    f"schedule:{row.schedule_id}",
                    {"run": row.id, "due_at": row.due_at.isoformat()},
                )
            session.commit()
            return len(rows)

    # -- deciding ----------------------------------------------------------------------------

    def next_wake(self, now: datetime) -> datetime | None:
        with self.sessions() as session:
            times = [
                t
                for s in session.scalars(select(Schedule).where(Schedule.state == "active"))
                for t in next_due(session, s, now)
            ]
        return min(times) if times else None

    def decide(self, now: datetime) -> list[int]:
        """Record a decision for every occurrence due by ``now``; the ids of runs to launch."""
        launches: list[int] = []
        notes: list[tuple[str, str, str, dict[str, Any]]] = []
        with self.sessions() as session:
            schedules = session.scalars(
                select(Schedule).where(Schedule.state == "active").order_by(Schedule.id)
            ).all()
            # Most passes find one schedule due: the others cost no query.
            due_now = [
                (s, due)
                for s in schedules
                if (due := occurrences(s.rrule, s.starts_at, s.timezone, s.decided_until, now))
            ]
            if due_now:
                calendar = calendar_for(session, self.calendar_tables)
                busy = vehicles_busy(session, now)
                sites: dict[str, tuple[float, float]] = {}
            for s, due in due_now:
                try:
                    rows = self._decide_one(session, s, due, now, calendar, busy, sites, notes)
                    session.commit()
                except IntegrityError:
                    # Another scheduler on this database decided these occurrences first.
                    session.rollback()
                    busy = vehicles_busy(session, now)
                    continue
                launches.extend(r.id for r in rows if r.status == "pending")
        for site_id, vehicle_id, kind, detail in notes:
            self._notify(site_id, vehicle_id, kind, detail, now)
        return launches

    def _decide_one(
        self,
        session: Session,
        s: Schedule,
        due: list[datetime],
        now: datetime,
        calendar: Any,
        busy: dict[str, tuple[str, datetime]],
        sites: dict[str, tuple[float, float]],
        notes: list[tuple[str, str, str, dict[str, Any]]],
    ) -> list[ScheduleRun]:
        tz = zone(s.timezone)
        if s.site_id not in sites:
            sites[s.site_id] = launch_lonlat(session.get(SiteRecord, s.site_id))
        lonlat = sites[s.site_id]
        window = parse_window(s.window)
        rows: list[ScheduleRun] = []

        def add(
            due_at: datetime, decision: str, status: str, reason: str, vehicle: str | None = None
        ) -> None:
            rows.append(
                ScheduleRun(
                    schedule_id=s.id,
                    due_at=due_at,
                    decided_at=now,
                    decision=decision,
                    status=status,
                    reason=reason,
                    vehicle_id=vehicle,
                    gates=[],
                )
            )

        # First what would have happened on time: the day (holidays) and the window at the
        # due time. Only an occurrence that would have flown can be missed, or run late.
        wanted: list[datetime] = []
        for d in due:
            try:
                refusal = day_refusal(calendar, s.skip_holidays, s.workdays_only, d)
            except CalendarError as exc:
                add(d, "skip_calendar", "skipped", str(exc))
                notes.append(
                    (
                        s.site_id,
                        str(s.vehicles[0]),
                        "schedule_calendar_unknown",
                        {"schedule_id": s.id, "due_at": d.isoformat(), "reason": str(exc)},
                    )
                )
                continue
            if refusal is not None:
                add(d, refusal[0], "skipped", refusal[1])
                continue
            outside = window_refusal(window, s.timezone, d, s.duration_s, lonlat)
            if outside is not None:
                add(d, "skip_window", "skipped", outside)
                continue
            wanted.append(d)
        late = [d for d in wanted if (now - d).total_seconds() > self.on_time_s]
        on_time = [d for d in wanted if d not in late]
        candidates: list[tuple[datetime, str]] = []
        for i, d in enumerate(late):
            when = f"{d.astimezone(tz):%Y-%m-%d %H:%M}"
            if s.missed_policy == "skip":
                add(
                    d,
                    "skip_missed",
                    "skipped",
                    f"missed at {when} (the scheduler was not running); policy skip",
                )
            elif on_time or i < len(late) - 1:
                add(
                    d,
                    "skip_missed",
                    "skipped",
                    f"missed at {when}; policy run_once_late runs only the latest missed one",
                )
            else:
                candidates.append((d, "run_late"))
        candidates += [(d, "run") for d in on_time]
        for d, decision in candidates:
            start = d
            if decision == "run_late":
                start = now
                outside = window_refusal(window, s.timezone, now, s.duration_s, lonlat)
                if outside is not None:
                    add(d, "skip_missed", "skipped", f"missed; a late run now: {outside}")
                    continue
            free = [v for v in s.vehicles if v not in busy or busy[v][1] <= start]
            if not free:
                held = ", ".join(f"{v} by {busy[v][0]}" for v in s.vehicles)
                reason = f"no free vehicle in the pool ({held})"
                add(d, "skip_busy", "skipped", reason)
                # A run lost to a busy fleet is the supervisor's to know about.
                notes.append(
                    (
                        s.site_id,
                        str(s.vehicles[0]),
                        "schedule_run_skipped",
                        {"schedule_id": s.id, "due_at": d.isoformat(), "reason": reason},
                    )
                )
                continue
            vehicle = str(free[0])
            busy[vehicle] = (f"schedule {s.id}", start + timedelta(seconds=s.duration_s))
            late_note = (
                ""
                if decision == "run"
                else f"run late at {now.astimezone(tz):%Y-%m-%d %H:%M} (policy run_once_late)"
            )
            add(d, decision, "pending", late_note, vehicle)
        s.decided_until = now
        for row in rows:
            session.add(row)
        session.flush()
        for row in rows:
            audit.append(
                session,
                self.actor,
                f"schedule.{row.decision}",
                f"schedule:{s.id}",
                {
                    "run": row.id,
                    "due_at": row.due_at.isoformat(),
                    "vehicle_id": row.vehicle_id,
                    "reason": row.reason,
                },
            )
        return rows

    # -- flying ------------------------------------------------------------------------------

    def _prepare(self, run_id: int) -> tuple[Job, dict[str, Any]]:
        with self.sessions() as session:
            run = session.get(ScheduleRun, run_id)
            assert run is not None and run.vehicle_id is not None
            s = session.get(Schedule, run.schedule_id)
            site_row = session.get(SiteRecord, s.site_id) if s is not None else None
            if s is None or site_row is None:
                raise ScheduleError(f"schedule run {run_id}: its schedule or site is gone")
            site = load_site_record(site_row)
            template = dict(s.mission)
            plan = plan_for(site, template)
            job = Job(
                run_id=run_id,
                schedule_id=s.id,
                sortie_id=f"s-{uuid.uuid4().hex[:12]}",
                site=site,
                plan=plan,
                vehicle_id=run.vehicle_id,
                vehicle_kind=template["vehicle"],
                mission_id=f"m-{uuid.uuid4().hex[:12]}",
            )
            return job, {"pattern": template["pattern"], "site_id": site.id}

    async def _gates(
        self, job: Job, session_: GateSession | None, connect_error: str
    ) -> list[GateResult]:
        """All the preflight gates, in order (see gates.py)."""
        gates: list[GateResult] = []
        if session_ is None:
            gates.append(
                GateResult("connected", False, f"{job.vehicle_id} did not connect: {connect_error}")
            )
        else:
            gates.append(GateResult("connected", True, f"{job.vehicle_id} answers on its link"))
            readings = await session_.readings()
            gates += vehicle_gates(readings, self.thresholds)
            gates.append(await session_.upload_fence(list(job.plan.fence)))
        check = job.plan.check
        ok = check is not None and check.ok
        gates.append(
            GateResult(
                "plan",
                ok,
                "the plan passes missions.check against the site"
                if ok
                else "the plan fails missions.check: "
                + "; ".join(check.problems if check else ["not checked"]),
            )
        )
        gates.append(await asyncio.to_thread(self._no_fly_gate, job))
        return gates

    async def _fly(self, run_id: int) -> None:
        status, reason = "failed", ""
        outcome: dict[str, Any] = {}
        session_: VehicleSession | None = None
        job: Job | None = None
        launched: list[bool] = []
        engine = bool(getattr(self.launcher, "flies_sortie", False))
        try:
            this, info = await asyncio.to_thread(self._prepare, run_id)
            job = this
            if engine:
                status, reason, outcome = await self._fly_engine(run_id, this, info, launched)
                return
            launcher: Any = self.launcher
            connect_error = ""
            try:
                session_ = await asyncio.wait_for(launcher.connect(this), self.connect_timeout_s)
            except (Exception, TimeoutError) as exc:
                connect_error = str(exc) or type(exc).__name__
            gates = await self._gates(this, session_, connect_error)
            failed = first_failure(gates)
            if failed is not None:
                status, reason = "blocked", f"preflight gate {failed.gate}: {failed.detail}"
                await asyncio.to_thread(self._blocked, run_id, this, gates, reason)
                return
            assert session_ is not None
            await asyncio.to_thread(self._launched, run_id, this, gates, info)
            launched.append(True)
            outcome = await session_.fly(lambda view: self._view(this, view))
            status = str(outcome.get("status", "completed"))
        except asyncio.CancelledError:
            status, reason = (
                "aborted",
                "the scheduler stopped during the sortie (returned to launch)",
            )
            raise
        except Exception as exc:  # one failed run must not stop the scheduler
            log.warning("schedule run %s failed: %s", run_id, exc)
            status, reason = (
                "failed",
                str(exc).splitlines()[0][:400] if str(exc) else type(exc).__name__,
            )
        finally:
            if session_ is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(session_.close())
            if status != "blocked":
                with contextlib.suppress(Exception):
                    await asyncio.shield(
                        asyncio.to_thread(
                            self._finished,
                            run_id,
                            job,
                            status,
                            reason,
                            outcome,
                            bool(launched),
                            not engine,
                        )
                    )
            self.flights.pop(run_id, None)
            if self._wake is not None:
                self._wake.set()

    async def _fly_engine(
        self, run_id: int, job: Job, info: dict[str, Any], launched: list[bool]
    ) -> tuple[str, str, dict[str, Any]]:
        """The run through the sortie engine: the gates at its pre-arm hook, the run row
        "launched" once they pass (the engine records the sortie itself)."""

        async def gates(session_: GateSession | None, connect_error: str) -> list[GateResult]:
            # Called in the sortie's own thread and event loop.
            results = await self._gates(job, session_, connect_error)
            if first_failure(results) is None:
                await asyncio.to_thread(self._launched, run_id, job, results, info, True)
                launched.append(True)
            return results

        launcher: Any = self.launcher
        outcome = await launcher.fly_sortie(job, gates, lambda view: self._view(job, view))
        status = str(outcome.get("status", "failed"))
        reason = "" if status == "completed" else str(outcome.get("reason", ""))
        if status == "lost":
            # A schedule run ends completed, failed, aborted or blocked; its sortie keeps the
            # finer status ("lost") and the report its anomalies.
            status, reason = "failed", f"the vehicle was lost ({reason})"
        if status == "blocked":
            results = [GateResult(**g) for g in outcome.get("gates", [])]
            await asyncio.to_thread(self._blocked, run_id, job, results, reason, True)
        return status, reason, outcome

    def _view(self, job: Job, view: dict[str, Any]) -> None:
        if self.on_view is not None:
            with contextlib.suppress(Exception):
                self.on_view({**view, "sortie_id": job.sortie_id, "site_id": job.site.id})

    def _no_fly_gate(self, job: Job) -> GateResult:
        with self.sessions() as session:
            window = no_fly_now(session, job.site.id, self.clock.now())
        if window is None:
            return GateResult("no_fly", True, "no no-fly window in force")
        return GateResult(
            "no_fly",
            False,
            f"no-fly window {window.id} in force until {window.ends_at.isoformat()}"
            + (f" ({window.reason})" if window.reason else ""),
        )

    def _blocked(
        self,
        run_id: int,
        job: Job,
        gates: list[GateResult],
        reason: str,
        recorded_sortie: bool = False,
    ) -> None:
        now = self.clock.now()
        with self.sessions() as session:
            run = session.get(ScheduleRun, run_id)
            assert run is not None
            run.status, run.decision, run.reason = "blocked", "blocked", reason
            run.gates = [g.to_dict() for g in gates]
            run.ended_at = now
            if recorded_sortie:
                # The engine recorded the sortie it stopped at the gates ("blocked", with the
                # gates, in its sortie.json and report).
                run.mission_id, run.sortie_id = job.mission_id, job.sortie_id
            audit.append(
                session,
                self.actor,
                "schedule.blocked",
                f"schedule:{job.schedule_id}",
                {"run": run_id, "vehicle_id": job.vehicle_id, "reason": reason, "gates": run.gates},
            )
            session.commit()
            due = run.due_at
        failed = first_failure(gates)
        self._notify(
            job.site.id,
            job.vehicle_id,
            "preflight_failed",
            {
                "schedule_id": job.schedule_id,
                "run_id": run_id,
                "due_at": due.isoformat(),
                "gate": failed.gate if failed else "",
                "reason": reason,
            },
            now,
        )

    def _notify(
        self, site_id: str, vehicle_id: str, kind: str, detail: dict[str, Any], now: datetime
    ) -> None:
        self.notifications.append(
            {"kind": kind, "site_id": site_id, "vehicle_id": vehicle_id, **detail}
        )
        if self.notifier is not None:
            try:
                self.notifier.publish(site_id, vehicle_id, kind, detail, now)
            except Exception as exc:  # the record in schedule_runs stands either way
                log.warning("scheduler notification %s failed: %s", kind, exc)

    def _launched(
        self,
        run_id: int,
        job: Job,
        gates: list[GateResult],
        info: dict[str, Any],
        recorded_sortie: bool = False,
    ) -> None:
        """The run launched (its gates passed). `recorded_sortie`: the sortie engine has
        stored the mission and sortie rows; otherwise they are stored here."""
        now = self.clock.now()
        summary = job.plan.summary()
        mission_id = job.mission_id or f"m-{uuid.uuid4().hex[:12]}"
        with self.sessions() as session:
            if not recorded_sortie:
                self._store_sortie(session, job, mission_id, summary, info, now)
            run = session.get(ScheduleRun, run_id)
            assert run is not None
            run.status = "launched"
            run.gates = [g.to_dict() for g in gates]
            run.mission_id, run.sortie_id, run.started_at = mission_id, job.sortie_id, now
            audit.append(
                session,
                self.actor,
                "sortie.launch",
                f"sortie:{job.sortie_id}",
                {
                    "schedule_id": job.schedule_id,
                    "run": run_id,
                    "mission": mission_id,
                    "vehicle_id": job.vehicle_id,
                    "gates": "passed",
                },
            )
            session.commit()
        self._view(job, {"kind": "progress", "event": "launching", "vehicle_id": job.vehicle_id})

    def _store_sortie(
        self,
        session: Session,
        job: Job,
        mission_id: str,
        summary: dict[str, Any],
        info: dict[str, Any],
        now: datetime,
    ) -> None:
        """The mission and sortie rows of a run flown by a `Launcher` (flight only)."""
        from gateway.api.missions import plan_json

        plan = job.plan
        session.add(
            MissionRecord(
                id=mission_id,
                site_id=job.site.id,
                kind=info["pattern"],
                vehicle=job.vehicle_kind,
                plan=plan_json(plan, summary),
                area_m2=float(job.site.local_keep_in.area),
                created_by=self.actor,
                created_at=now,
            )
        )
        session.flush()
        session.add(
            Sortie(
                id=job.sortie_id,
                mission_id=mission_id,
                vehicle_id=job.vehicle_id,
                status="flying",
                started_at=now,
            )
        )

    def _finished(
        self,
        run_id: int,
        job: Job | None,
        status: str,
        reason: str,
        outcome: dict[str, Any],
        launched: bool,
        record_sortie: bool = True,
    ) -> None:
        now = self.clock.now()
        with self.sessions() as session:
            run = session.get(ScheduleRun, run_id)
            if run is None:
                return
            run.status, run.ended_at = status, now
            if reason:
                run.reason = (run.reason + "; " if run.reason else "") + reason
            if job is not None and not record_sortie:
                # The sortie engine recorded the sortie (statuses, audit entries); the run
                # links it even when it failed before launching (if it got that far).
                if session.get(Sortie, job.sortie_id) is not None:
                    run.mission_id = run.mission_id or job.mission_id
                    run.sortie_id = run.sortie_id or job.sortie_id
            elif launched and job is not None:
                sortie = session.get(Sortie, job.sortie_id)
                if sortie is not None:
                    sortie.status, sortie.ended_at = status, now
                audit.append(
                    session,
                    self.actor,
                    f"sortie.{status}",
                    f"sortie:{job.sortie_id}",
                    {
                        "run": run_id,
                        **{
                            k: v
                            for k, v in outcome.items()
                            if isinstance(v, str | int | float | bool)
                        },
                    },
                )
            session.commit()
