"""Fence geometry of the simulator against Shapely, and the fence types ArduPilot combines."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from pymavlink.dialects.v20 import ardupilotmega as M
from shapely.geometry import Point, Polygon

from simulators.vehicle.fence import (
    BREACH_BOUNDARY,
    BREACH_MAXALT,
    BREACH_MINALT,
    BREACH_NONE,
    FenceGeometry,
    check_breach,
)
from simulators.vehicle.geo import LocalPlane, point_in_polygon
from simulators.vehicle.items import FENCE, StoredItem, validate_fence

PLANE = LocalPlane(41.7, 123.4)


def star(n: int, radii: list[float], phase: float) -> list[tuple[float, float]]:
    """A star-shaped (so simple, possibly concave) polygon round the origin."""
    return [
        (r * math.cos(phase + 2 * math.pi * i / n), r * math.sin(phase + 2 * math.pi * i / n))
        for i, r in enumerate(radii)
    ]


@settings(max_examples=60, deadline=None)
@given(
    radii=st.lists(st.floats(20, 400), min_size=3, max_size=12),
    phase=st.floats(0, 6.28),
    px=st.floats(-450, 450),
    py=st.floats(-450, 450),
)
def test_point_in_polygon_agrees_with_shapely(
    radii: list[float], phase: float, px: float, py: float
) -> None:
    poly = star(len(radii), radii, phase)
    shape = Polygon(poly)
    if shape.exterior.distance(Point(px, py)) < 1e-6:
        return  # on the boundary either answer is right
    assert point_in_polygon(px, py, poly) == shape.contains(Point(px, py))


def vertex_items(command: int, ne: list[tuple[float, float]], start: int = 0) -> list[StoredItem]:
    out = []
    for i, (n, e) in enumerate(ne):
        lat, lon = PLANE.to_latlon(n, e)
        x, y = round(lat * 1e7), round(lon * 1e7)
        out.append(StoredItem(start + i, 0, command, 0, 1, len(ne), 0, 0, 0, x, y, 0, FENCE))
    return out


def circle_item(seq: int, command: int, n: float, e: float, radius: float) -> StoredItem:
    lat, lon = PLANE.to_latlon(n, e)
    return StoredItem(
        seq, M.MAV_FRAME_GLOBAL, command, 0, 1, radius, 0, 0, 0,
        round(lat * 1e7), round(lon * 1e7), 0, FENCE,
    )  # fmt: skip


def test_inclusion_exclusion_polygons_and_circles_combine() -> None:
    square = [(-100, -100), (-100, 100), (100, 100), (100, -100)]
    hole = [(-10, -10), (-10, 10), (10, 10), (10, -10)]
    items = vertex_items(M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, square)
    items += vertex_items(M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION, hole, start=4)
    items.append(circle_item(8, M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION, 50, 50, 15))
    items.append(circle_item(9, M.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION, 0, 0, 120))
    assert validate_fence(items) == M.MAV_MISSION_ACCEPTED
    geom = FenceGeometry.from_items(items, PLANE)
    assert len(geom.inclusion_polygons) == 1 and len(geom.exclusion_polygons) == 1
    cases = {
        (50, -50): False,  # inside everything allowed
        (0, 0): True,  # in the exclusion square
        (50, 55): True,  # in the exclusion circle
        (150, 0): True,  # outside the inclusion square
        (95, 95): True,  # in the square but outside the 120 m inclusion circle
    }
    for (n, e), outside in cases.items():
        assert geom.outside_boundary(n, e) is outside, (n, e)


def test_fence_type_bits_select_the_checks() -> None:
    geom = FenceGeometry()  # nothing uploaded
    home = (0.0, 0.0)

    def breach(fence_type: int, n: float, alt: float) -> int:
        return check_breach(geom, fence_type, n, 0, alt, home, 300, 100, 5)

    assert breach(1, 0, 120) == BREACH_MAXALT
    assert breach(1, 500, 50) == BREACH_NONE  # circle not enabled
    assert breach(2, 500, 50) == BREACH_BOUNDARY  # FENCE_RADIUS 300 round home
    assert breach(8, 0, 2) == BREACH_MINALT
    assert breach(7, 0, 50) == BREACH_NONE


def test_polygon_groups_must_be_complete() -> None:
    square = [(-1, -1), (-1, 1), (1, 1), (1, -1)]
    items = vertex_items(M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, square)
    assert validate_fence(items[:3]) == M.MAV_MISSION_INVALID_PARAM1
    mixed = items[:2] + vertex_items(M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION, square)[2:]
    assert validate_fence(mixed) == M.MAV_MISSION_INVALID_PARAM1
