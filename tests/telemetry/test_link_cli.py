"""`patrol fly` end to end: a real `patrol` process flies a mission file against the built-in
simulator over TCP, and the sortie lands in FIELDPATROL_HOME (tlog, database row, audit)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from missions.formats import MissionFile, save_mission
from missions.items import (
    MAV_CMD_DO_SET_CAM_TRIGG_DIST,
    MAV_CMD_NAV_RETURN_TO_LAUNCH,
    MAV_CMD_NAV_TAKEOFF,
    MAV_CMD_NAV_WAYPOINT,
    MAV_FRAME_GLOBAL,
    make_item,
    renumber,
)

PATROL = str(Path(sys.executable).with_name("patrol"))
HOME = (41.7003, 123.4005, 42.0)
SITE = Path(__file__).resolve().parents[2] / "examples" / "sites" / "shenyang-hunhe.geojson"
SITE_LAUNCH = (41.7039148, 123.4841951, 42.0)  # the example site's launch point


def _mission_file(path: Path, home: tuple[float, float, float] = HOME) -> Path:
    lat, lon = home[0], home[1]
    items = [
        make_item(MAV_CMD_NAV_WAYPOINT, lon, lat, home[2], frame=MAV_FRAME_GLOBAL),
        make_item(MAV_CMD_NAV_TAKEOFF, alt_m=30.0),
        make_item(MAV_CMD_DO_SET_CAM_TRIGG_DIST, params=(15.0, 0.0, 1.0, 0.0)),
        make_item(MAV_CMD_NAV_WAYPOINT, lon, lat + 0.0005, 30.0),
        make_item(MAV_CMD_NAV_WAYPOINT, lon + 0.0006, lat + 0.0005, 30.0),
        make_item(MAV_CMD_DO_SET_CAM_TRIGG_DIST, params=(0.0, 0.0, 0.0, 0.0)),
        make_item(MAV_CMD_NAV_RETURN_TO_LAUNCH),
    ]
    return save_mission(path, MissionFile(items=renumber(items)))


def _run(args: list[str], home: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIELDPATROL_HOME": str(home)}
    env.pop("FIELDPATROL_DATABASE_URL", None)
    return subprocess.run(
        [PATROL, "fly", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.mark.slow
def test_patrol_fly_completes_and_records_sortie(tmp_path: Path) -> None:
    from test_link_mqtt import Collector

    from simulators.vehicle import SimulatorServer

    mission = _mission_file(tmp_path / "patrol.waypoints", SITE_LAUNCH)
    home = tmp_path / "home"
    site_id = f"fly-{uuid.uuid4().hex[:8]}"
    collector = Collector(f"fieldpatrol/v1/{site_id}/#")
    try:
        with SimulatorServer(kind="copter", home=SITE_LAUNCH, speedup=150.0) as sim:
            args = [str(mission), "--connect", sim.url, "--json", "--site", str(SITE)]
            args += ["--mqtt", "--site-id", site_id]
            proc = _run(args, home)
    finally:
        collector.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    # The flight went out on MQTT too: events of this sortie, and the vehicle offline at the end.
    events = [json.loads(m[1]) for m in collector.of("event")]
    kinds = {e["kind"] for e in events}
    assert {"mission_finished", "landed"} <= kinds
    assert {e["sortie_id"] for e in events} == {out["sortie_id"]}
    assert json.loads(collector.of("status")[-1][1])["online"] is False
    assert out["completed"] and out["landed"] and out["disarmed"]
    # The site supplied the fence (return point + keep-in + exclusions) and its rally point.
    assert out["fence_items"] >= 4 and out["rally_items"] == 1
    assert out["waypoints_reached"] == out["waypoints_total"] == 4  # takeoff, 2 legs, RTL
    assert out["flight_time_s"] > 10
    assert out["photos"] >= 3
    tlog = Path(out["tlog"])
    assert tlog.parent == home / "tlogs"
    assert out["tlog_sha256"] == hashlib.sha256(tlog.read_bytes()).hexdigest()

    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{home / 'fieldpatrol.db'}")
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT status, tlog_path FROM sorties WHERE id = :id"), {"id": out["sortie_id"]}
        ).one()
    engine.dispose()
    assert row == ("completed", out["tlog"])


def test_patrol_fly_user_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In-process (click's runner) to spare three interpreter start-ups; same code path.
    from typer.testing import CliRunner

    from patrol.cli import app

    home = tmp_path / "home"
    monkeypatch.setenv("FIELDPATROL_HOME", str(home))
    monkeypatch.delenv("FIELDPATROL_DATABASE_URL", raising=False)
    mission = str(_mission_file(tmp_path / "patrol.waypoints"))
    runner = CliRunner()
    res = runner.invoke(app, ["fly", mission, "--connect", "tcp:127.0.0.1:1", "--json"])
    assert res.exit_code == 1
    assert "cannot open tcp:127.0.0.1:1" in res.stderr
    out = json.loads(res.stdout)
    assert out["completed"] is False and out["recorded"] is False
    res = runner.invoke(app, ["fly", mission, "--connect", "radio:whatever"])
    assert res.exit_code == 1 and "no known scheme" in res.stderr
    res = runner.invoke(app, ["fly", str(tmp_path / "no.waypoints"), "--connect", "tcp:h:1"])
    assert res.exit_code == 1 and "does not exist" in res.stderr
    res = runner.invoke(app, ["fly", mission, "--connect", "tcp:h:1", "--site", str(SITE)])
    assert res.exit_code == 1 and "outside the keep-in area" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not list((home / "tlogs").glob("*.tlog"))


@pytest.mark.sitl
@pytest.mark.slow
def test_patrol_fly_against_ardupilot_sitl(tmp_path: Path) -> None:
    """The same command flies the real autopilot: mission, the site's fence and rally point
    uploaded and read back, AUTO to the end, RTL, landed and disarmed."""
    from simulators.sitl import SitlVehicle

    binary = os.environ.get("FIELDPATROL_SITL_COPTER")
    if not binary or not os.access(binary, os.X_OK):
        pytest.skip("ArduPilot SITL not available: set FIELDPATROL_SITL_COPTER")
    mission = _mission_file(tmp_path / "patrol.waypoints", SITE_LAUNCH)
    home = tmp_path / "home"
    with SitlVehicle(binary, kind="copter", home=SITE_LAUNCH, speedup=20) as sitl:
        args = [str(mission), "--connect", sitl.url, "--json", "--site", str(SITE)]
        proc = _run(args, home, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["completed"] and out["landed"] and out["disarmed"]
    assert out["fence_items"] >= 4 and out["rally_items"] == 1
    assert out["waypoints_reached"] == out["waypoints_total"] == 4
    assert out["photos"] >= 3  # CAMERA_FEEDBACK from ArduPilot's own camera library
    tlog = Path(out["tlog"])
    assert out["tlog_sha256"] == hashlib.sha256(tlog.read_bytes()).hexdigest()
