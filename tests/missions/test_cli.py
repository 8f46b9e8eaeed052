"""`patrol site ...` and `patrol mission ...` through the real command line (typer runner)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from patrol.commands.mission import app as mission_app
from patrol.commands.site import app as site_app

from .conftest import EXAMPLE_SITES, rect, site_geojson

SHENYANG = next(p for p in EXAMPLE_SITES if p.stem == "shenyang-hunhe")


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("FIELDPATROL_HOME", str(tmp_path / "home"))
    return CliRunner()


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_site_import_show_validate(runner: CliRunner) -> None:
    doc = _json(runner.invoke(site_app, ["import", str(SHENYANG), "--json"]))
    assert doc["id"] == "shenyang-hunhe" and Path(doc["stored"]).is_file()
    shown = _json(runner.invoke(site_app, ["show", "shenyang-hunhe", "--json"]))
    assert shown["max_alt_m"] == 120 and len(shown["exclusions"]) == 2
    ok = _json(runner.invoke(site_app, ["validate", str(SHENYANG), "--json"]))
    assert ok["valid"] is True
    listed = _json(runner.invoke(site_app, ["list", "--json"]))
    assert [s["id"] for s in listed["sites"]] == ["shenyang-hunhe"]


def test_site_validate_reports_problem(runner: CliRunner, tmp_path: Path) -> None:
    bad = site_geojson(rect(0, 0, 300, 300), launch=(-50, -50))
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(bad))
    result = runner.invoke(site_app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "launch" in result.stderr and "outside the keep-in" in result.stderr
    assert "Traceback" not in result.output
    result = runner.invoke(site_app, ["show", "no-such-site"])
    assert result.exit_code == 1 and "neither a file nor an imported site" in result.stderr


@pytest.mark.parametrize("ext", [".plan", ".waypoints", ".geojson"])
def test_mission_plan_writes_and_checks(runner: CliRunner, tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"m{ext}"
    doc = _json(
        runner.invoke(
            mission_app, ["plan", str(SHENYANG), "--altitude", "60", "--out", str(out), "--json"]
        )
    )
    for key in ("waypoints", "distance_m", "duration_s", "photos", "coverage_pct", "valid"):
        assert key in doc
    assert doc["valid"] is True and doc["coverage_pct"] >= 99 and out.is_file()
    checked = _json(runner.invoke(mission_app, ["check", str(SHENYANG), str(out), "--json"]))
    assert checked["valid"] is True and checked["legs_checked"] > 10


def test_mission_check_names_bad_leg(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "m.waypoints"
    runner.invoke(mission_app, ["plan", str(SHENYANG), "--out", str(out)])
    lines = out.read_text().splitlines()
    # Move waypoint 5 into the school (an exclusion zone in the middle of the site).
    cols = lines[6].split("\t")
    assert cols[3] == "16"
    cols[8], cols[9] = "41.70470000", "123.48730000"
    lines[6] = "\t".join(cols)
    out.write_text("\n".join(lines) + "\n")
    result = runner.invoke(mission_app, ["check", str(SHENYANG), str(out)])
    assert result.exit_code == 1
    assert "item 5" in result.stderr and "小学（禁飞）" in result.stderr


def test_mission_patterns_and_errors(runner: CliRunner, tmp_path: Path) -> None:
    per = _json(
        runner.invoke(
            mission_app,
            ["plan", str(SHENYANG), "--pattern", "perimeter", "--vehicle", "rover", "--json"],
        )
    )
    assert per["vehicle"] == "rover" and per["valid"] is True
    pt = _json(runner.invoke(mission_app, ["plan", str(SHENYANG), "--pattern", "point", "--json"]))
    assert pt["pattern"] == "point" and pt["photos"] == 1
    split = _json(
        runner.invoke(
            mission_app,
            ["plan", str(SHENYANG), "--vehicles", "2", "--json", "--out", str(tmp_path / "s.plan")],
        )
    )
    assert split["vehicles"] == 2 and (tmp_path / "s-2.plan").is_file()
    high = runner.invoke(mission_app, ["plan", str(SHENYANG), "--altitude", "150"])
    assert high.exit_code == 1 and "altitude_agl_m=150.0" in high.stderr
    rover_survey = runner.invoke(mission_app, ["plan", str(SHENYANG), "--vehicle", "rover"])
    assert rover_survey.exit_code == 1 and "needs --vehicle copter" in rover_survey.stderr
    usage = runner.invoke(mission_app, ["plan", str(SHENYANG), "--pattern", "zigzag"])
    assert usage.exit_code == 2


@pytest.mark.slow  # matplotlib's first import takes seconds on a loaded machine
def test_mission_show_png(runner: CliRunner, tmp_path: Path) -> None:
    plan = tmp_path / "m.plan"
    runner.invoke(mission_app, ["plan", str(SHENYANG), "--out", str(plan)])
    png = tmp_path / "map.png"
    doc = _json(
        runner.invoke(mission_app, ["show", str(SHENYANG), str(plan), "--out", str(png), "--json"])
    )
    assert doc["items"] > 10
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_endurance_options(runner: CliRunner) -> None:
    short = runner.invoke(
        mission_app, ["plan", str(SHENYANG), "--endurance", "10", "--reserve", "0.3"]
    )
    assert short.exit_code == 1
    assert "usable endurance 7.0 min (10 min with 30% reserve) by" in short.stderr
    bad = runner.invoke(mission_app, ["plan", str(SHENYANG), "--reserve", "2"])
    assert bad.exit_code == 1 and "reserve=2.0" in bad.stderr
    ok = _json(runner.invoke(mission_app, ["plan", str(SHENYANG), "--endurance", "40", "--json"]))
    assert ok["valid"] is True and ok["battery_pct"] < 40
