"""Fence and rally items, and safe simplification to ArduPilot's 70-vertex limit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon

from missions.fence import fence_items, polygons_from_fence, rally_items
from missions.items import (
    MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
    MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
    MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
    MAV_CMD_NAV_FENCE_RETURN_POINT,
    MAV_CMD_NAV_RALLY_POINT,
)
from missions.simplify import simplify_polygon
from missions.site import site_from_geojson

from .conftest import site_geojson


def test_fence_items_for_site(u_site: dict[str, Any]) -> None:
    site = site_from_geojson(u_site)
    items = fence_items(site)
    assert all(it.mission_type == 1 for it in items)
    assert [it.seq for it in items] == list(range(len(items)))
    assert items[0].command == MAV_CMD_NAV_FENCE_RETURN_POINT
    inc = [it for it in items if it.command == MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION]
    exc = [it for it in items if it.command == MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION]
    circ = [it for it in items if it.command == MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION]
    assert len(inc) == 8 and all(it.param1 == 8 for it in inc)  # the U has 8 corners
    assert len(exc) == 4 and all(it.param1 == 4 for it in exc)
    assert len(circ) == 1 and circ[0].param1 == 25
    inclusions, exclusions, circles = polygons_from_fence(items)
    # Same polygon up to the wire's 1e-7 degree rounding (about 1 cm).
    local = site.frame.geom_to_local(Polygon(inclusions[0]))
    assert local.hausdorff_distance(site.local_keep_in) < 0.02
    assert len(exclusions) == 1 and len(circles) == 1
    rally = rally_items(site, 60)
    assert len(rally) == 1 and rally[0].command == MAV_CMD_NAV_RALLY_POINT
    assert rally[0].mission_type == 2 and rally[0].alt_m == 60


def _wiggly(n: int, r: float = 300.0) -> Polygon:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rad = r * (1 + 0.15 * np.sin(7 * t) + 0.05 * np.cos(23 * t))
    return Polygon(np.column_stack([rad * np.cos(t), rad * np.sin(t)]))


@pytest.mark.parametrize("n", [71, 200, 1000])
def test_simplify_exclusion_only_grows(n: int) -> None:
    poly = _wiggly(n)
    out = simplify_polygon(poly, 70, grow=True)
    assert len(out.exterior.coords) - 1 <= 70
    assert out.covers(poly)
    assert out.area < poly.area * 1.15  # not a crude bounding box


@pytest.mark.parametrize("n", [71, 200, 1000])
def test_simplify_inclusion_only_shrinks(n: int) -> None:
    poly = _wiggly(n)
    out = simplify_polygon(poly, 70, grow=False)
    assert len(out.exterior.coords) - 1 <= 70
    assert poly.covers(out)
    assert out.area > poly.area * 0.85


def test_big_site_fence_respects_limit() -> None:
    keep = Point(0, 0).buffer(800, quad_segs=64)  # 256 vertices
    excl = Point(300, 0).buffer(100, quad_segs=40)
    site = site_from_geojson(site_geojson(keep, [excl], launch=(-300, 0)))
    items = fence_items(site)
    inclusions, exclusions, _ = polygons_from_fence(items)
    assert len(inclusions[0]) <= 70 and len(exclusions[0]) <= 70
    local_inc = site.frame.geom_to_local(Polygon(inclusions[0]))
    local_exc = site.frame.geom_to_local(Polygon(exclusions[0]))
    assert site.local_keep_in.buffer(0.01).covers(local_inc)
    assert local_exc.buffer(0.01).covers(site.local_exclusions[0])


def test_plan_stays_inside_simplified_fence() -> None:
    """A keep-in outline too detailed for 70 fence points: the fence shrinks it, and the plan
    is made inside what the vehicle will enforce, not the finer outline."""
    from missions.camera import CameraModel
    from missions.survey import plan_survey

    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    rad = 300 * (1 + 0.08 * np.sin(37 * t))
    keep = Polygon(np.column_stack([rad * np.cos(t), rad * np.sin(t)]))
    site = site_from_geojson(site_geojson(keep, launch=(0, 0)))
    plan = plan_survey(site, CameraModel.default(), margin_m=2.0, enforce_endurance=False)
    inclusions, _, _ = polygons_from_fence(plan.fence)
    assert len(inclusions[0]) <= 70
    fence = site.frame.geom_to_local(Polygon(inclusions[0]))
    path = site.frame.geom_to_local(shapely.LineString(plan.path_lonlat))
    assert fence.buffer(0.05).covers(path)
    assert plan.estimates.coverage_pct >= 99.0
