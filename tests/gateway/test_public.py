"""The party portal, public complaint intake and disclosure register; their rate limit."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.db import make_engine, session_factory
from gateway.app import create_app
from tests.gateway.conftest import World, as_user, jpeg, with_config


def _audit_actions(world: World) -> list[tuple[str, str]]:
    engine = make_engine(world.url)
    with session_factory(engine)() as session:
        rows = [(e.actor, e.action) for e in session.scalars(select(AuditEntry))]
    engine.dispose()
    return rows


def test_party_sees_their_case_and_submits_a_defence(client: TestClient, world: World) -> None:
    number = world.case_numbers[0]
    staff = as_user(world, "insp")
    code = client.post(f"/api/cases/{number}/party-access", headers=staff).json()["access_code"]
    creds = {"number": number, "access_code": code}
    assert (
        client.post(
            "/api/public/party/case", json={**creds, "access_code": "WRONG-CODE"}
        ).status_code
        == 404
    )
    view = client.post("/api/public/party/case", json=creds).json()
    assert view["number"] == number and view["evidence"]
    assert "User insp" not in str(view)  # officers' names are not the party's business
    sha = view["evidence"][0]["media"][0]
    img = client.post("/api/public/party/media", json={**creds, "sha256": sha})
    assert img.status_code == 200 and img.content[:3] == b"\xff\xd8\xff"
    r = client.post(
        "/api/public/party/submit",
        json={**creds, "kind": "defence", "text": "该构筑物为临时堆棚，已拆除。"},
    )
    assert r.status_code == 201
    case = client.get(f"/api/cases/{number}", headers=staff).json()
    assert case["party_submissions"][0]["text"].startswith("该构筑物")
    assert (f"party:{number}", "party.defence") in _audit_actions(world)


def test_complaint_becomes_a_lead_and_a_point_mission(client: TestClient, world: World) -> None:
    form = {
        "lon": "123.407",
        "lat": "41.7606",
        "text": "工业园内有人私搭乱建",
        "class_name": "illegal_construction",
        "contact": "13800000000",
    }
    r = client.post(
        "/api/public/complaints", data=form, files=[("photos", ("a.jpg", jpeg(), "image/jpeg"))]
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["proposed_mission"] is True
    assert "13800000000" not in r.text
    staff = as_user(world, "insp")
    case = client.get(f"/api/cases/{out['reference']}", headers=staff).json()
    assert case["state"] == "suspected" and case["facts"] == form["text"]
    missions = client.get("/api/missions", headers=staff).json()["items"]
    assert any(m["kind"] == "point" and m["summary"]["valid"] for m in missions)
    bad = client.post(
        "/api/public/complaints",
        data=form,
        files=[("photos", ("a.txt", b"not an image", "text/plain"))],
    )
    assert bad.status_code == 422


def test_public_endpoints_are_rate_limited(world: World) -> None:
    config = with_config(world, public_per_minute=1, public_burst=2)
    with TestClient(create_app(config)) as c:
        codes = [c.get("/api/public/disclosures").status_code for _ in range(4)]
        assert codes[:2] == [200, 200] and codes[-1] == 429
