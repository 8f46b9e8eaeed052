"""Geofence of the simulated vehicle: uploaded polygons and circles, home circle, altitude limits.

As in ArduPilot (AC_Fence), the vehicle must stay inside every inclusion polygon and circle and
outside every exclusion polygon and circle; FENCE_TYPE selects which fences count (1 max altitude,
2 circle around home of FENCE_RADIUS, 4 polygons and circles uploaded, 8 min altitude).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from simulators.vehicle.geo import LocalPlane, point_in_polygon
from simulators.vehicle.items import StoredItem

TYPE_ALT_MAX = 1
TYPE_CIRCLE = 2
TYPE_POLYGON = 4
TYPE_ALT_MIN = 8

BREACH_NONE = mavlink2.FENCE_BREACH_NONE
BREACH_MINALT = mavlink2.FENCE_BREACH_MINALT
BREACH_MAXALT = mavlink2.FENCE_BREACH_MAXALT
BREACH_BOUNDARY = mavlink2.FENCE_BREACH_BOUNDARY


@dataclass
class FenceGeometry:
    """Uploaded fences in local metres (north, east)."""

    inclusion_polygons: list[list[tuple[float, float]]] = field(default_factory=list)
    exclusion_polygons: list[list[tuple[float, float]]] = field(default_factory=list)
    inclusion_circles: list[tuple[float, float, float]] = field(default_factory=list)
    exclusion_circles: list[tuple[float, float, float]] = field(default_factory=list)
    return_point: tuple[float, float] | None = None

    @property
    def has_polygon(self) -> bool:
        return bool(
            self.inclusion_polygons
            or self.exclusion_polygons
            or self.inclusion_circles
            or self.exclusion_circles
        )

    @classmethod
    def from_items(cls, items: list[StoredItem], plane: LocalPlane) -> FenceGeometry:
        geom = cls()
        r = mavlink2
        i = 0
        while i < len(items):
            item = items[i]
            if item.command in (
                r.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                r.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
            ):
                count = max(1, int(item.param1))
                poly = [plane.to_ne(v.lat, v.lon) for v in items[i : i + count]]
                if item.command == r.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION:
                    geom.inclusion_polygons.append(poly)
                else:
                    geom.exclusion_polygons.append(poly)
                i += count
                continue
            n, e = plane.to_ne(item.lat, item.lon)
            if item.command == r.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION:
                geom.inclusion_circles.append((n, e, item.param1))
            elif item.command == r.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION:
                geom.exclusion_circles.append((n, e, item.param1))
            elif item.command == r.MAV_CMD_NAV_FENCE_RETURN_POINT:
                geom.return_point = (n, e)
            i += 1
        return geom

    def outside_boundary(self, n: float, e: float) -> bool:
        """True when (n, e) is outside an inclusion fence or inside an exclusion fence."""
        for poly in self.inclusion_polygons:
            if not point_in_polygon(n, e, poly):
                return True
        for cn, ce, radius in self.inclusion_circles:
            if math.hypot(n - cn, e - ce) > radius:
                return True
        for poly in self.exclusion_polygons:
            if point_in_polygon(n, e, poly):
                return True
        return any(math.hypot(n - cn, e - ce) < r for cn, ce, r in self.exclusion_circles)


def check_breach(
    geom: FenceGeometry,
    fence_type: int,
    n: float,
    e: float,
    alt_rel_m: float,
    home_ne: tuple[float, float],
    radius_m: float,
    alt_max_m: float,
    alt_min_m: float,
) -> int:
    """The FENCE_BREACH type of the position, or BREACH_NONE (boundary wins over altitude)."""
    if fence_type & TYPE_POLYGON and geom.outside_boundary(n, e):
        return BREACH_BOUNDARY
    if fence_type & TYPE_CIRCLE and math.hypot(n - home_ne[0], e - home_ne[1]) > radius_m:
        return BREACH_BOUNDARY
    if fence_type & TYPE_ALT_MAX and alt_rel_m > alt_max_m:
        return BREACH_MAXALT
    if fence_type & TYPE_ALT_MIN and alt_rel_m < alt_min_m:
        return BREACH_MINALT
    return BREACH_NONE
