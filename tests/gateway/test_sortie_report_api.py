"""GET /api/sorties/{id}/report/{html|pdf}: the mission report `patrol sortie report` wrote,
served to users who may see the sortie's site; a clear 404 otherwise. (Making the report from
a real flight is tested in tests/fleet/test_report.py; here the files are placed by hand.)"""

from __future__ import annotations

from fastapi.testclient import TestClient

from cases.db import make_engine, session_factory
from cases.models import MissionRecord, Sortie

from .conftest import World, as_user


def _sortie(world: World, sortie_id: str = "S-report-1") -> str:
    engine = make_engine(world.url)
    try:
        with session_factory(engine)() as session:
            session.add(MissionRecord(id="m-report", site_id=world.site_id, plan={}))
            session.add(
                Sortie(id=sortie_id, mission_id="m-report", vehicle_id="uav-1", status="completed")
            )
            session.commit()
    finally:
        engine.dispose()
    return sortie_id


def test_report_is_served_to_those_who_see_the_site(world: World, client: TestClient) -> None:
    sortie_id = _sortie(world)
    folder = world.home / "reports" / sortie_id
    folder.mkdir(parents=True)
    (folder / "report.html").write_text("<h1>巡查任务报告</h1>", encoding="utf-8")
    (folder / "report.pdf").write_bytes(b"%PDF-1.4 report")

    inspector = as_user(world, "insp")
    # The sortie names the formats that exist: the console links only those.
    assert client.get(f"/api/sorties/{sortie_id}", headers=inspector).json()["reports"] == [
        "html",
        "pdf",
    ]
    r = client.get(f"/api/sorties/{sortie_id}/report/html", headers=inspector)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "巡查任务报告" in r.text
    r = client.get(f"/api/sorties/{sortie_id}/report/pdf", headers=inspector)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")

    # Another department's user does not learn the sortie exists.
    r = client.get(f"/api/sorties/{sortie_id}/report/html", headers=as_user(world, "zr"))
    assert r.status_code == 404
    assert client.get(f"/api/sorties/{sortie_id}/report/html").status_code == 401
    r = client.get(f"/api/sorties/{sortie_id}/report/docx", headers=inspector)
    assert r.status_code == 422


def test_missing_report_says_how_to_make_it(world: World, client: TestClient) -> None:
    sortie_id = _sortie(world)
    inspector = as_user(world, "insp")
    assert client.get(f"/api/sorties/{sortie_id}", headers=inspector).json()["reports"] == []
    r = client.get(f"/api/sorties/{sortie_id}/report/pdf", headers=inspector)
    assert r.status_code == 404 and "patrol sortie report" in r.text
    r = client.get("/api/sorties/S-none/report/pdf", headers=inspector)
    assert r.status_code == 404 and "not found" in r.text
