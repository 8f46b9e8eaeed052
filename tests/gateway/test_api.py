"""The REST API end to end on a real SQLite database: sites, missions (plan, check, export),
cases (steps, deadlines, optimistic locking), audit proofs, reports, metrics, ETags."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi.testclient import TestClient

from cases.audit.proofs import verify_proof
from missions.formats import loads_mission
from tests.gateway.conftest import World, as_user, with_config


def test_list_etag_gives_304_until_the_list_changes(client: TestClient, world: World) -> None:
    h = as_user(world, "insp")
    first = client.get("/api/cases", headers=h)
    tag = first.headers["etag"]
    again = client.get("/api/cases", headers={**h, "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    number = world.case_numbers[0]
    client.post(
        f"/api/cases/{number}/steps", headers=h, json={"action": "confirm", "reason": "现场核实"}
    )
    changed = client.get("/api/cases", headers={**h, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag


def test_pagination_and_filters(client: TestClient, world: World) -> None:
    h = as_user(world, "insp")
    page = client.get("/api/evidence?limit=2&offset=0", headers=h).json()
    assert page["total"] == len(world.evidence_ids) and len(page["items"]) == 2
    rest = client.get("/api/evidence?limit=2&offset=2", headers=h).json()
    ids = {i["id"] for i in page["items"]} | {i["id"] for i in rest["items"]}
    assert ids == set(world.evidence_ids)
    none = client.get("/api/evidence?class_name=open_burning", headers=h).json()
    assert none["total"] == 0
    bad = client.get("/api/evidence?limit=0", headers=h)
    assert bad.status_code == 422 and bad.json()["status"] == 422
    sha = page["items"][0]["media"][0]
    img = client.get(f"/api/media/{sha}", headers=h)
    assert img.status_code == 200 and img.content[:3] == b"\xff\xd8\xff"
    assert client.get(f"/api/media/{sha}", headers=as_user(world, "zr")).status_code == 404


def test_list_totals_agree_with_filters_on_every_page(client: TestClient, world: World) -> None:
    h, n = as_user(world, "insp"), len(world.evidence_ids)
    # A full page, a short last page, and a page past the end all report the same total.
    for offset, size in ((0, 2), (2, n - 2), (n + 5, 0)):
        body = client.get(f"/api/evidence?limit=2&offset={offset}", headers=h).json()
        assert (body["total"], len(body["items"]), body["offset"]) == (n, size, offset)
    by_sortie = client.get("/api/evidence?sortie_id=s-seed&limit=1", headers=h).json()
    assert by_sortie["total"] == n and len(by_sortie["items"]) == 1
    other = client.get("/api/evidence?sortie_id=s-other", headers=h).json()
    assert other == {"total": 0, "limit": 50, "offset": 0, "items": []}
    number = world.case_numbers[0]
    prefix = client.get(f"/api/cases?number={number}&limit=1", headers=h).json()
    assert prefix["total"] == 1 and prefix["items"][0]["number"] == number
    assert client.get("/api/cases?state=closed", headers=h).json()["total"] == 0
    # The cases a sortie's evidence went into.
    seeded = client.get("/api/cases?sortie_id=s-seed", headers=h).json()
    assert {c["number"] for c in seeded["items"]} == set(world.case_numbers)
    assert client.get("/api/cases?sortie_id=s-other", headers=h).json()["total"] == 0
    # Another department's inspector gets the same lists empty, with a total of 0.
    zr = as_user(world, "zr")
    assert client.get("/api/cases?limit=1&offset=1", headers=zr).json()["total"] == 0
    assert client.get("/api/evidence?limit=1&offset=1", headers=zr).json()["total"] == 0


def test_large_totals_are_reused_briefly_small_ones_stay_exact(world: World) -> None:
    from sqlalchemy import create_engine

    from cases.db import session_factory
    from cases.models import Sortie
    from gateway.api.deps import CountCache
    from gateway.app import create_app

    engine = create_engine(world.url)
    sessions = session_factory(engine)

    def add_sortie(n: int) -> None:
        with sessions() as session:
            session.add(Sortie(id=f"s-{n}", mission_id="m-x", vehicle_id="uav-1", status="done"))
            session.commit()

    app = create_app(world.config)
    app.state.count_cache = CountCache(ttl_s=0.5, min_total=3)
    try:
        with TestClient(app) as c:
            h = as_user(world, "admin")

            def total() -> int:
                # A full first page: the total has to be counted.
                return int(c.get("/api/sorties?limit=1", headers=h).json()["total"])

            add_sortie(1)
            add_sortie(2)
            assert total() == 2  # below min_total: not cached
            add_sortie(3)
            assert total() == 3  # exact, and now cached
            add_sortie(4)
            assert total() == 3  # reused within ttl_s
            time.sleep(0.6)
            assert total() == 4
    finally:
        engine.dispose()


def test_plan_check_export_and_launch_confirmation(client: TestClient, world: World) -> None:
    h = as_user(world, "insp")
    assert client.get("/api/sites", headers=h).json()["items"][0]["id"] == world.site_id
    r = client.post(
        "/api/missions/plan",
        headers=h,
        json={"site_id": world.site_id, "pattern": "survey", "altitude_agl_m": 60},
    )
    assert r.status_code == 201, r.text
    mission = r.json()
    summary = mission["summary"]
    assert summary["valid"] is True and summary["photos"] > 0 and summary["distance_m"] > 100
    assert len(mission["path_lonlat"]) > 2
    check = client.post(f"/api/missions/{mission['id']}/validate", headers=h).json()
    assert check["ok"] is True and check["waypoints_checked"] > 0
    for fmt, kind in (("plan", "qgc"), ("waypoints", "wpl"), ("geojson", "track")):
        text = client.get(f"/api/missions/{mission['id']}/export?format={fmt}", headers=h).text
        assert len(loads_mission(text, kind).items) == len(mission["items"])
    # No launcher configured: the gateway says so instead of pretending.
    launch = {"vehicle_id": "uav-1", "confirm_digest": mission["digest"]}
    r = client.post(f"/api/missions/{mission['id']}/launch", headers=h, json=launch)
    assert r.status_code == 503
    # Legal reviewers do not fly; other departments do not see the site.
    body = {"site_id": world.site_id}
    assert (
        client.post("/api/missions/plan", headers=as_user(world, "legal"), json=body).status_code
        == 403
    )
    assert (
        client.post("/api/missions/plan", headers=as_user(world, "zr"), json=body).status_code
        == 404
    )
    outside = client.post(
        "/api/missions/plan", headers=h, json={**body, "pattern": "point", "target": [0.0, 0.0]}
    )
    assert outside.status_code == 422


class _FailsBeforeRecording:
    """A launcher that keeps its own sortie record but fails before writing any (as the
    sortie engine does when, say, its simulator cannot start): injected, since that failure
    cannot be provoked from the API."""

    records_sortie = True

    async def __call__(self, request: dict[str, Any], report: Any) -> dict[str, Any]:
        raise RuntimeError("simulator did not start")


def test_a_sortie_whose_launcher_fails_early_still_ends_failed(world: World) -> None:
    from gateway.app import create_app

    config = with_config(world, launcher=_FailsBeforeRecording())
    with TestClient(create_app(config)) as c:
        h = as_user(world, "insp")
        mission = c.post(
            "/api/missions/plan",
            headers=h,
            json={"site_id": world.site_id, "pattern": "perimeter", "altitude_agl_m": 60},
        ).json()
        launch = {"vehicle_id": "uav-9", "confirm_digest": mission["digest"]}
        r = c.post(f"/api/missions/{mission['id']}/launch", headers=h, json=launch)
        assert r.status_code == 202, r.text
        sortie = r.json()["sortie_id"]
        deadline = time.monotonic() + 10
        while (row := c.get(f"/api/sorties/{sortie}", headers=h).json())["status"] != "failed":
            assert time.monotonic() < deadline, row
            time.sleep(0.05)
        assert row["ended_at"] is not None and row["live"]["status"] == "failed"
        acts = c.get(f"/api/sorties?mission_id={mission['id']}", headers=h).json()
        assert acts["total"] == 1


def test_case_page_step_deadlines_and_conflict(client: TestClient, world: World) -> None:
    number = world.case_numbers[0]
    h = as_user(world, "insp")
    case = client.get(f"/api/cases/{number}", headers=h).json()
    assert case["state"] == "suspected"
    assert {a["action"] for a in case["available_actions"]} >= {"confirm"}
    r = client.post(
        f"/api/cases/{number}/steps",
        headers=h,
        json={"action": "confirm", "reason": "现场核实", "expected_version": case["version"]},
    )
    assert r.status_code == 201
    assert r.json()["case"]["steps"][0]["actor"] == "User insp"
    stale = client.post(
        f"/api/cases/{number}/steps",
        headers=h,
        json={"action": "file", "reason": "立案", "expected_version": case["version"]},
    )
    assert stale.status_code == 409
    skip = client.post(
        f"/api/cases/{number}/steps",
        headers=as_user(world, "head"),
        json={"action": "decide", "reason": "跳步"},
    )
    assert skip.status_code == 409 and "Art. 38" in skip.json()["detail"]
    deadlines = client.get(f"/api/cases/{number}/deadlines", headers=h).json()
    assert isinstance(deadlines["items"], list)


def test_audit_proof_verifies_against_the_log_key(client: TestClient, world: World) -> None:
    h = as_user(world, "super")
    assert client.get("/api/audit/verify", headers=h).json()["ok"] is True
    proof = client.get("/api/audit/proofs/0", headers=h).json()
    key = bytes.fromhex(client.get("/api/audit/key").json()["public_key"])
    head = verify_proof(proof, key)
    assert head.tree_size >= 1
    latest = client.get("/api/audit/heads/latest", headers=h).json()
    assert latest["tree_size"] == head.tree_size
    assert client.get("/api/audit/proofs/999999", headers=h).status_code == 404
    assert client.get("/api/audit/verify", headers=as_user(world, "insp")).status_code == 403


def test_reports_and_metrics(client: TestClient, world: World) -> None:
    h = as_user(world, "super")
    r = client.get("/api/reports/monthly?month=2026-11", headers=h)
    assert r.status_code == 200 and r.json()["month"] == "2026-11"
    assert {d["department"] for d in r.json()["departments"]} <= {"CG"}
    assert client.get("/api/reports/monthly?month=2026-13", headers=h).status_code == 422
    text = client.get("/metrics").text
    assert "fieldpatrol_http_request_seconds_bucket" in text
    assert f"fieldpatrol_evidence {float(len(world.evidence_ids))}" in text
    assert "fieldpatrol_dead_letters 0.0" in text


def test_openapi_lists_every_resource(client: TestClient) -> None:
    paths = json.loads(client.get("/openapi.json").text)["paths"]
    for path in (
        "/api/sites",
        "/api/missions/plan",
        "/api/missions/{mission_id}/launch",
        "/api/sorties",
        "/api/vehicles",
        "/api/evidence",
        "/api/cases/{ref}/steps",
        "/api/cases/{ref}/deadlines",
        "/api/cases/{ref}/documents",
        "/api/cases/{ref}/export",
        "/api/public/disclosures",
        "/api/audit/proofs/{index}",
        "/api/reports/monthly",
        "/api/public/complaints",
        "/api/public/party/case",
    ):
        assert path in paths, path
