"""Fixtures of the fleet and mission-report tests: a small rectangular field (short flights at
a speed-up) with a unique id, and a started `Ground` on a fresh data directory."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from missions.frame import LocalFrame
from patrol.config import Settings
from patrol.ground import Ground


def field_site(path: Path, width_m: float, height_m: float) -> Path:
    """A width x height metre field near Shenyang, launch 5 m inside its south-west corner."""
    frame = LocalFrame(123.40, 41.70)

    def lonlat(x: float, y: float) -> list[float]:
        lon, lat = frame.to_wgs84(x, y)
        return [round(float(lon), 8), round(float(lat), 8)]

    ring = [lonlat(0, 0), lonlat(width_m, 0), lonlat(width_m, height_m), lonlat(0, height_m)]
    site = {
        "type": "FeatureCollection",
        "properties": {"name": "测试农田", "id": f"field-{uuid.uuid4().hex[:8]}"},
        "features": [
            {
                "type": "Feature",
                "properties": {"role": "keep_in", "min_alt_m": 0, "max_alt_m": 120},
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
            },
            {
                "type": "Feature",
                "properties": {"role": "launch"},
                "geometry": {"type": "Point", "coordinates": lonlat(5, 5)},
            },
        ],
    }
    path.write_text(json.dumps(site, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def ground(fieldpatrol_home: Path) -> Iterator[Ground]:
    """A started ground (SQLite under the home, the machine's Mosquitto)."""
    with Ground(Settings.load()) as started:
        yield started
