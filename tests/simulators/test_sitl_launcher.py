"""The ArduPilot SITL launcher.

Without ArduPilot here, the launcher's own duties (command line, defaults file, waiting until
ready to arm over real MAVLink, reporting an early exit, stopping the whole process group) are
checked against a stand-in executable that takes SITL's command line and serves the built-in
simulator on the requested port. The `sitl`-marked tests run the same flights against the real
`arducopter` / `ardurover` named by FIELDPATROL_SITL_COPTER / FIELDPATROL_SITL_ROVER, and are
skipped with that reason when those are unset.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import ardupilotmega as M

from simulators.sitl import SitlError, SitlVehicle, sitl_binary, write_defaults
from simulators.vehicle.gcs import GroundStation, Item, offset

REPO = Path(__file__).resolve().parents[2]
HOME = (41.7, 123.4, 42.0)

STAND_IN = """#!{python}
# Stand-in for arducopter/ardurover: SITL's command line, the built-in simulator behind it.
import argparse, json, os, signal, subprocess, sys, time
sys.path.insert(0, {repo!r})
p = argparse.ArgumentParser()
for opt in ("--model", "--home", "--speedup", "--instance", "--sysid", "--defaults",
            "--serial0", "--serial1"):
    p.add_argument(opt)
p.add_argument("--synthetic-clock", action="store_true")
p.add_argument("--wipe", action="store_true")
a = p.parse_args()
with open("argv.json", "w") as f:
    json.dump({{"argv": sys.argv[1:], "cwd": os.getcwd()}}, f)
if os.environ.get("STAND_IN_FAIL"):
    print("SITL: bad model " + a.model, flush=True)
    sys.exit(3)
params = dict(line.split() for line in open(a.defaults) if line.strip())
child = subprocess.Popen(["sleep", "300"])  # e.g. a physics back end SITL would start
with open("child.pid", "w") as f:
    f.write(str(child.pid))
from simulators.vehicle import SimulatorServer
lat, lon, alt, _hdg = (float(x) for x in a.home.split(","))
kind = "rover" if a.model == "rover" else "copter"
extra = {{"SIM_GPS_DISABLE": 1}} if os.environ.get("STAND_IN_NO_GPS") else {{}}
keep = {{k: float(v) for k, v in params.items() if k in ("AUTO_OPTIONS", "RTL_ALT")}}
sim = SimulatorServer(kind=kind, home=(lat, lon, alt), port=int(a.serial0.split(":")[1]),
                      sysid=int(a.sysid), speedup=float(a.speedup), params={{**keep, **extra}})
sim.start()
# SITL's second serial port: the built-in simulator takes several clients, so relay to it.
from simulators.vehicle.relay import TcpRelay
TcpRelay(sim.port, port=int(a.serial1.split(":")[1])).start()
signal.signal(signal.SIGTERM, lambda *_: (sim.stop(), sys.exit(0)))
while True:
    time.sleep(0.2)
