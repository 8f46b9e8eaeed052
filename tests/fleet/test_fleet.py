"""Fleet runs against the built-in simulator over real MAVLink/TCP, the machine's Mosquitto and a
real SQLite database: three vehicles at once, one aborted, one lost and its unflown legs
re-flown by another vehicle; then `patrol fleet status` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cases import audit
from cases.audit import AuditEntry
from cases.models import Sortie
from missions.site import load_site
from patrol.coverage import imaged_union, planned_bands, survey_area
from patrol.fleet import Fleet, FleetError, flown_legs, remainder_plan
from patrol.ground import Ground
from patrol.sortie import SortieResult, SortieRun, SortieSpec, default_camera, survey_leg_ends

from .conftest import field_site

FAST = {"speedup": 50.0, "vision": False, "link_timeout_s": 1.0, "lost_after_s": 1.5}


def patrol(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPATROL_")}
    env.update(FIELDPATROL_HOME=str(home), COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "patrol.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_three_vehicles_abort_one_lose_one_and_replan(
    ground: Ground, tmp_path: Path, fieldpatrol_home: Path
) -> None:
    site_path = field_site(tmp_path / "field.geojson", 300, 200)
    flying: set[str] = set()
    most_at_once = 0
    lock = threading.Lock()

    def on_event(run: SortieRun, event: Any) -> None:
        nonlocal most_at_once
        if event.kind != "status":
            return
        with lock:
            if event.detail["status"] == "flying":
                flying.add(run.sortie_id)
            else:
                flying.discard(run.sortie_id)
            most_at_once = max(most_at_once, len(flying))

    fleet = Fleet(ground, on_event=on_event, reports=True)
    names = [ground.default_vehicle_id("copter", n) for n in (1, 2, 3)]
    try:
        runs = fleet.survey(site_path, names, **FAST)
        # The first vehicle has the most legs (3 of 7): after its first leg, two are left,
        # time enough to cut its link before it finishes even on a loaded machine.
        lost, aborted, other = runs
        for run in runs:
            run.wait_status(("flying",), 30)
        # One vehicle, one sortie at a time.
        with pytest.raises(FleetError, match="already flying"):
            fleet.launch(SortieSpec(site=site_path, vehicle_id=names[0], **FAST))

        fleet.abort(names[1], "大风 wind over limit")
        # The link to the second vehicle drops for good once it has imaged its first leg.
        first_leg_end = lost.result.leg_end_seqs[0]
        assert lost.simulator.wait_until(lambda v: v.current_seq > first_leg_end, 30)
        lost.simulator.faults.link_loss()
        results = fleet.wait(120)
    finally:
        fleet.close()

    assert most_at_once == 3, "the three vehicles must have been flying at the same time"
    by_id = {r.sortie_id: r for r in results}
    assert len(by_id) == 4  # three sorties and one re-plan

    a = by_id[aborted.sortie_id]
    assert a.status == "aborted" and "wind" in a.reason
    assert not a.mission_finished
    # RTL brought it home: on the ground (disarmed) near the launch point.
    sim = aborted.simulator.vehicle
    assert not sim.armed and abs(sim.body.n) < 5 and abs(sim.body.e) < 5

    b = by_id[lost.sortie_id]
    assert b.status == "lost" and "link lost" in b.reason
    assert any(e["kind"] == "link_lost" for e in b.events)
    assert 1 <= flown_legs(b) < len(b.leg_end_seqs)

    c = by_id[other.sortie_id]
    assert c.status == "completed" and c.mission_finished

    replan_id = fleet.replans[lost.sortie_id]
    r = by_id[replan_id]
    assert r.replans == lost.sortie_id and r.status == "completed"
    assert r.vehicle_id not in (b.vehicle_id, a.vehicle_id)  # the vehicle that came home
    assert r.survey_legs == [b.survey_legs[0] + flown_legs(b), b.survey_legs[1]]

    # Together, the lost sortie and its re-plan imaged what the lost sortie was to image.
    site = load_site(site_path)
    width, height = default_camera().footprint_m(50.0)
    planned = planned_bands(site, lost.plan.items, width, height).intersection(survey_area(site))
    imaged = imaged_union(site, b.footprints + r.footprints)
    alone = imaged_union(site, b.footprints).intersection(planned).area / planned.area
    together = imaged.intersection(planned).area / planned.area
    print(f"lost sortie imaged {alone:.3f} of its share, with the re-plan {together:.3f}")
    assert alone < 0.8 and together > 0.97

    # Each sortie has its own row, final status and audit trail; the log verifies.
    with ground.sessions() as session:
        rows = {s.id: s for s in session.scalars(select(Sortie))}
        assert {k: v.status for k, v in rows.items()} == {k: v.status for k, v in by_id.items()}
        assert len({row.vehicle_id for row in rows.values()}) == 3
        actions = {(e.action, e.subject) for e in session.scalars(select(AuditEntry))}
        assert ("sortie.abort", f"sortie:{aborted.sortie_id}") in actions
        assert ("sortie.lost", f"sortie:{lost.sortie_id}") in actions
        assert ("sortie.replanned", f"sortie:{lost.sortie_id}") in actions
        assert ("sortie.anomaly", f"sortie:{lost.sortie_id}") in actions
        assert audit.verify(session).ok

    # Every sortie left its report as it ended; the lost one's names the link gap that was
    # never regained.
    assert fleet.report_errors == {}
    for r in results:
        assert (Path(r.report_dir) / "report.pdf").read_bytes()[:5] == b"%PDF-"
    report = json.loads((Path(b.report_dir) / "report.json").read_text(encoding="utf-8"))
    assert report["sortie"]["status"] == "lost"
    gaps = [a for a in report["anomalies"] if a["kind"] == "link_gap"]
    assert len(gaps) == 1 and gaps[0]["end"] is None
    assert "链路中断" in (Path(b.report_dir) / "report.html").read_text(encoding="utf-8")

    # What a supervisor sees.
    status = patrol(fieldpatrol_home, "fleet", "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    states = {v["vehicle_id"]: v["state"] for v in data["vehicles"]}
    assert states == {b.vehicle_id: "lost", a.vehicle_id: "idle", c.vehicle_id: "idle"}
    assert {s["sortie_id"]: s["status"] for s in data["sorties"]} == {
        k: v.status for k, v in by_id.items()
    }


def test_remainder_plan_flies_the_unflown_legs(tmp_path: Path) -> None:
    """No flight: a lost sortie's record decides which legs are re-planned."""
    from missions.split import split_survey

    site_path = field_site(tmp_path / "field.geojson", 300, 200)
    site = load_site(site_path)
    plans = split_survey(site, default_camera(), 2, altitude_agl_m=50.0)
    ends = survey_leg_ends(plans[1].items)
    first = len(survey_leg_ends(plans[0].items))
    spec = SortieSpec(site=site, plan=plans[1], survey_legs=(first, first + len(ends) - 1))
    result = SortieResult(
        sortie_id="S-x",
        mission_id="M-x",
        site_id=site.id,
        vehicle_id="v",
        vehicle_kind="copter",
        pattern="survey",
        survey_legs=[first, first + len(ends) - 1],
        leg_end_seqs=ends,
        last_reached_seq=ends[0],  # first leg done, the vehicle was lost on the second
    )
    plan, legs = remainder_plan(site, spec, result)
    assert legs == (first + 1, first + len(ends) - 1)
    assert len(survey_leg_ends(plan.items)) == len(ends) - 1

    # The remainder is the tail of the lost plan: its legs end where the lost plan's did.
    def at(items: list[Any], seqs: list[int]) -> list[tuple[float, float]]:
        return [(round(i.lat_deg, 6), round(i.lon_deg, 6)) for i in items if i.seq in seqs]

    assert at(plan.items, survey_leg_ends(plan.items)) == at(plans[1].items, ends[1:])

    result.last_reached_seq = ends[-1]
    with pytest.raises(FleetError, match="nothing is left"):
        remainder_plan(site, spec, result)


