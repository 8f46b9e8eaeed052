"""Scenario files as a user writes them: the shipped examples load, the published schema is the
one the loader uses, and every kind of mistake is refused before anything starts, with the
key path of the offending key and what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from patrol.scenarios import ScenarioError, load_scenario
from patrol.scenarios.schema import render

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "scenarios").glob("*.yaml"))
NOMINAL = ROOT / "examples" / "scenarios" / "nominal-survey.yaml"


def test_the_library_holds_the_seven_scenarios_of_the_issue() -> None:
    names = {p.stem for p in EXAMPLES}
    assert names >= {
        "nominal-survey",
        "link-loss",
        "low-battery-rtl",
        "fence-breach",
        "rover-perimeter",
        "two-vehicles-split",
        "broker-restart",
    }


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_loads_and_plans(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.expectations
    for vehicle in scenario.vehicles:
        planned = scenario.sorties[vehicle.id]
        assert planned.plan.check is None or planned.plan.check.ok
        # Each example must stay quick in CI: under ~8 s of simulated flight per 100x.
        assert planned.duration_s / vehicle.speedup < 8.0, vehicle.id


def test_published_schema_is_the_one_the_loader_uses() -> None:
    published = ROOT / "docs" / "schemas" / "scenario.schema.json"
    assert published.read_text(encoding="utf-8") == render(), (
        "docs/schemas/scenario.schema.json is stale: run "
        "python -m patrol.scenarios.schema docs/schemas"
    )


def test_examples_validate_against_the_published_schema_with_a_stock_validator() -> None:
    """What a CI system or an editor does with the schema file alone."""
    from jsonschema import Draft202012Validator

    schema = json.loads((ROOT / "docs" / "schemas" / "scenario.schema.json").read_text("utf-8"))
    validator = Draft202012Validator(schema)
    for path in EXAMPLES:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text("utf-8"))))
        assert not errors, f"{path.name}: {errors[0].message}"


def _variant(tmp_path: Path, change: dict | None = None, text: str | None = None) -> Path:
    """The nominal example with `change` applied (dotted keys), saved next to a copy of
    its site so that relative paths still resolve."""
    doc = yaml.safe_load(NOMINAL.read_text(encoding="utf-8"))
    doc["site"] = str(ROOT / "examples" / "sites" / "shenyang-hunhe.geojson")
    for dotted, value in (change or {}).items():
        target = doc
        parts = dotted.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if isinstance(target, list) else target[part]
        last = parts[-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    path = tmp_path / "scenario.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    return path


def _error(path: Path, **kwargs: str | None) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message, "a user error is one line"
    assert message.startswith(str(path)), "the message names the file"
    return message


def test_unknown_key_names_its_path(tmp_path: Path) -> None:
    doc_path = _variant(tmp_path, {"vehicles.0.spedup": 50})
    message = _error(doc_path)
    assert "vehicles[0].spedup: unknown key" in message
    assert "speedup" in message  # the keys allowed there are listed


def test_wrong_type_names_its_path(tmp_path: Path) -> None:
    message = _error(_variant(tmp_path, {"vehicles.0.speedup": "fast"}))
    assert "vehicles[0].speedup: expected a number, got 'fast'" in message


def test_unknown_expectation_and_bad_threshold(tmp_path: Path) -> None:
    message = _error(_variant(tmp_path, {"expect.1": {"false_positives": {"max": 1}}}))
    assert "expect[1].false_positives: unknown key" in message
    message = _error(_variant(tmp_path, {"expect.0": {"planted_found": {"within_m": -3}}}))
    assert "expect[0].planted_found.within_m" in message


def test_missing_required_key(tmp_path: Path) -> None:
    doc = yaml.safe_load(NOMINAL.read_text(encoding="utf-8"))
    del doc["mission"]["pattern"]
    path = tmp_path / "s.yaml"
    doc["site"] = str(ROOT / "examples" / "sites" / "shenyang-hunhe.geojson")
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert "mission.pattern: missing; this key is required" in _error(path)


def test_fault_after_the_end_of_the_mission(tmp_path: Path) -> None:
    path = _variant(tmp_path, {"timeline": [{"at": 5000, "motor_failure": {}}]})
    message = _error(path)
    assert "timeline[0].at: 5000 s is after the end of the mission" in message
    assert "copter-1" in message


def test_fault_needs_exactly_one_trigger_and_one_fault(tmp_path: Path) -> None:
    path = _variant(tmp_path, {"timeline": [{"at": 10, "motor_failure": {}, "gps_loss": {}}]})
    assert "timeline[0]: name exactly one fault (found gps_loss, motor_failure)" in _error(path)
    path = _variant(tmp_path, {"timeline": [{"motor_failure": {}, "vehicle": "copter-1"}]})
    assert "timeline[0]: give either `at`" in _error(path)


def test_planted_violation_outside_the_site(tmp_path: Path) -> None:
    path = _variant(
        tmp_path,
        {"world.planted.1": {"class": "waste_dumping", "at": [123.4900, 41.7060]}},
    )
    message = _error(path)
    assert "world.planted[1].at" in message
    assert "outside the keep-in area of site 'shenyang-hunhe'" in message


def test_planted_violation_in_an_exclusion_zone(tmp_path: Path) -> None:
    # The substation (变电站) exclusion of the Hunhe site.
    path = _variant(
        tmp_path, {"world.planted.0": {"class": "open_burning", "at": [123.48480, 41.70555]}}
    )
    message = _error(path)
    assert "world.planted[0].at" in message and "exclusion zone" in message


def test_fence_breach_target_must_lie_outside_the_fence(tmp_path: Path) -> None:
    path = _variant(
        tmp_path, {"timeline": [{"at": 30, "fence_breach": {"target": [123.4850, 41.7045]}}]}
    )
    assert "timeline[0].fence_breach.target" in _error(path)


def test_fence_breach_via_a_leg_that_stays_inside_is_refused(tmp_path: Path) -> None:
    # Both points west of the school: the leg between never meets the fence.
    leg = {"via": [123.4845, 41.7045], "target": [123.4855, 41.7045]}
    path = _variant(tmp_path, {"timeline": [{"at": 30, "fence_breach": leg}]})
    message = _error(path)
    assert "timeline[0].fence_breach.target" in message and "stays inside the fence" in message
    # A via point in the school's zone is not a place to send the vehicle first.
    leg = {"via": [123.4873, 41.7047], "target": [123.4882, 41.7047]}
    path = _variant(tmp_path, {"timeline": [{"at": 30, "fence_breach": leg}]})
    assert "timeline[0].fence_breach.via" in _error(path)


def test_reference_to_an_unknown_vehicle(tmp_path: Path) -> None:
    path = _variant(tmp_path, {"expect.6": {"outcome": {"is": "completed", "vehicle": "uav-9"}}})
    assert "expect[6].outcome.vehicle: 'uav-9' is not a vehicle here (copter-1)" in _error(path)


def test_sitl_backend_without_binaries_is_refused_before_anything_starts(tmp_path: Path) -> None:
    path = _variant(tmp_path, {"vehicles.0.backend": "sitl"})
    message = _error(path, sitl_copter=None, sitl_rover=None)
    assert "vehicles[0].backend: sitl is not available" in message
    assert "FIELDPATROL_SITL_COPTER" in message
    # The same from the command line's --backend.
    message = _error(NOMINAL, backend="sitl", sitl_copter=None, sitl_rover=None)
    assert "--backend: sitl is not available" in message


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    path = _variant(tmp_path, text="version: 1\nname: [unclosed\n")
    assert "not valid YAML" in _error(path) and "line 3" in _error(path)
    path = _variant(tmp_path, text="- just\n- a list\n")
    assert "expected a mapping" in _error(path)


def test_command_line_reports_a_malformed_file_in_one_line(tmp_path: Path) -> None:
    """`patrol sim run` with a bad file: exit 1, one line naming the key, no traceback,
    and nothing started (the good file before it does not run either)."""
    bad = _variant(tmp_path, {"mission.altitude_agl_m": -5})
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPATROL_")}
    env["FIELDPATROL_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-m", "patrol.cli", "sim", "run", str(NOMINAL), str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {bad}: mission.altitude_agl_m:")
    assert "▶" not in result.stderr  # no scenario started
    assert not (tmp_path / "home" / "reports").exists()


def test_a_mission_file_instead_of_a_pattern(tmp_path: Path) -> None:
    """pattern: file flies a QGC .plan as it is (checked against the site); its duration is
    estimated, so a fault past its end is still refused."""
    from missions.formats import plan_to_file, save_mission
    from missions.patterns import plan_perimeter
    from missions.site import load_site

    site = load_site(ROOT / "examples" / "sites" / "shenyang-hunhe.geojson")
    plan = plan_perimeter(site, vehicle="copter", altitude_agl_m=40)
    save_mission(tmp_path / "loop.plan", plan_to_file(plan), plan.path_lonlat)
    doc = {
        "version": 1,
        "name": "from a file",
        "site": str(ROOT / "examples" / "sites" / "shenyang-hunhe.geojson"),
        "vehicles": [{"id": "uav", "kind": "copter"}],
        "mission": {"pattern": "file", "file": "loop.plan"},
        "timeline": [{"at": 30, "wind": {"speed_m_s": 8, "from_deg": 270}}],
        "expect": [{"inside_fence": {}}],
    }
    path = tmp_path / "file.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    scenario = load_scenario(path)
    planned = scenario.sorties["uav"]
    assert len(planned.items) == len(plan.items)
    assert planned.plan.altitude_agl_m == pytest.approx(40.0)
    assert 0.5 * plan.estimates.duration_s < planned.duration_s < 2 * plan.estimates.duration_s
    doc["timeline"] = [{"at": 5000, "wind": {"speed_m_s": 8}}]
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert "timeline[0].at: 5000 s is after the end of the mission" in _error(path)
    doc["mission"] = {"pattern": "file", "file": "missing.plan"}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert "mission.file:" in _error(path) and "not found" in _error(path)


def test_same_file_same_world(tmp_path: Path) -> None:
    """Determinism of what a scenario puts on the ground: the same file gives the same
    planted objects and the same ground texture under the camera."""
    from datetime import UTC, datetime

    from missions.camera import CameraModel
    from patrol.scenarios.loader import detector_camera
    from patrol.scenarios.world import build_world
    from simulators.camera import SyntheticCamera
    from telemetry.contract import CameraPose

    for name in ("nominal-survey.yaml", "two-vehicles-split.yaml"):
        a, b = (
            load_scenario(ROOT / "examples" / "scenarios" / name),
            load_scenario(ROOT / "examples" / "scenarios" / name),
        )
        wa, wb = build_world(a.site, a.world), build_world(b.site, b.world)
        assert [(o.id, o.class_name, o.lat, o.lon, o.heading_deg) for o in wa.objects] == [
            (o.id, o.class_name, o.lat, o.lon, o.heading_deg) for o in wb.objects
        ]
        assert wa.violations, name
        assert a.sorties.keys() == b.sorties.keys()
        for vid in a.sorties:
            assert a.sorties[vid].path_lonlat == b.sorties[vid].path_lonlat
        if name != "nominal-survey.yaml":
            continue  # one rendered frame is proof enough, and rendering costs seconds
        target = wa.violations[0]
        pose = CameraPose(
            time=datetime(2026, 5, 1, 3, 0, tzinfo=UTC),
            lat=target.lat,
            lon=target.lon,
            alt_agl_m=50,
            alt_amsl_m=92,
            roll_deg=0,
            pitch_deg=0,
            yaw_deg=0,
        )
        camera = detector_camera(CameraModel)
        frame_a = SyntheticCamera(wa, camera, seed=a.seed).render(pose).image
        frame_b = SyntheticCamera(wb, camera, seed=b.seed).render(pose).image
        assert (frame_a == frame_b).all()


def test_an_expectation_that_cannot_fail_is_refused(tmp_path: Path) -> None:
    doc = yaml.safe_load(NOMINAL.read_text(encoding="utf-8"))
    doc["site"] = str(ROOT / "examples" / "sites" / "shenyang-hunhe.geojson")
    doc["world"] = {"planted": [{"class": "haystack", "at": [123.4856, 41.7042]}]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    message = _error(path)
    assert "expect[0].planted_found: the world plants no violation, so this cannot fail" in (
        message
    )


def test_a_parameter_the_simulator_does_not_have(tmp_path: Path) -> None:
    path = _variant(tmp_path, {"vehicles.0.params": {"FS_GCS_ENABL": 1}})
    message = _error(path)
    assert "vehicles[0].params.FS_GCS_ENABL: the built-in copter simulator has no parameter" in (
        message
    )


def test_a_mission_parameter_the_pattern_does_not_use(tmp_path: Path) -> None:
    path = _variant(tmp_path, {"mission.inset_m": 20})
    assert "mission.inset_m: only used with pattern: perimeter (pattern is survey)" in _error(path)
