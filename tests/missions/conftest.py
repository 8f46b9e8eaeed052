"""Shared builders for missions tests: sites drawn in local metres around a fixed origin."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Polygon, mapping

from missions.frame import LocalFrame

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SITES = sorted(
    p for p in (ROOT / "examples" / "sites").iterdir() if p.suffix in (".geojson", ".kml")
)
ORIGIN = (116.3975, 39.9087)  # lon, lat


def ll(frame: LocalFrame, x: float, y: float) -> list[float]:
    lon, lat = frame.to_wgs84(x, y)
    return [float(lon), float(lat)]


def poly_ll(frame: LocalFrame, poly: Polygon) -> dict[str, Any]:
    return dict(mapping(frame.geom_to_wgs84(poly)))


def site_geojson(
    keep_in: Polygon,
    exclusions: list[Polygon] = (),  # type: ignore[assignment]
    circles: list[tuple[float, float, float]] = (),  # type: ignore[assignment]
    launch: tuple[float, float] = (0.0, 0.0),
    rally: list[tuple[float, float]] = (),  # type: ignore[assignment]
    min_alt: float = 0,
    max_alt: float = 120,
    name: str = "test site",
) -> dict[str, Any]:
    """A site FeatureCollection from local-metre geometry (origin = ORIGIN)."""
    frame = LocalFrame(*ORIGIN)
    feats: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "properties": {"role": "keep_in", "min_alt_m": min_alt, "max_alt_m": max_alt},
            "geometry": poly_ll(frame, keep_in),
        }
    ]
    for i, ex in enumerate(exclusions):
        feats.append(
            {
                "type": "Feature",
                "properties": {"role": "exclusion", "name": f"zone {i}"},
                "geometry": poly_ll(frame, ex),
            }
        )
    for i, (x, y, r) in enumerate(circles):
        feats.append(
            {
                "type": "Feature",
                "properties": {"role": "exclusion", "name": f"circle {i}", "radius_m": r},
                "geometry": {"type": "Point", "coordinates": ll(frame, x, y)},
            }
        )
    feats.append(
        {
            "type": "Feature",
            "properties": {"role": "launch"},
            "geometry": {"type": "Point", "coordinates": ll(frame, *launch)},
        }
    )
    for p in rally:
        feats.append(
            {
                "type": "Feature",
                "properties": {"role": "rally"},
                "geometry": {"type": "Point", "coordinates": ll(frame, *p)},
            }
        )
    return {"type": "FeatureCollection", "properties": {"name": name}, "features": feats}


def rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return Polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def star(n: int, radii: list[float], cx: float = 0.0, cy: float = 0.0) -> Polygon:
    pts = [
        (cx + r * math.cos(2 * math.pi * k / n), cy + r * math.sin(2 * math.pi * k / n))
        for k, r in enumerate(radii)
    ]
    return Polygon(pts)


@pytest.fixture
def u_site() -> dict[str, Any]:
    """A U-shaped (concave) 600 x 400 m site with a square hole in one arm."""
    keep = rect(-300, -200, 300, 200).difference(rect(-100, -50, 100, 200))
    assert isinstance(keep, Polygon)
    return site_geojson(
        keep,
        exclusions=[rect(-250, 0, -180, 80)],
        circles=[(200, 100, 25)],
        launch=(0, -150),
        rally=[(250, -150)],
    )
