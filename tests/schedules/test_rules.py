"""The schedule rules without flying: recurrence, windows and daylight, the holiday calendar,
vehicle assignment, and the missed-run policies as decided by the scheduler."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from cases.models import Sortie
from cases.schedules import (
    ScheduleError,
    ScheduleRun,
    ScheduleSpec,
    Slot,
    assign_vehicles,
    calendar_for,
    create_schedule,
    day_refusal,
    occurrences,
    parse_window,
    sun_times,
    window_refusal,
)
from patrol.scheduler import Scheduler, SimulatedClock
from tests.schedules.conftest import Db

SH = ZoneInfo("Asia/Shanghai")
PERIMETER = {"pattern": "perimeter", "vehicle": "copter", "altitude_agl_m": 40.0}


def test_rrule_expands_in_local_time_and_never_before_the_start() -> None:
    start = datetime(2026, 9, 28, tzinfo=SH)
    got = occurrences(
        "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=9;BYMINUTE=30",
        start,
        "Asia/Shanghai",
        start - timedelta(days=30),
        start + timedelta(days=7),
    )
    assert [d.astimezone(SH).strftime("%a %d %H:%M") for d in got] == [
        "Mon 28 09:30",
        "Thu 01 09:30",
    ]
    assert all(d.tzinfo is UTC for d in got)


def test_daylight_at_the_site() -> None:
    # Shenyang, 28 September 2026: sunrise about 05:38, sunset about 17:35 (UTC+8).
    rise, set_ = sun_times(date(2026, 9, 28), 41.76, 123.41) or (None, None)
    assert rise is not None and set_ is not None
    assert (
        abs((rise.astimezone(SH) - datetime(2026, 9, 28, 5, 38, tzinfo=SH)).total_seconds()) < 300
    )
    assert (
        abs((set_.astimezone(SH) - datetime(2026, 9, 28, 17, 35, tzinfo=SH)).total_seconds()) < 300
    )
    day = parse_window("daylight")
    site = (123.41, 41.76)
    noon = datetime(2026, 9, 28, 12, tzinfo=SH)
    assert window_refusal(day, "Asia/Shanghai", noon, 600, site) is None
    late = window_refusal(day, "Asia/Shanghai", noon.replace(hour=17, minute=30), 600, site)
    assert late is not None and "not in daylight" in late
    assert sun_times(date(2026, 12, 21), 80.0, 0.0) is None  # polar night


def test_windows_are_checked_for_the_whole_sortie() -> None:
    w = parse_window("08:00-18:00")
    at = datetime(2026, 9, 28, 17, 55, tzinfo=SH)
    assert window_refusal(w, "Asia/Shanghai", at, 60, (0, 0)) is None
    assert "outside the window 08:00-18:00" in str(
        window_refusal(w, "Asia/Shanghai", at, 600, (0, 0))
    )
    with pytest.raises(ScheduleError, match=r"^window: end 06:00 is not after start 18:00"):
        parse_window("18:00-06:00")


def test_holidays_from_the_legal_calendar(db: Db) -> None:
    with db.sessions() as s:
        cal = calendar_for(s)

    def at(d: date) -> datetime:
        return datetime(d.year, d.month, d.day, 9, tzinfo=SH)

    national_day, ordinary_saturday, makeup_saturday = (
        date(2026, 10, 1),
        date(2026, 10, 17),
        date(2026, 10, 10),
    )
    assert day_refusal(cal, True, False, at(national_day)) == (
        "skip_holiday",
        "2026-10-01 is a public holiday (National Day)",
    )
    assert day_refusal(cal, True, False, at(ordinary_saturday)) is None
    assert day_refusal(cal, False, True, at(ordinary_saturday)) is not None
    assert day_refusal(cal, False, True, at(makeup_saturday)) is None  # 调休 workday
    assert day_refusal(cal, False, False, at(national_day)) is None


def test_vehicles_assigned_in_time_order_first_free_first() -> None:
    t = datetime(2026, 9, 28, 1, tzinfo=UTC)
    a = Slot(t, t + timedelta(minutes=10), "a", ("uav-1",))
    b = Slot(t + timedelta(minutes=5), t + timedelta(minutes=15), "b", ("uav-1", "uav-2"))
    c = Slot(t + timedelta(minutes=6), t + timedelta(minutes=9), "c", ("uav-1", "uav-2"))
    d = Slot(t + timedelta(minutes=10), t + timedelta(minutes=20), "d", ("uav-1",))
    result = assign_vehicles([d, c, b, a])
    assert [result.vehicle.get(x) for x in (a, b, c, d)] == ["uav-1", "uav-2", None, "uav-1"]
    assert [(s.schedule, [h[0] for h in held]) for s, held in result.refused] == [
        ("c", ["uav-1", "uav-2"])
    ]


def _decide(db: Db, policy: str, down_until: datetime) -> list[Any]:
    mon = datetime(2026, 9, 28, tzinfo=SH)
    with db.sessions() as s:
        row = create_schedule(
            s,
            ScheduleSpec(
                "每日",
                db.site_id,
                "FREQ=DAILY;BYHOUR=9,15",
                ["uav-1"],
                PERIMETER,
                starts_at=mon,
                missed_policy=policy,
            ),
            "user:super",
            now=mon,
        )
        s.commit()
        sid = row.id
    # The service comes up at `down_until` after being down since Monday 00:00.
    sched = Scheduler(db.sessions, launcher=None, clock=SimulatedClock(down_until))  # type: ignore[arg-type]
    launches = sched.decide(down_until)
    with db.sessions() as s:
        runs = s.scalars(
            select(ScheduleRun).where(ScheduleRun.schedule_id == sid).order_by(ScheduleRun.due_at)
        ).all()
        out = [(r.due_at.astimezone(SH).strftime("%a %H:%M"), r.decision, r.status) for r in runs]
    assert sched.decide(down_until) == []  # decided once
    return [out, len(launches)]


def test_missed_runs_run_once_late(db: Db) -> None:
    out, launches = _decide(db, "run_once_late", datetime(2026, 9, 29, 16, tzinfo=SH))
    assert out == [
        ("Mon 09:00", "skip_missed", "skipped"),
        ("Mon 15:00", "skip_missed", "skipped"),
        ("Tue 09:00", "skip_missed", "skipped"),
        ("Tue 15:00", "run_late", "pending"),
    ]
    assert launches == 1


def test_missed_runs_skipped(db: Db) -> None:
    out, launches = _decide(db, "skip", datetime(2026, 9, 29, 16, tzinfo=SH))
    assert [d for _, d, _ in out] == ["skip_missed"] * 4 and launches == 0


def test_two_schedulers_on_one_database_decide_each_occurrence_once(any_db: Db) -> None:
    """Two services started on one database at the same moment: every occurrence gets one
    row and one launch between them (the unique key settles the race)."""
    mon = datetime(2026, 9, 28, tzinfo=SH)
    with any_db.sessions() as s:
        for i in range(3):
            create_schedule(
                s,
                ScheduleSpec(
                    f"s{i}",
                    any_db.site_id,
                    f"FREQ=DAILY;BYHOUR={8 + i}",
                    [f"uav-{i}"],
                    PERIMETER,
                    starts_at=mon,
                    skip_holidays=False,
                ),
                "user:super",
                now=mon,
            )
        s.commit()
    at = datetime(2026, 9, 28, 10, 1, tzinfo=SH)
    schedulers = [
        Scheduler(any_db.sessions, launcher=None, clock=SimulatedClock(at))  # type: ignore[arg-type]
        for _ in range(2)
    ]
    barrier = threading.Barrier(2)
    launches: list[list[int]] = [[], []]

    def decide(i: int) -> None:
        barrier.wait(5)
        launches[i] = schedulers[i].decide(at)

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with any_db.sessions() as s:
        rows = s.scalars(select(ScheduleRun)).all()
    # 08:00 and 09:00 are late (run once late each: two schedules), 10:00 is on time.
    assert len(rows) == 3 and len({(r.schedule_id, r.due_at) for r in rows}) == 3
    assert sorted(launches[0] + launches[1]) == sorted(r.id for r in rows)


def test_a_vehicle_flying_a_console_sortie_is_not_given_a_scheduled_run(db: Db) -> None:
    mon = datetime(2026, 9, 28, tzinfo=SH)
    with db.sessions() as s:
        create_schedule(
            s,
            ScheduleSpec(
                "每日", db.site_id, "FREQ=DAILY;BYHOUR=9", ["uav-1"], PERIMETER, starts_at=mon
            ),
            "user:super",
            now=mon,
        )
        # An inspector launched uav-1 by hand from the console; it is still in the air.
        s.add(Sortie(id="s-manual", vehicle_id="uav-1", status="flying", started_at=mon))
        s.commit()
    at = datetime(2026, 9, 28, 9, tzinfo=SH)
    sched = Scheduler(db.sessions, launcher=None, clock=SimulatedClock(at))  # type: ignore[arg-type]
    assert sched.decide(at) == []
    with db.sessions() as s:
        run = s.scalars(select(ScheduleRun)).one()
    assert (run.decision, run.status) == ("skip_busy", "skipped")
    assert run.reason == "no free vehicle in the pool (uav-1 by sortie s-manual)"
    assert [n["kind"] for n in sched.notifications] == ["schedule_run_skipped"]


def test_runs_left_in_flight_by_a_stopped_scheduler_are_recorded_interrupted(db: Db) -> None:
    mon = datetime(2026, 9, 28, tzinfo=SH)
    with db.sessions() as s:
        row = create_schedule(
            s,
            ScheduleSpec(
                "每日", db.site_id, "FREQ=DAILY;BYHOUR=9", ["uav-1"], PERIMETER, starts_at=mon
            ),
            "user:super",
            now=mon,
        )
        s.add(Sortie(id="s-crash", vehicle_id="uav-1", status="flying", started_at=mon))
        s.flush()
        s.add(
            ScheduleRun(
                schedule_id=row.id,
                due_at=mon + timedelta(hours=9),
                decision="run",
                status="launched",
                vehicle_id="uav-1",
                sortie_id="s-crash",
                gates=[],
            )
        )
        s.commit()
    sched = Scheduler(db.sessions, launcher=None, clock=SimulatedClock(mon + timedelta(hours=10)))  # type: ignore[arg-type]
    assert sched.recover() == 1
    with db.sessions() as s:
        run = s.scalars(select(ScheduleRun)).one()
        assert run.status == "interrupted" and "stopped while this run" in run.reason
        assert s.get(Sortie, "s-crash").status == "aborted"  # type: ignore[union-attr]


def _one_schedule(db: Db, start: datetime, **spec: Any) -> None:
    with db.sessions() as s:
        create_schedule(
            s,
            ScheduleSpec(
                "每日",
                db.site_id,
                "FREQ=DAILY;BYHOUR=9",
                ["uav-1"],
                PERIMETER,
                starts_at=start,
                **spec,
            ),
            "user:super",
            now=start,
        )
        s.commit()


def test_a_year_without_holiday_data_is_not_guessed(db: Db) -> None:
    start = datetime(2027, 1, 4, tzinfo=SH)  # no published arrangement for 2027 here
    _one_schedule(db, start)
    at = start + timedelta(hours=9)
    sched = Scheduler(db.sessions, launcher=None, clock=SimulatedClock(at))  # type: ignore[arg-type]
    assert sched.decide(at) == []
    with db.sessions() as s:
        run = s.scalars(select(ScheduleRun)).one()
    assert (run.decision, run.status) == ("skip_calendar", "skipped")
    assert "no holiday data for year 2027" in run.reason
    assert [n["kind"] for n in sched.notifications] == ["schedule_calendar_unknown"]


def test_a_missed_run_is_not_flown_late_outside_its_window(db: Db) -> None:
    mon = datetime(2026, 9, 28, tzinfo=SH)
    _one_schedule(db, mon, window="08:00-10:00")
    at = mon + timedelta(hours=11)  # the service comes back at 11:00
    sched = Scheduler(db.sessions, launcher=None, clock=SimulatedClock(at))  # type: ignore[arg-type]
    assert sched.decide(at) == []
    with db.sessions() as s:
        run = s.scalars(select(ScheduleRun)).one()
    assert (run.decision, run.status) == ("skip_missed", "skipped")
    assert run.reason.startswith("missed; a late run now: 2026-09-28 11:00 Asia/Shanghai")
