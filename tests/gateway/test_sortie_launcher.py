"""The launcher `patrol gateway serve --simulate` injects: what flies is exactly the plan the
user confirmed, and the sortie engine's events reach the live map as the console reads them.
(The whole flight, evidence and cases included, is the browser test's.)"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

import pytest

from gateway.api.missions import plan_digest
from missions.camera import CameraModel
from missions.check import check_mission
from missions.patterns import plan_perimeter
from missions.site import site_from_geojson
from missions.survey import plan_survey
from patrol.gateway_launcher import event_view, plan_from_request
from patrol.sortie import SortieEvent
from tests.gateway.conftest import SITE_FILE


@pytest.mark.parametrize("pattern", ["perimeter", "survey"])
def test_the_rebuilt_plan_is_the_confirmed_one(pattern: str) -> None:
    site = site_from_geojson(json.loads(SITE_FILE.read_text(encoding="utf-8")))
    if pattern == "survey":
        plan = plan_survey(site, CameraModel.default(), altitude_agl_m=100)
    else:
        plan = plan_perimeter(site, "copter", altitude_agl_m=60)
    report = check_mission(site, plan.items, vehicle=plan.vehicle)
    summary = {**plan.summary(), "valid": report.ok, "problems": list(report.problems)}
    # What the gateway stores at planning and hands the launcher at launch (through JSON).
    request = json.loads(
        json.dumps(
            {
                "sortie_id": "s-1",
                "mission_id": "m-1",
                "site_id": site.id,
                "vehicle_id": "uav-1",
                "vehicle": plan.vehicle,
                "items": [asdict(i) for i in plan.items],
                "fence": [asdict(i) for i in plan.fence],
                "rally": [asdict(i) for i in plan.rally],
                "summary": summary,
                "path_lonlat": [list(p) for p in plan.path_lonlat],
            }
        )
    )
    rebuilt = plan_from_request(request)
    assert (rebuilt.items, rebuilt.fence, rebuilt.rally) == (plan.items, plan.fence, plan.rally)
    assert rebuilt.path_lonlat == [tuple(p) for p in plan.path_lonlat]
    # The figures the user confirmed (as stored: rounded), and so the digest, are unchanged.
    again = {**rebuilt.summary(), "valid": report.ok, "problems": list(report.problems)}
    assert again == summary and plan_digest(again) == plan_digest(summary)


def test_engine_events_become_live_views() -> None:
    now = datetime.now(UTC)
    status = event_view(SortieEvent(now, "status", {"status": "flying", "n": 3}), "uav-1")
    assert (status["kind"], status["event"]) == ("progress", "flying")
    assert status["vehicle_id"] == "uav-1" and status["detail"]["n"] == 3
    fence = event_view(SortieEvent(now, "fence_breach", {"breach": 1}), "uav-1")
    assert (fence["kind"], fence["event"]) == ("fence", "fence_breach")
    detail = {"evidence_id": "e-1", "class": "open_burning", "confidence": 0.8, "lat": 41.7}
    found = event_view(SortieEvent(now, "evidence", {**detail, "lon": 123.4}), "uav-1")
    assert found["kind"] == "evidence" and found["class_name"] == "open_burning"
    assert (found["evidence_id"], found["lat"], found["lon"]) == ("e-1", 41.7, 123.4)