"""


def stand_in(tmp_path: Path, name: str = "arducopter") -> Path:
    exe = tmp_path / name
    exe.write_text(STAND_IN.format(python=sys.executable, repo=str(REPO)))
    exe.chmod(0o755)
    return exe


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) no longer runs.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_launcher_runs_waits_ready_and_stops_the_whole_group(tmp_path: Path) -> None:
    exe = stand_in(tmp_path)
    work = tmp_path / "work"
    sitl = SitlVehicle(exe, kind="copter", home=HOME, speedup=10, sysid=3, workdir=work)
    url = sitl.start()
    try:
        assert sitl.direct_url == f"tcp:127.0.0.1:{sitl.port}"
        assert url.startswith("tcp:127.0.0.1:")  # through the relay
        recorded = json.loads((work / "argv.json").read_text())
        argv = recorded["argv"]
        assert argv[argv.index("--model") + 1] == "quad"
        assert argv[argv.index("--speedup") + 1] == "10"
        assert argv[argv.index("--sysid") + 1] == "3"
        assert argv[argv.index("--home") + 1].startswith("41.7000000,123.4000000,42.00")
        assert "--synthetic-clock" in argv and "--wipe" in argv
        assert argv[argv.index("--serial0") + 1] == f"tcp:{sitl.port}"
        assert argv[argv.index("--serial1") + 1] == f"tcp:{sitl.control_port}"
        defaults = (work / "copter.parm").read_text().splitlines()
        assert "AUTO_OPTIONS 3" in defaults and "SYSID_THISMAV 3" in defaults
        assert "FRAME_CLASS 1" in defaults and "BATT_MONITOR 4" in defaults
        assert not any(line.startswith("BATT_LOW_VOLT") for line in defaults)  # SITL is 3S
        assert not any(line.startswith("FS_BATT_ENABLE") for line in defaults)
        # Ready to arm when start() returns.
        with GroundStation(url, target_system=3) as gcs:
            assert gcs.arm() == M.MAV_RESULT_ACCEPTED
        child = int((work / "child.pid").read_text())
        leader = sitl.pid
        assert leader is not None and alive(child)
    finally:
        sitl.stop()
    deadline = time.monotonic() + 5
    while (alive(child) or alive(leader)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(leader) and not alive(child), "SITL left processes behind"
    assert not sitl.running


@pytest.mark.slow
def test_faults_through_sitl_parameters_and_the_relay(tmp_path: Path) -> None:
    with SitlVehicle(stand_in(tmp_path), kind="copter", home=HOME, speedup=20) as sitl:
        assert sitl.url != sitl.direct_url  # clients go through the relay
        gcs = GroundStation(sitl.url)
        gcs.wait_ready()
        sitl.faults.gps_loss()
        gps = gcs.recv("GPS_RAW_INT", cond=lambda m: m.fix_type < M.GPS_FIX_TYPE_3D_FIX)
        assert gps.satellites_visible == 0
        sitl.faults.gps_loss(False)
        gcs.recv("GPS_RAW_INT", cond=lambda m: m.fix_type >= M.GPS_FIX_TYPE_3D_FIX)
        sitl.faults.wind(6.0, from_deg=90)
        gcs.drain(0.05)
        sitl.faults.link_loss(duration_s=16)  # simulated: 0.8 s of wall clock at ×20
        gcs.drain(0.05)
        assert gcs.drain(0.5) == []
        gcs.recv("HEARTBEAT", timeout=3)  # back by itself
        assert gcs.param_get("SIM_WIND_SPD") == 6.0
        gcs.close()


def test_early_exit_is_reported_with_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAND_IN_FAIL", "1")
    sitl = SitlVehicle(stand_in(tmp_path, "ardurover"), kind="rover", ready_timeout=20)
    with pytest.raises(SitlError, match=r"exited with code 3[\s\S]*bad model rover"):
        sitl.start()
    assert not sitl.running
    assert sitl.workdir is not None and not sitl.workdir.exists()  # temporary dir removed


@pytest.mark.slow
def test_not_ready_in_time_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAND_IN_NO_GPS", "1")
    sitl = SitlVehicle(stand_in(tmp_path), speedup=20, ready_timeout=4)
    with pytest.raises(SitlError, match="not ready to arm within 4 s \\(EKF position missing"):
        sitl.start()
    assert not sitl.running


def test_binary_resolution_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SitlError, match="FIELDPATROL_SITL_ROVER"):
        sitl_binary("rover", copter="/x/arducopter", rover=None)
    not_exec = tmp_path / "arducopter"
    not_exec.write_text("")
    with pytest.raises(SitlError, match="not an executable"):
        sitl_binary("copter", copter=str(not_exec), rover=None)
    with pytest.raises(SitlError, match="kind"):
        sitl_binary("plane", None, None)


def test_defaults_file_format(tmp_path: Path) -> None:
    path = write_defaults(tmp_path / "r.parm", "rover", 9, {"CRUISE_SPEED": 2.5})
    lines = path.read_text().splitlines()
    assert "SYSID_THISMAV 9" in lines and "CRUISE_SPEED 2.5" in lines
    assert all(len(line.split()) == 2 for line in lines)


# --------------------------------------------------------------------------- real ArduPilot


def _binary(kind: str) -> str:
    var = "FIELDPATROL_SITL_COPTER" if kind == "copter" else "FIELDPATROL_SITL_ROVER"
    path = os.environ.get(var)
    if not path or not os.access(path, os.X_OK):
        pytest.skip(f"ArduPilot SITL not available: set {var} to run this test")
    return path


@pytest.mark.sitl
@pytest.mark.slow
def test_sitl_copter_flies_survey_with_camera_feedback() -> None:
    with SitlVehicle(_binary("copter"), kind="copter", home=HOME, speedup=10) as sitl:
        gcs = GroundStation(sitl.url, timeout=60)
        items = [Item(M.MAV_CMD_NAV_WAYPOINT, *HOME, frame=M.MAV_FRAME_GLOBAL)]
        items.append(Item(M.MAV_CMD_NAV_TAKEOFF, alt=20))
        items.append(Item(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, param1=15, param3=1))
        items.append(Item(M.MAV_CMD_NAV_WAYPOINT, *offset(*HOME[:2], 120, 0), 20))
        items.append(Item(M.MAV_CMD_DO_SET_CAM_TRIGG_DIST, param1=0))
        items.append(Item(M.MAV_CMD_NAV_RETURN_TO_LAUNCH))
        assert gcs.upload(items) == M.MAV_MISSION_ACCEPTED
        assert gcs.set_mode("AUTO") == M.MAV_RESULT_ACCEPTED
        assert gcs.arm() == M.MAV_RESULT_ACCEPTED
        shots = 0
        while True:
            msg = gcs.recv(("CAMERA_FEEDBACK", "HEARTBEAT"), timeout=120)
            if msg.get_type() == "CAMERA_FEEDBACK":
                shots += 1
            elif shots and not msg.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED:
                break
        assert shots >= 6
        gcs.close()


@pytest.mark.sitl
@pytest.mark.slow
def test_sitl_rover_drives_mission_and_holds() -> None:
    with SitlVehicle(_binary("rover"), kind="rover", home=HOME, speedup=10) as sitl:
        gcs = GroundStation(sitl.url, timeout=60)
        items = [Item(M.MAV_CMD_NAV_WAYPOINT, *HOME, frame=M.MAV_FRAME_GLOBAL)]
        for n, e in [(30, 0), (30, 30)]:
            items.append(Item(M.MAV_CMD_NAV_WAYPOINT, *offset(*HOME[:2], n, e), 0))
        assert gcs.upload(items) == M.MAV_MISSION_ACCEPTED
        assert gcs.set_mode("AUTO") == M.MAV_RESULT_ACCEPTED
        assert gcs.arm() == M.MAV_RESULT_ACCEPTED
        reached = gcs.recv("MISSION_ITEM_REACHED", timeout=120, cond=lambda m: m.seq == 2)
        assert reached.seq == 2
        gcs.close()
