"""The schedule endpoints: role checks, department scope, problem details for bad input and
overlaps, pause/resume/remove, and the runs with their gate results for the console."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from cases.db import make_engine, session_factory
from cases.schedules import ScheduleRun
from tests.gateway.conftest import World, as_user

BODY = {
    "name": "工业园每日巡查",
    "site_id": "yuhong-t-site",
    "rrule": "FREQ=DAILY;BYHOUR=9",
    "vehicles": ["uav-1"],
    "mission": {"pattern": "perimeter", "altitude_agl_m": 40},
    "window": "08:00-18:00",
}


def test_schedule_crud_roles_scope_and_errors(client: TestClient, world: World) -> None:
    sup, insp, zr = (as_user(world, u) for u in ("super", "insp", "zr"))
    r = client.post("/api/schedules", json=BODY, headers=insp)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"

    r = client.post("/api/schedules", json=BODY, headers=sup)
    assert r.status_code == 201, r.text
    made = r.json()
    sid = made["id"]
    assert made["state"] == "active" and made["next_due"].endswith("01:00:00+00:00")
    assert made["duration_s"] > 120

    # Bad input: a problem document naming the field.
    for change, status, word in (
        ({"rrule": "FREQ=SOMETIMES"}, 422, "rrule:"),
        ({"window": "18:00-06:00"}, 422, "window: end 06:00 is not after start 18:00"),
        ({"rrule": "FREQ=DAILY;BYHOUR=9;BYMINUTE=3"}, 409, "vehicles: "),
        ({"site_id": "nowhere"}, 404, "site 'nowhere' not found"),
    ):
        r = client.post("/api/schedules", json={**BODY, **change}, headers=sup)
        assert r.status_code == status, (change, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert word in r.json()["detail"], r.json()

    # Another department neither sees nor changes it.
    assert client.get("/api/schedules", headers=zr).json()["items"] == []
    assert client.get(f"/api/schedules/{sid}", headers=zr).status_code == 404
    assert client.get("/api/schedules", headers=insp).json()["items"][0]["id"] == sid

    assert client.post(f"/api/schedules/{sid}/pause", headers=sup).json()["state"] == "paused"
    assert client.post(f"/api/schedules/{sid}/pause", headers=insp).status_code == 403
    resumed = client.post(f"/api/schedules/{sid}/resume", headers=sup).json()
    assert resumed["state"] == "active" and resumed["next_due"]

    # The console reads each run's decision and gates.
    engine = make_engine(world.url)
    try:
        with session_factory(engine)() as session:
            session.add(
                ScheduleRun(
                    schedule_id=sid,
                    due_at=datetime(2026, 12, 1, 1, tzinfo=UTC),
                    decision="blocked",
                    status="blocked",
                    reason="preflight gate battery: battery 20% is below the 60% needed",
                    vehicle_id="uav-1",
                    gates=[{"gate": "battery", "ok": False, "detail": "battery 20%"}],
                )
            )
            session.commit()
    finally:
        engine.dispose()
    runs = client.get(f"/api/schedules/{sid}/runs", headers=insp).json()
    assert runs["total"] == 1 and runs["items"][0]["gates"][0]["gate"] == "battery"
    assert client.get(f"/api/schedules/{sid}/runs", headers=zr).status_code == 404

    assert client.delete(f"/api/schedules/{sid}", headers=sup).json()["state"] == "removed"
    assert client.get("/api/schedules", headers=sup).json()["items"] == []
    r = client.post(f"/api/schedules/{sid}/resume", headers=sup)
    assert r.status_code == 409 and "removed" in r.json()["detail"]
