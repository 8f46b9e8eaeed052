"""Scenario runs end to end on the built-in backend: real MAVLink to the simulator, a real
Mosquitto per run, real SQLite, the real detector — as CI runs them.

Each example of the library must pass; a scenario written to fail must fail the same way
every time with a message naming the expectation, its threshold and the measured value; and
Ctrl-C must leave no process and no temporary data behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from patrol.scenarios import load_scenario
from patrol.scenarios.runner import ScenarioRun

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "scenarios").glob("*.yaml"))
FAILING = Path(__file__).resolve().parent / "data" / "coverage-gap.yaml"
FAULTS = Path(__file__).resolve().parent / "data" / "sensor-and-motor-faults.yaml"
PATROL = [sys.executable, "-m", "patrol.cli"]

pytestmark = pytest.mark.slow


def descendants(pid: int) -> set[int]:
    """Every process started under `pid`, from /proc (Linux)."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in out:
                    out.add(child)
                    todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def patrol_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPATROL_")}
    env.update({"FIELDPATROL_HOME": str(home), "COLUMNS": "200"})
    return env


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_passes_on_the_builtin_backend(path: Path, tmp_path: Path) -> None:
    scenario = load_scenario(path)
    before = descendants(os.getpid())
    run = ScenarioRun(scenario, report_dir=tmp_path / "reports")
    result = run.run()
    assert result.passed, "\n".join(
        [result.error] + [v.message for v in result.verdicts if not v.passed]
    )
    assert len(result.verdicts) == len(scenario.expectations)
    assert Path(result.report).is_file()
    # Everything the run started is gone: its broker, its data directory.
    assert run.home is not None and not run.home.exists()
    assert not {p for p in descendants(os.getpid()) - before if alive(p)}
    flown = [v for v in run.record.vehicles.values() if v.track]
    assert len(flown) == len(scenario.vehicles)


