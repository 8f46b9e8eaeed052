"""Accounts and roles: passwords, bearer tokens, the console cookie with CSRF, role checks,
department scope, audit attribution, login rate limit, closed CORS."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.db import make_engine, session_factory
from gateway.app import create_app
from tests.gateway.conftest import PASSWORD, World, login, with_config


def test_api_needs_a_login_and_a_wrong_password_is_refused(client: TestClient) -> None:
    r = client.get("/api/cases")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    bad = client.post("/api/auth/token", data={"username": "insp", "password": "wrong-one"})
    assert bad.status_code == 401
    nobody = client.post("/api/auth/token", data={"username": "ghost", "password": "x" * 9})
    assert nobody.status_code == 401
    r = client.get("/api/cases", headers={"Authorization": "Bearer not.a.token"})
    assert r.status_code == 401


def test_bearer_token_lists_only_own_department(client: TestClient, world: World) -> None:
    cg = client.get("/api/cases", headers=login(client, "insp")).json()
    assert cg["total"] == len(world.case_numbers) and cg["total"] > 0
    zr = client.get("/api/cases", headers=login(client, "zr")).json()
    assert zr["total"] == 0
    number = world.case_numbers[0]
    assert client.get(f"/api/cases/{number}", headers=login(client, "zr")).status_code == 404
    ev = client.get("/api/evidence", headers=login(client, "zr")).json()
    assert ev["total"] == 0
    admin = client.get("/api/cases", headers=login(client, "admin")).json()
    assert admin["total"] == cg["total"]


def test_console_cookie_needs_csrf_for_writes(client: TestClient, world: World) -> None:
    r = client.post("/api/auth/login", json={"username": "insp", "password": PASSWORD})
    assert r.status_code == 200
    csrf = r.json()["csrf_token"]
    assert "fp_session" in r.cookies or "fp_session" in client.cookies
    set_cookie = r.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie
    assert client.get("/api/cases").status_code == 200  # reads need no CSRF token
    number = world.case_numbers[0]
    body = {"action": "confirm", "reason": "现场核实：无规划许可的新建构筑物"}
    refused = client.post(f"/api/cases/{number}/steps", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    forged = client.post(f"/api/cases/{number}/steps", json=body, headers={"X-CSRF-Token": "guess"})
    assert forged.status_code == 403
    ok = client.post(f"/api/cases/{number}/steps", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text
    assert ok.json()["to_state"] == "confirmed"
    client.post("/api/auth/logout")
    assert client.get("/api/cases").status_code == 401


def test_role_checks_and_audit_attribution(client: TestClient, world: World) -> None:
    number = world.case_numbers[0]
    # A legal reviewer may not confirm a suspicion: the procedure's role rule, a 409.
    r = client.post(
        f"/api/cases/{number}/steps",
        headers=login(client, "legal"),
        json={"action": "confirm", "reason": "x"},
    )
    assert r.status_code == 409 and "role" in r.json()["detail"]
    # Only administrators create users; only supervisors/admins add sites.
    new = {
        "username": "newbie",
        "name": "New Bie",
        "role": "inspector",
        "department": "CG",
        "password": "long-enough-1",
    }
    assert client.post("/api/users", json=new, headers=login(client, "insp")).status_code == 403
    assert client.post("/api/users", json=new, headers=login(client, "admin")).status_code == 201
    assert (
        client.post(
            "/api/auth/token", data={"username": "newbie", "password": "long-enough-1"}
        ).status_code
        == 200
    )
    ok = client.post(
        f"/api/cases/{number}/steps",
        headers=login(client, "insp"),
        json={"action": "confirm", "reason": "现场核实"},
    )
    assert ok.status_code == 201
    engine = make_engine(world.url)
    with session_factory(engine)() as session:
        actors = {
            (e.actor, e.action) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        }
    engine.dispose()
    assert ("user:insp", "case.confirm") in actors
    assert ("user:admin", "user.created") in actors


def test_login_is_rate_limited(world: World) -> None:
    config = with_config(world, login_per_minute=1, login_burst=3)
    with TestClient(create_app(config)) as c:
        codes = [
            c.post(
                "/api/auth/token", data={"username": "insp", "password": "wrong-pass"}
            ).status_code
            for _ in range(5)
        ]
        assert codes[:3] == [401, 401, 401]
        assert codes[3] == 429
        r = c.post("/api/auth/token", data={"username": "insp", "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_cors_closed_by_default_and_open_when_configured(world: World) -> None:
    headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    with TestClient(create_app(world.config)) as c:
        r = c.options("/api/cases", headers=headers)
        assert "access-control-allow-origin" not in r.headers
    config = with_config(world, cors_origins=("https://city.example",))
    with TestClient(create_app(config)) as c:
        r = c.options("/api/cases", headers={**headers, "Origin": "https://city.example"})
        assert r.headers.get("access-control-allow-origin") == "https://city.example"
        r = c.options("/api/cases", headers=headers)
        assert r.headers.get("access-control-allow-origin") != "https://evil.example"
