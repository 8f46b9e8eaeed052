"""A week of schedules in simulated time against the built-in simulator (real MAVLink over
TCP), with a restart in the middle and failing preflight gates notified on the real broker.

The week of Monday 2026-09-28 (Asia/Shanghai): Monday to Wednesday are working days,
Thursday 1 October starts the National Day holiday. The scheduler's clock is simulated: it
jumps over idle time and runs 20x real time while a sortie flies.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from cases.models import Sortie
from cases.schedules import (
    OverlapError,
    ScheduleRun,
    ScheduleSpec,
    add_no_fly,
    create_schedule,
)
from patrol.scheduler import EventNotifier, Scheduler, SimulatedClock, SimulatorLauncher
from telemetry.contract.topics import subscription_for
from tests.schedules.conftest import Db

SH = ZoneInfo("Asia/Shanghai")
MON = datetime(2026, 9, 28, tzinfo=SH)
PERIMETER = {"pattern": "perimeter", "vehicle": "copter", "altitude_agl_m": 40.0}
SPEEDUP = 300.0  # simulator speed-up: a ~8-minute perimeter flies in a couple of seconds
# Simulated time while a sortie is prepared or flies: 20x real time, so that even on a loaded
# machine (gates taking seconds) a run starts within minutes of its due time.
SPEED = 20.0


def day(n: int, hour: int, minute: int = 0) -> datetime:
    return MON + timedelta(days=n, hours=hour, minutes=minute)


class EventListener:
    """Subscribes to the site's event topics on the machine's Mosquitto."""

    def __init__(self, site_id: str) -> None:
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sched-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_message = lambda _c, _u, m: self.messages.put(json.loads(m.payload))
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_connect = lambda c, *_a: c.subscribe(
            subscription_for("event", site_id=site_id), qos=1
        )
        self.client.connect("127.0.0.1", 1883, keepalive=30)
        self.client.loop_start()
        assert self._subscribed.wait(10), "no subscription on the broker at 127.0.0.1:1883"

    def collect(self, count: int, timeout: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            try:
                out.append(self.messages.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                break
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_week_of_schedules_with_a_restart(db: Db) -> None:
    site = db.site_id
    with db.sessions() as s:
        a = create_schedule(
            s,
            ScheduleSpec(
                "河岸每日巡查",
                site,
                "FREQ=DAILY;BYHOUR=9",
                ["uav-1"],
                PERIMETER,
                starts_at=MON,
                window="08:00-18:00",
            ),
            "user:super",
            now=MON,
        )
        b = create_schedule(
            s,
            ScheduleSpec(
                "早晚巡查",
                site,
                "FREQ=DAILY;BYDAY=MO,WE,FR,SU;BYHOUR=5,16",
                ["uav-2"],
                PERIMETER,
                starts_at=MON,
                window="daylight",
                skip_holidays=False,
            ),
            "user:super",
            now=MON,
        )
        # uav-1 is flying schedule a from 09:00: a second schedule on it alone is refused...
        with pytest.raises(OverlapError, match=r"vehicles: .*no free vehicle \(uav-1 by schedule"):
            create_schedule(
                s,
                ScheduleSpec(
                    "周一补充巡查",
                    site,
                    "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9",
                    ["uav-1"],
                    PERIMETER,
                    starts_at=MON,
                ),
                "user:super",
                now=MON,
            )
        # ...and accepted with a second vehicle in its pool.
        c = create_schedule(
            s,
            ScheduleSpec(
                "周一补充巡查",
                site,
                "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9",
                ["uav-1", "uav-3"],
                PERIMETER,
                starts_at=MON,
            ),
            "user:super",
            now=MON,
        )
        add_no_fly(s, day(2, 15, 30), day(2, 16, 30), "空域管制", "user:super", site_id=site)
        s.commit()
        ids = {"a": a.id, "b": b.id, "c": c.id}

    clock_now: list[SimulatedClock] = []

    def faults(job: Any, sim: Any) -> None:
        # Friday's uav-2 stands with a drained battery: the battery gate must stop it.
        if job.vehicle_id == "uav-2" and clock_now[-1].now().astimezone(SH).weekday() == 4:
            sim.faults.low_battery(20.0)

    launcher = SimulatorLauncher(speedup=SPEEDUP, on_started=faults)
    listener = EventListener(site)
    notifier = EventNotifier("127.0.0.1", 1883).start()
    cpu0, wall0 = time.process_time(), time.monotonic()
    try:
        # Monday 00:00 to Tuesday 12:00, then the service is down until Wednesday 10:00.
        clock_now.append(SimulatedClock(MON, speed=SPEED))
        first = Scheduler(db.sessions, launcher, clock=clock_now[-1], notifier=notifier)
        asyncio.run(first.run(until=day(1, 12)))
        with db.sessions() as s:
            before = {r.id: (r.status, r.sortie_id) for r in s.scalars(select(ScheduleRun))}
        # A new scheduler on the same database: nothing lost, nothing flown twice.
        clock_now.append(SimulatedClock(day(2, 10), speed=SPEED))
        second = Scheduler(db.sessions, launcher, clock=clock_now[-1], notifier=notifier)
        asyncio.run(second.run(until=day(7, 0)))
        events = listener.collect(2, timeout=10)
    finally:
        notifier.stop()
        listener.close()
    print(f"week: wall {time.monotonic() - wall0:.1f} s, cpu {time.process_time() - cpu0:.1f} s")

    with db.sessions() as s:
        runs = s.scalars(select(ScheduleRun).order_by(ScheduleRun.due_at)).all()
        got = {
            (sid, r.due_at.astimezone(SH).strftime("%a %H:%M")): (
                r.decision,
                r.status,
                r.vehicle_id,
            )
            for r in runs
            for sid in [k for k, v in ids.items() if v == r.schedule_id]
        }
        sorties = {x.id: x for x in s.scalars(select(Sortie))}
        by_key = {
            (k, r.due_at.astimezone(SH).strftime("%a %H:%M")): r
            for r in runs
            for k, v in ids.items()
            if v == r.schedule_id
        }
        # Phase-one rows were not touched by the second scheduler.
        for rid, (status, sortie_id) in before.items():
            row = s.get(ScheduleRun, rid)
            assert row is not None and (row.status, row.sortie_id) == (status, sortie_id)

    flown = ("completed",)
    expected = {
        ("a", "Mon 09:00"): ("run", flown, "uav-1"),
        ("a", "Tue 09:00"): ("run", flown, "uav-1"),
        # Missed while down; policy run_once_late: flown at Wednesday 10:00.
        ("a", "Wed 09:00"): ("run_late", flown, "uav-1"),
        ("a", "Thu 09:00"): ("skip_holiday", ("skipped",), None),
        ("a", "Fri 09:00"): ("skip_holiday", ("skipped",), None),
        ("a", "Sat 09:00"): ("skip_holiday", ("skipped",), None),
        ("a", "Sun 09:00"): ("skip_holiday", ("skipped",), None),
        ("b", "Mon 05:00"): ("skip_window", ("skipped",), None),
        ("b", "Mon 16:00"): ("run", flown, "uav-2"),
        # Missed while down, but before sunrise: it would not have flown, so no late run.
        ("b", "Wed 05:00"): ("skip_window", ("skipped",), None),
        ("b", "Wed 16:00"): ("blocked", ("blocked",), "uav-2"),
        ("b", "Fri 05:00"): ("skip_window", ("skipped",), None),
        ("b", "Fri 16:00"): ("blocked", ("blocked",), "uav-2"),
        ("b", "Sun 05:00"): ("skip_window", ("skipped",), None),
        ("b", "Sun 16:00"): ("run", flown, "uav-2"),
        # Due with schedule a at 09:00, which holds uav-1: the pool's next vehicle goes.
        ("c", "Mon 09:00"): ("run", flown, "uav-3"),
    }
    assert set(got) == set(expected), sorted(set(got) ^ set(expected))
    for key, (decision, statuses, vehicle) in expected.items():
        d, st, v = got[key]
        assert d == decision and st in statuses and v == vehicle, (
            key,
            got[key],
            by_key[key].reason,
        )

    # Runs happen when due and only then: never early, on time within minutes, late ones at
    # the restart; each flown run has its completed sortie.
    launched = [r for r in runs if r.sortie_id]
    assert len(launched) == len(sorties) == 6
    for r in launched:
        assert r.started_at is not None and r.started_at >= r.due_at
        delay = r.started_at - (day(2, 10) if r.decision == "run_late" else r.due_at)
        assert timedelta(0) <= delay < timedelta(minutes=10), (r.due_at, r.started_at)
        assert sorties[str(r.sortie_id)].status == "completed"
        assert all(g["ok"] for g in r.gates) and len(r.gates) == 7
    # No vehicle had two overlapping sorties; a and c flew at the same time on two vehicles.
    spans = sorted((str(r.vehicle_id), r.started_at or MON, r.ended_at or MON) for r in launched)
    for (v1, _s1, e1), (v2, s2, _e2) in itertools.pairwise(spans):
        assert v1 != v2 or e1 <= s2
    ma, mc = by_key[("a", "Mon 09:00")], by_key[("c", "Mon 09:00")]
    assert mc.started_at is not None and ma.ended_at is not None
    assert mc.started_at < ma.ended_at

    # The failed gates: recorded with the reason, and the supervisor told over MQTT.
    wed, fri = by_key[("b", "Wed 16:00")], by_key[("b", "Fri 16:00")]
    assert wed.reason.startswith("preflight gate no_fly: ") and "空域管制" in wed.reason
    assert [g["gate"] for g in fri.gates if not g["ok"]][:1] == ["battery"]
    assert "battery 20%" in fri.reason
    assert wed.sortie_id is None and fri.sortie_id is None
    got_events = sorted((e["kind"], e["detail"]["gate"], e["vehicle_id"]) for e in events)
    assert got_events == [
        ("preflight_failed", "battery", "uav-2"),
        ("preflight_failed", "no_fly", "uav-2"),
    ]

    # Deciding again (a third scheduler, same time) adds nothing.
    third = Scheduler(db.sessions, launcher, clock=SimulatedClock(day(7, 0)))
    assert third.decide(day(7, 0)) == []
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ScheduleRun)) == len(expected)