def test_a_scenario_written_to_fail_fails_the_same_way_every_time(tmp_path: Path) -> None:
    """The command line exits 1 and names expectation, threshold and measured value (stderr
    and JUnit); the same file run again gives the same world and the same verdicts."""
    home = tmp_path / "home"
    junit = tmp_path / "junit.xml"
    reports = tmp_path / "reports"
    options = ("--report", str(reports))
    result = subprocess.run(
        [*PATROL, "sim", "run", str(FAILING), "--json", *("--junit", str(junit)), *options],
        env=patrol_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    expected = (
        "✘ expect[0].planted_found FAILED: expected the 1 planted violation found within 10 m; "
        "measured 0 of 1 (missed far-dump waste_dumping, no suspect of that class)"
    )
    assert expected in result.stderr
    assert "✔ expect[1].outcome passed" in result.stderr
    assert "0 of 1 scenarios passed" in result.stderr
    document = json.loads(result.stdout)  # --json: one document on stdout, nothing else
    assert document["passed"] is False
    (only,) = document["scenarios"]
    assert [e["passed"] for e in only["expectations"]] == [False, True]
    assert only["expectations"][0]["measured"].startswith("0 of 1")
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    failure = root.find(".//testcase[@name='expect[0].planted_found']/failure")
    assert failure is not None and "measured 0 of 1" in failure.get("message", "")
    first = json.loads((reports / "coverage-gap" / "result.json").read_text(encoding="utf-8"))

    # Determinism: the same file again (in this process) gives the same verdicts, values
    # and world.
    again = ScenarioRun(load_scenario(FAILING), report_dir=tmp_path / "again").run()
    second = json.loads(Path(again.report).with_name("result.json").read_text(encoding="utf-8"))
    for a, b in zip(first["expectations"], second["expectations"], strict=True):
        assert (a["key"], a["passed"], a["value"]) == (b["key"], b["passed"], b["value"])
    assert first["suspects"] == second["suspects"]


def test_the_same_flight_twice_gives_the_same_result(tmp_path: Path) -> None:
    """Determinism on the built-in backend: the low-battery scenario twice. The verdicts are
    the same; the failsafe and the landing come at the same simulated time, give or take the
    moment the ground's commands reached the simulator (documented in docs/scenarios.md)."""
    path = ROOT / "examples" / "scenarios" / "low-battery-rtl.yaml"
    runs = []
    for n in range(2):
        run = ScenarioRun(load_scenario(path), report_dir=tmp_path / str(n))
        runs.append((run.run(), run.record.vehicles["copter-1"]))
    (first, a), (second, b) = runs
    assert [(v.key, v.passed) for v in first.verdicts] == [
        (v.key, v.passed) for v in second.verdicts
    ]
    assert a.failsafe_reason == b.failsafe_reason == "Battery Failsafe"
    assert a.failsafe_at_s is not None and b.failsafe_at_s is not None
    assert abs(a.failsafe_at_s - b.failsafe_at_s) <= 3.0
    assert a.landed_at_s is not None and b.landed_at_s is not None
    assert abs((a.landed_at_s - a.failsafe_at_s) - (b.landed_at_s - b.failsafe_at_s)) <= 5.0


def test_wind_motor_failure_and_gps_loss(tmp_path: Path) -> None:
    """The faults the library does not use: a motor failure lands copter-a where it is (in
    wind), the GPS loss lands copter-b through the EKF failsafe."""
    scenario = load_scenario(FAULTS)
    run = ScenarioRun(scenario, report_dir=tmp_path)
    result = run.run()
    assert result.passed, "\n".join(
        [result.error] + [v.message for v in result.verdicts if not v.passed]
    )
    reasons = {v.id: v.failsafe_reason for v in run.record.vehicles.values()}
    # Whichever saw it first: the simulator's flag or the autopilot's own text over MAVLink.
    assert "motor" in reasons["copter-a"].lower(), reasons
    assert "ekf" in reasons["copter-b"].lower(), reasons
    faults = [e.text for e in run.record.timeline if e.kind == "fault"]
    assert len(faults) == 3 and any("wind" in f for f in faults)


def test_ctrl_c_stops_everything_and_leaves_nothing_behind(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*PATROL, "sim", "run", str(EXAMPLES[0]), "--report", str(tmp_path / "reports")],
        env=patrol_env(tmp_path / "home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    children: set[int] = set()
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            seen.append(line)
            if "起飞" in line or not line:
                break
        assert any("起飞" in line for line in seen), "".join(seen)
        time.sleep(0.5)  # mid-flight: simulator, broker, ingest, frames all running
        children = descendants(proc.pid)
        assert children, "the run should have started its broker"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    assert "Traceback" not in err
    assert not [pid for pid in children if alive(pid)], "orphan processes after Ctrl-C"
    home = re.search(r"database in (\S+)\)", "".join(seen))
    assert home is not None
    assert not Path(home.group(1)).exists(), "the run's temporary data directory is left"


@pytest.mark.sitl
@pytest.mark.parametrize("name", ["low-battery-rtl", "fence-breach"])
def test_the_same_files_run_on_ardupilot_sitl(name: str, tmp_path: Path) -> None:
    """`--backend sitl`: the real autopilot flies the same file; the faults go through SITL's
    SIM_* parameters and the launcher's second MAVLink port."""
    copter = os.environ.get("FIELDPATROL_SITL_COPTER")
    if not copter or not os.access(copter, os.X_OK):
        pytest.skip("ArduPilot SITL not available: set FIELDPATROL_SITL_COPTER")
    path = ROOT / "examples" / "scenarios" / f"{name}.yaml"
    scenario = load_scenario(path, backend="sitl", sitl_copter=copter)
    assert {v.backend for v in scenario.vehicles} == {"sitl"}
    result = ScenarioRun(scenario, report_dir=tmp_path, sitl_copter=copter).run()
    assert result.passed, "\n".join(
        [result.error] + [v.message for v in result.verdicts if not v.passed]
    )
