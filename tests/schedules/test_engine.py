"""Scheduled runs flown through patrol's sortie engine (`EngineLauncher`, the launcher of
`patrol run --simulate`): the built-in simulator over real MAVLink, camera frames, the
detector, signed evidence over the machine's Mosquitto into the case record, `sortie.json`
and the mission report; and a failing preflight gate stopping the engine's sortie before
anything is armed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cases.audit import AuditEntry
from cases.models import Evidence, SiteRecord, Sortie
from cases.schedules import ScheduleRun, ScheduleSpec, create_schedule
from missions.site import load_site
from patrol.cli import app
from patrol.config import Settings
from patrol.ground import Ground
from patrol.scheduler import EngineLauncher, Scheduler, SimulatedClock
from tests.fleet.conftest import field_site

SH = ZoneInfo("Asia/Shanghai")
# A working Tuesday; the schedule falls due at 10:00.
DUE = datetime(2026, 9, 29, 10, 0, tzinfo=SH)
SPEEDUP = 40.0


@pytest.fixture
def ground(fieldpatrol_home: Path) -> Iterator[Ground]:
    """A started ground on a fresh data directory (SQLite, the machine's Mosquitto)."""
    with Ground(Settings.load()) as started:
        yield started


def _schedule(ground: Ground, tmp_path: Path, template: dict[str, Any], vehicle: str) -> str:
    """A small field stored as a site, and a daily 10:00 schedule over it; the site id."""
    site = load_site(field_site(tmp_path / "field.geojson", 160, 100))
    with ground.sessions() as s:
        s.add(SiteRecord(id=site.id, name=site.name, geojson=site.to_geojson()))
        s.flush()
        create_schedule(
            s,
            ScheduleSpec("农田巡查", site.id, "FREQ=DAILY;BYHOUR=10", [vehicle], template),
            "user:super",
            now=DUE - timedelta(hours=1),
        )
        s.commit()
    return site.id


def _run_scheduler(ground: Ground, launcher: EngineLauncher) -> Scheduler:
    clock = SimulatedClock(DUE - timedelta(minutes=1), speed=20.0)
    scheduler = Scheduler(ground.sessions, launcher, clock=clock)
    asyncio.run(scheduler.run(until=DUE + timedelta(minutes=5)))
    return scheduler


def _actions(ground: Ground, sortie_id: str) -> list[str]:
    with ground.sessions() as s:
        return list(
            s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.subject == f"sortie:{sortie_id}")
                .order_by(AuditEntry.id)
            )
        )


def test_a_scheduled_run_flies_through_the_engine_and_has_a_report(
    ground: Ground, tmp_path: Path
) -> None:
    _schedule(
        ground,
        tmp_path,
        {"pattern": "survey", "vehicle": "copter", "altitude_agl_m": 50.0},
        "uav-e",
    )
    launcher = EngineLauncher(ground, speedup=SPEEDUP)
    _run_scheduler(ground, launcher)

    with ground.sessions() as s:
        run = s.scalars(select(ScheduleRun)).one()
        assert (run.decision, run.status) == ("run", "completed"), run.reason
        assert [g["gate"] for g in run.gates if g["ok"]] == [
            "connected",
            "healthy",
            "battery",
            "gps",
            "fence",
            "plan",
            "no_fly",
        ]
        sortie = s.get(Sortie, run.sortie_id)
        assert sortie is not None and sortie.status == "completed"
        assert sortie.mission_id == run.mission_id and sortie.vehicle_id == "uav-e"
        assert sortie.photos and sortie.photos > 5 and sortie.tlog_path
        sortie_id = sortie.id
    # The engine's record: gates passed, then armed and flown.
    actions = _actions(ground, sortie_id)
    assert actions.index("sortie.preflight") < actions.index("vehicle.armed")
    assert "sortie.launch" in actions
    assert actions.index("sortie.completed") < actions.index("sortie.report")
    saved = json.loads((ground.settings.reports_dir / sortie_id / "sortie.json").read_text())
    assert saved["status"] == "completed" and len(saved["gates"]) == 7
    # Evidence from the detector, signed and ingested by the ground's one ingest.
    with ground.sessions() as s:
        stored = s.scalars(select(Evidence.id).where(Evidence.sortie_id == sortie_id)).all()
    assert sorted(stored) == sorted(saved["evidence_ids"])
    # The mission report was made when the sortie ended; `patrol sortie report` works on it.
    assert not launcher.report_errors
    assert (ground.settings.reports_dir / sortie_id / "report.html").is_file()
    result = CliRunner().invoke(app, ["sortie", "report", sortie_id, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["sortie"]["status"] == "completed"
    assert report["coverage"]["imaged_of_planned_pct"] > 80


def test_a_failed_gate_stops_the_engines_sortie_before_arming(
    ground: Ground, tmp_path: Path
) -> None:
    site_id = _schedule(
        ground,
        tmp_path,
        {"pattern": "perimeter", "vehicle": "copter", "altitude_agl_m": 40.0},
        "uav-low",
    )

    def drained(job: Any, sim: Any) -> None:
        sim.faults.low_battery(20.0)

    launcher = EngineLauncher(ground, speedup=SPEEDUP, on_started=drained)
    scheduler = _run_scheduler(ground, launcher)

    with ground.sessions() as s:
        run = s.scalars(select(ScheduleRun)).one()
        assert (run.decision, run.status) == ("blocked", "blocked")
        assert run.reason.startswith("preflight gate battery: battery 20%"), run.reason
        assert [g["gate"] for g in run.gates if not g["ok"]] == ["battery"]
        sortie = s.get(Sortie, run.sortie_id)
        assert sortie is not None and sortie.status == "blocked" and sortie.started_at is None
        sortie_id = sortie.id
    actions = _actions(ground, sortie_id)
    assert actions.index("sortie.preflight") < actions.index("sortie.blocked")
    # Nothing uploaded, armed or flown.
    assert not {"vehicle.upload", "vehicle.armed", "sortie.flying", "sortie.launch"} & set(actions)
    saved = json.loads((ground.settings.reports_dir / sortie_id / "sortie.json").read_text())
    assert saved["status"] == "blocked" and saved["track"] == [] and saved["captures"] == []
    assert saved["reason"] == run.reason
    # Its report says why it did not fly.
    assert "sortie.report" in actions and not launcher.report_errors
    assert [n["kind"] for n in scheduler.notifications] == ["preflight_failed"]
    assert scheduler.notifications[0]["site_id"] == site_id
