"""Judging and reporting a run, on run records written by hand: what each expectation measures,
how a failure reads, and what a CI system and a person get (JUnit XML, the HTML report)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from patrol.scenarios import Scenario, load_scenario
from patrol.scenarios.expectations import evaluate
from patrol.scenarios.junit import ScenarioResult, write_junit
from patrol.scenarios.record import Planted, RunRecord, Suspect, VehicleRecord
from patrol.scenarios.report import write_report

ROOT = Path(__file__).resolve().parents[2]
NOMINAL = ROOT / "examples" / "scenarios" / "nominal-survey.yaml"
FENCE = ROOT / "examples" / "scenarios" / "fence-breach.yaml"


@pytest.fixture(scope="module")
def nominal() -> Scenario:
    return load_scenario(NOMINAL)


def _record(scenario: Scenario, **vehicle: Any) -> RunRecord:
    """A completed flight over the launch point, all planted violations found exactly."""
    from patrol.scenarios.world import build_world

    world = build_world(scenario.site, scenario.world)
    rec = RunRecord(scenario=scenario.slug, backend="builtin", seed=scenario.seed)
    lon, lat = scenario.site.launch
    v = VehicleRecord(
        id="copter-1",
        kind="copter",
        backend="builtin",
        track=[(0.0, lon, lat), (60.0, lon + 0.001, lat + 0.001), (200.0, lon, lat)],
        armed_at_s=0.0,
        landed_at_s=205.0,
        mission_finished=True,
    )
    for key, value in vehicle.items():
        setattr(v, key, value)
    rec.vehicles[v.id] = v
    rec.planted = [Planted(o.id, o.class_name, o.lat, o.lon, o.is_violation) for o in world.objects]
    rec.suspects = [
        Suspect("copter-1", p.class_name, p.lat, p.lon, 0.8) for p in rec.planted if p.is_violation
    ]
    rec.evidence_submitted = rec.evidence_stored = len(rec.suspects)
    rec.cases_opened = 2
    rec.audit_ok = True
    rec.audit_entries = 30
    return rec


def test_a_perfect_record_passes_every_nominal_expectation(nominal: Scenario) -> None:
    verdicts = evaluate(nominal, _record(nominal))
    assert [v.key for v in verdicts] == [e.key for e in nominal.expectations]
    assert all(v.passed for v in verdicts), [v.message for v in verdicts if not v.passed]


def test_a_missed_violation_reads_with_threshold_and_measured_value(nominal: Scenario) -> None:
    rec = _record(nominal)
    missed = rec.suspects.pop(1)
    # A suspect of the right class, 23 m off: not "found within 10 m", and a false suspect.
    rec.suspects.append(
        Suspect("copter-1", missed.class_name, missed.lat + 0.00021, missed.lon, 0.7)
    )
    verdicts = {v.kind: v for v in evaluate(nominal, rec)}
    found = verdicts["planted_found"]
    assert not found.passed
    assert found.message.startswith("expect[0].planted_found FAILED: expected all 3 planted")
    assert "within 10 m; measured 2 of 3 (missed p001 waste_dumping, nearest suspect 23." in (
        found.message
    )
    assert verdicts["false_suspects"].value == 1 and verdicts["false_suspects"].passed


def test_evidence_lost_on_the_way_fails_all_sent(nominal: Scenario) -> None:
    rec = _record(nominal)
    rec.evidence_submitted = 5
    rec.evidence_stored = 4
    verdict = next(v for v in evaluate(nominal, rec) if v.kind == "evidence")
    assert not verdict.passed
    assert "measured 4 evidence items in the case record of 5 sent" in verdict.message


def test_a_track_leaving_the_fence_is_measured_in_metres(nominal: Scenario) -> None:
    lon, lat = nominal.site.launch
    # 0.0005 degrees south of the launch point: about 25 m outside the south edge (-30 m).
    outside = [(0.0, lon, lat), (70.0, lon, lat - 0.0005), (100.0, lon, lat)]
    verdict = next(
        v for v in evaluate(nominal, _record(nominal, track=outside)) if v.kind == "inside_fence"
    )
    assert not verdict.passed
    assert verdict.value == pytest.approx(25.5, abs=1.5)
    assert "outside at worst (copter-1 at t=70 s)" in verdict.measured


def test_failsafe_timing_and_outcome() -> None:
    scenario = load_scenario(FENCE)
    rec = _record(scenario, failsafe_at_s=68.0, failsafe_reason="Fence Breach", landed_at_s=250.0,
                  mission_finished=False)  # fmt: skip
    verdicts = {v.kind: v for v in evaluate(scenario, rec)}
    landing = verdicts["lands_after_failsafe"]
    assert not landing.passed and landing.value == 182.0
    assert "Fence Breach at 68 s, landed 182 s later" in landing.measured
    assert verdicts["outcome"].passed  # aborted, as expected
    calm = _record(scenario)  # nothing went wrong: the expected failsafe never happened
    verdicts = {v.kind: v for v in evaluate(scenario, calm)}
    assert not verdicts["lands_after_failsafe"].passed
    assert "no failsafe happened" in verdicts["lands_after_failsafe"].measured
    assert not verdicts["outcome"].passed
    assert "copter-1 completed" in verdicts["outcome"].measured


def test_junit_and_html_report(tmp_path: Path, nominal: Scenario) -> None:
    rec = _record(nominal)
    rec.suspects.pop(0)
    rec.note(40.0, "copter-1", "fault", "timeline[0] wind speed_m_s=8")
    verdicts = evaluate(nominal, rec)
    page = write_report(tmp_path / "reports", nominal, rec, verdicts)
    html = page.read_text(encoding="utf-8")
    assert page == tmp_path / "reports" / "nominal-survey" / "index.html"
    assert "<svg" in html and "<polyline" in html  # plan and track on the map
    assert "MISSED" in html  # the planted violation nobody found is marked
    assert "timeline[0] wind speed_m_s=8" in html
    assert "expect[0].planted_found" in html and "2 of 3" in html
    assert (page.parent / "result.json").is_file()

    ok = ScenarioResult("ok", "a.yaml", "a", [v for v in verdicts if v.passed], 3.0)
    bad = ScenarioResult("bad", "b.yaml", "b", verdicts, 4.0, report=str(page))
    broken = ScenarioResult("broken", "c.yaml", "c", [], 1.0, error="timed out after 120 s")
    root = ET.parse(write_junit([ok, bad, broken], tmp_path / "junit.xml")).getroot()
    assert root.get("failures") == "1" and root.get("errors") == "1"
    failure = root.find("testsuite[@name='b']/testcase[@name='expect[0].planted_found']/failure")
    assert failure is not None
    assert "expected all 3 planted violations found within 10 m" in failure.get("message", "")
    assert "measured 2 of 3" in failure.get("message", "")
    error = root.find("testsuite[@name='c']/testcase/error")
    assert error is not None and error.get("message") == "timed out after 120 s"
