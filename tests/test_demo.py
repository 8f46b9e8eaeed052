"""`patrol demo` end to end, as a user runs it: a real subprocess, the real Mosquitto on
127.0.0.1:1883, real MAVLink over TCP to the built-in simulator, and a real database —
then we look at what landed in the case record and the audit log."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from patrol.services import free_port

PATROL = [sys.executable, "-m", "patrol.cli"]
REQUIRED_KEYS = {
    "flight_time_s",
    "distance_m",
    "frames",
    "detections",
    "evidence",
    "cases",
    "audit_entries",
    "database",
    "report_dir",
}


def run_patrol(
    home: Path, *args: str, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPATROL_")}
    environment.update({"FIELDPATROL_HOME": str(home), "COLUMNS": "120"}, **env)
    return subprocess.run(
        [*PATROL, *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def check_case_record(database_url: str, summary: dict[str, Any], home: Path) -> None:
    """What a reviewer would check: every evidence item is signed, complete and in a case."""
    from cases.models import CaseEvidence, Evidence, Media
    from gateway.devices import get_device
    from telemetry.contract import EvidenceMessage
    from telemetry.signing import verify

    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            evidence = list(session.execute(select(Evidence)).scalars())
            assert len(evidence) == summary["evidence"] >= 1
            for item in evidence:
                message = EvidenceMessage.model_validate_json(item.raw_json)
                assert message.id == item.id
                device = get_device(session, item.vehicle_id)
                assert device is not None, f"{item.vehicle_id} is not enrolled"
                verify(message, device.public_key)  # raises when the signature is bad
                assert message.media, "evidence must carry its frame"
                for ref in message.media:
                    media = session.get(Media, ref.sha256)
                    assert media is not None, f"media {ref.sha256} of {item.id} not stored"
                    path = Path(media.path)
                    if not path.is_absolute():
                        path = home / "media" / path
                    assert hashlib.sha256(path.read_bytes()).hexdigest() == ref.sha256
            linked = {
                link.evidence_id: link.case_id
                for link in session.execute(select(CaseEvidence)).scalars()
            }
            assert set(linked) == {e.id for e in evidence}, "every evidence item is in a case"
            assert len(set(linked.values())) == summary["cases"] >= 1
    finally:
        engine.dispose()


@pytest.mark.slow
def test_demo_end_to_end_on_sqlite(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = run_patrol(home, "demo", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert set(summary) >= REQUIRED_KEYS
    assert summary["evidence"] >= 1 and summary["cases"] >= 1
    assert summary["frames"] >= 20 and summary["detections"] >= summary["evidence"]
    assert summary["flight_time_s"] > 60 and summary["distance_m"] > 500
    # The detector found real planted violations, not noise.
    assert summary["planted_found"] >= 1
    assert summary["database"] == f"sqlite:///{home.resolve() / 'fieldpatrol.db'}"
    report_dir = Path(summary["report_dir"])
    assert report_dir.is_relative_to(home.resolve())
    for name in ("summary.json", "ground_truth.geojson", "plan.geojson", "track.geojson"):
        assert (report_dir / name).is_file(), name
    tlog = Path(summary["tlog"])
    assert hashlib.sha256(tlog.read_bytes()).hexdigest() == summary["tlog_sha256"]

    check_case_record(summary["database"], summary, home.resolve())

    verify = run_patrol(home, "audit", "verify", "--json", timeout=60)
    assert verify.returncode == 0, verify.stderr
    assert json.loads(verify.stdout)["ok"] is True
    assert summary["audit_entries"] >= 6 + summary["evidence"]


@pytest.mark.slow
def test_demo_on_postgresql(tmp_path: Path, postgres_database_url: str) -> None:
    home = tmp_path / "home"
    result = run_patrol(home, "demo", "--json", FIELDPATROL_DATABASE_URL=postgres_database_url)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["database"] == postgres_database_url
    assert not (home / "fieldpatrol.db").exists(), "nothing may go to SQLite when PG is named"
    check_case_record(postgres_database_url, summary, home.resolve())
    verify = run_patrol(home, "audit", "verify", FIELDPATROL_DATABASE_URL=postgres_database_url)
    assert verify.returncode == 0, verify.stderr


def _one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_demo_missing_site_file(tmp_path: Path) -> None:
    result = run_patrol(tmp_path / "home", "demo", "--site", str(tmp_path / "nope.geojson"))
    _one_line_error(result, "nope.geojson", "--site")


def test_demo_malformed_site_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    result = run_patrol(tmp_path / "home", "demo", "--site", str(bad))
    _one_line_error(result, "bad.geojson")


def test_demo_unreachable_broker_named_by_user(tmp_path: Path) -> None:
    port = free_port()
    result = run_patrol(
        tmp_path / "home", "demo", FIELDPATROL_MQTT_URL=f"mqtt://127.0.0.1:{port}", timeout=120
    )
    _one_line_error(result, f"127.0.0.1:{port}", "FIELDPATROL_MQTT_URL")


def test_demo_database_cannot_be_opened(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    url = f"sqlite:///{blocker}/sub/fieldpatrol.db"
    result = run_patrol(tmp_path / "home", "demo", FIELDPATROL_DATABASE_URL=url, timeout=120)
    _one_line_error(result, "FIELDPATROL_DATABASE_URL")


def test_malformed_broker_url(tmp_path: Path) -> None:
    result = run_patrol(tmp_path / "home", "doctor", FIELDPATROL_MQTT_URL="http://x:notaport")
    _one_line_error(result, "FIELDPATROL_MQTT_URL")