def test_fleet_refuses_bad_requests(ground: Ground, tmp_path: Path) -> None:
    fleet = Fleet(ground)
    with pytest.raises(FleetError, match="neither a sortie nor a vehicle"):
        fleet.abort("S-nope")
    with pytest.raises(FleetError, match="named twice"):
        fleet.survey(tmp_path / "x.geojson", ["a", "a"])
    with pytest.raises(FleetError, match="at least one vehicle"):
        fleet.survey(tmp_path / "x.geojson", [])


@pytest.mark.slow
def test_battery_failsafe_ends_the_sortie_as_lost(ground: Ground, tmp_path: Path) -> None:
    from patrol.sortie_report import build_report

    site_path = field_site(tmp_path / "field.geojson", 200, 120)
    run = SortieRun(ground, SortieSpec(site=site_path, **FAST)).start()
    run.wait_status(("flying",), 30)
    assert run.simulator.wait_until(lambda v: v.current_seq > run.result.leg_end_seqs[0], 30)
    run.simulator.faults.low_battery(5)
    result = run.wait(120)
    # The autopilot brought it home on its own: landed, mission not finished.
    assert result.status == "lost" and result.reason.startswith("failsafe: Battery")
    assert not result.mission_finished and not run.simulator.vehicle.armed
    report = build_report(ground, result.sortie_id)
    failsafes = [a for a in report.anomalies if a["kind"] == "failsafe"]
    assert failsafes and "Battery" in failsafes[0]["text"]
    assert 0 < report.coverage.imaged_pct < report.coverage.planned_pct
