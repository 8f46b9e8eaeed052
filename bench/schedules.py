"""Benchmark of the scheduler's decisions: a week of N schedules (four times a day, in
daylight, each on its own vehicle, holidays skipped) decided pass by pass in simulated time,
no flights.
Prints one JSON object: schedules, decisions, passes, wall and CPU seconds, ms per pass.

    .venv/bin/python bench/schedules.py [--schedules 200] [--database-url URL]

The scheduler wakes at every due time; each pass reads the active schedules, expands their
recurrences since the last pass and writes one audited row per occurrence.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from cases.db import make_engine, session_factory, upgrade
from cases.models import SiteRecord
from cases.schedules import ScheduleRun, ScheduleSpec, create_schedule
from patrol.scheduler import Scheduler, SimulatedClock

SITE = Path(__file__).resolve().parents[1] / "examples" / "sites" / "yuhong-t-site.geojson"
SH = ZoneInfo("Asia/Shanghai")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    start = datetime(2026, 9, 28, tzinfo=SH)  # Monday; National Day from Thursday
    with sessions() as s:
        geo = json.loads(SITE.read_text(encoding="utf-8"))
        s.add(SiteRecord(id="bench-site", name="bench", geojson=geo))
        s.flush()
        for i in range(args.schedules):
            create_schedule(
                s,
                ScheduleSpec(
                    f"s{i}",
                    "bench-site",
                    "FREQ=DAILY;BYHOUR=6,10,14,18",
                    [f"uav-{i}"],
                    {"pattern": "perimeter", "altitude_agl_m": 40},
                    starts_at=start,
                    window="daylight",
                ),
                "bench",
                now=start,
            )
        s.commit()
    clock = SimulatedClock(start)
    sched = Scheduler(sessions, launcher=None, clock=clock)  # type: ignore[arg-type]
    end = start + timedelta(days=7)
    passes = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    now = start
    while now < end:
        sched.decide(now)  # the runs it would launch stay "pending": no flights here
        passes += 1
        nxt = sched.next_wake(now)
        if nxt is None:
            break
        now = nxt
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    with sessions() as s:
        decisions = s.scalar(select(func.count()).select_from(ScheduleRun)) or 0
    engine.dispose()
    print(
        json.dumps(
            {
                "schedules": args.schedules,
                "simulated_days": 7,
                "decisions": decisions,
                "passes": passes,
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "ms_per_pass": round(1000 * wall / max(1, passes), 2),
                "decisions_per_s": round(decisions / wall, 1) if wall else None,
                "database": url.split(":")[0],
                "load_avg_1m": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
