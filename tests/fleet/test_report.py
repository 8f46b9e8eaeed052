"""The mission report of a real sortie (simulator over MAVLink, detector, signed evidence over the
machine's Mosquitto, PostgreSQL), made by `patrol sortie report` as a user runs it; its coverage
figure is checked against the simulator's own record of where each photo was taken."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import shapely
from shapely.geometry import Polygon
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.models import Sortie
from missions.site import load_site
from patrol.config import Settings
from patrol.coverage import survey_area
from patrol.ground import Ground
from patrol.sortie import SortieRun, SortieSpec, default_camera

from .conftest import field_site


def patrol(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPATROL_")}
    environment.update(FIELDPATROL_HOME=str(home), COLUMNS="120", **env)
    return subprocess.run(
        [sys.executable, "-m", "patrol.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ground_truth_coverage_pct(site: object, captures: list, alt_default: float) -> float:
    """Percent of the survey area inside the nadir footprints of the photos the simulated
    vehicle says it took (its own record, not the MAVLink stream): a rectangle footprint
    width (across track) by height (along track) centred under each, turned to its heading."""
    camera = default_camera()
    frame = site.frame  # type: ignore[attr-defined]
    polys = []
    for cap in captures:
        width, height = camera.footprint_m(cap.alt_agl_m or alt_default)
        x, y = frame.to_local(cap.lon, cap.lat)
        yaw = math.radians(cap.yaw_deg)
        fwd = (math.sin(yaw), math.cos(yaw))
        right = (math.cos(yaw), -math.sin(yaw))
        corners = [
            (
                x + sr * width / 2 * right[0] + sf * height / 2 * fwd[0],
                y + sr * width / 2 * right[1] + sf * height / 2 * fwd[1],
            )
            for sr, sf in ((-1, -1), (1, -1), (1, 1), (-1, 1))
        ]
        polys.append(Polygon(corners))
    area = survey_area(site)
    return 100.0 * shapely.union_all(polys).intersection(area).area / area.area


@pytest.mark.slow
def test_report_of_a_sortie_on_postgresql(
    tmp_path: Path,
    fieldpatrol_home: Path,
    postgres_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIELDPATROL_DATABASE_URL", postgres_database_url)
    site_path = field_site(tmp_path / "field.geojson", 260, 160)
    with Ground(Settings.load()) as ground:
        run = SortieRun(ground, SortieSpec(site=site_path, speedup=50.0, seed=3)).start()
        run.wait_status(("flying",), 60)
        # Called home half way: the report must show the half that was imaged, not the plan.
        half = run.result.leg_end_seqs[len(run.result.leg_end_seqs) // 2 - 1]
        assert run.simulator.wait_until(lambda v: v.current_seq > half, 60)
        run.abort("巡查中止 test")
        result = run.wait(120)
        truth_captures = list(run.simulator.vehicle.captures)
    assert result.status == "aborted", result.reason
    assert len(result.captures) == len(truth_captures) > 10, "every photo reached the ground"
    assert result.evidence_ids, "the planted world yields evidence"

    made = patrol(
        fieldpatrol_home,
        "sortie",
        "report",
        result.sortie_id,
        "--json",
        FIELDPATROL_DATABASE_URL=postgres_database_url,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    report = json.loads(made.stdout)

    site = load_site(site_path)
    truth = ground_truth_coverage_pct(site, truth_captures, 50.0)
    cov = report["coverage"]
    print(f"coverage: report {cov['imaged_pct']} %, simulator ground truth {truth:.2f} %")
    assert cov["imaged_pct"] == pytest.approx(truth, abs=0.5)
    assert cov["frames"] == len(truth_captures)
    assert cov["planned_pct"] > 95
    assert 25 < cov["imaged_pct"] < cov["planned_pct"] - 5, "called home before the end"

    files = {k: Path(v) for k, v in report["files"].items()}
    assert files["pdf"].read_bytes()[:5] == b"%PDF-"
    assert files["map"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = files["html"].read_text(encoding="utf-8")
    assert result.sortie_id in html and result.tlog_sha256 in html
    # Each evidence item is listed with its thumbnail and the case it joined.
    assert len(report["evidence"]) == len(result.evidence_ids)
    assert html.count("data:image/jpeg;base64,") == len(result.evidence_ids)
    assert all(e["cases"] for e in report["evidence"])
    assert report["tlog"]["verified"] is True
    assert report["tlog"]["sha256"] == hashlib.sha256(Path(result.tlog).read_bytes()).hexdigest()

    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(files["pdf"]).pages)
    assert result.sortie_id in text and "覆盖" in text

    # Linked from the cases it fed, and the sortie row carries the area imaged.
    with Ground(Settings.load()) as ground:
        ground.open_database()
        with ground.sessions() as session:
            linked = {
                e.subject
                for e in session.scalars(
                    select(AuditEntry).where(AuditEntry.action == "case.sortie_report")
                )
            }
            numbers = {c["number"] for e in report["evidence"] for c in e["cases"]}
            assert linked == {f"case:{n}" for n in numbers}
            row = session.get(Sortie, result.sortie_id)
            number = sorted(numbers)[0]
            assert row is not None and row.area_covered_m2 == pytest.approx(
                cov["imaged_m2"], rel=1e-3
            )
    shown = patrol(
        fieldpatrol_home, "case", "show", number, "--json",
        FIELDPATROL_DATABASE_URL=postgres_database_url,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert {"sortie_id": result.sortie_id, "html": str(files["html"])}.items() <= json.loads(
        shown.stdout
    )["sortie_reports"][0].items()


def test_unknown_sortie_vehicle_or_site_is_one_line(tmp_path: Path) -> None:
    result = patrol(tmp_path / "home", "sortie", "report", "S-nope")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "error: sortie 'S-nope' not found in the database; list the sorties with "
        "`patrol fleet status`"
    ]
    result = patrol(tmp_path / "home", "fleet", "status", "--vehicle", "uav-9")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: vehicle 'uav-9' is not known here")
    result = patrol(tmp_path / "home", "fleet", "survey", "--site", str(tmp_path / "no.geojson"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: site file {tmp_path / 'no.geojson'} not found")
