"""Builders of realistic evidence records for the case-record tests."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

from cases.evidence import EvidenceRecord

# Shenyang, Hunnan district: the demo site's neighbourhood.
BASE_LON, BASE_LAT = 123.4500, 41.7300


def evidence_record(
    class_name: str = "illegal_construction",
    lon: float = BASE_LON,
    lat: float = BASE_LAT,
    captured_at: datetime | None = None,
    seq: int = 1,
    vehicle_id: str = "copter-1",
    evidence_id: str | None = None,
) -> EvidenceRecord:
    captured_at = captured_at or datetime(2026, 11, 2, 2, 30, tzinfo=UTC)
    media = hashlib.sha256(f"{evidence_id}{seq}{lon}{lat}".encode()).hexdigest()
    d = 0.0001
    footprint = {
        "type": "Polygon",
        "coordinates": [
            [
                [lon - d, lat - d],
                [lon + d, lat - d],
                [lon + d, lat + d],
                [lon - d, lat + d],
                [lon - d, lat - d],
            ]
        ],
    }
    rid = evidence_id or f"ev-{uuid.uuid4().hex[:12]}"
    raw = {"id": rid, "class_name": class_name, "lat": lat, "lon": lon}
    return EvidenceRecord(
        id=rid,
        device_seq=seq,
        vehicle_id=vehicle_id,
        site_id="hunnan-demo",
        mission_id="m-1",
        sortie_id="s-1",
        captured_at=captured_at,
        lat=lat,
        lon=lon,
        alt_agl_m=50.0,
        alt_amsl_m=92.5,
        class_name=class_name,
        confidence=0.87,
        box_px=[100, 120, 260, 300],
        footprint_geojson=footprint,
        media_sha256=[media],
        signature="ab" * 32,
        raw_json=json.dumps(raw, sort_keys=True),
    )
