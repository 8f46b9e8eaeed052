"""Flat-earth conversions between WGS84 and the simulator's local north/east metres.

A simulated flight spans a few kilometres, where a local tangent plane at the origin is exact to
centimetres; this keeps the fixed-step loop free of projection libraries.
"""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6378137.0
_DEG = math.pi / 180.0


class LocalPlane:
    """Local tangent plane at (lat0, lon0): metres north and east of the origin."""

    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0 = lat0
        self.lon0 = lon0
        self._m_per_deg_lat = EARTH_RADIUS_M * _DEG
        self._m_per_deg_lon = EARTH_RADIUS_M * _DEG * math.cos(lat0 * _DEG)

    def to_ne(self, lat: float, lon: float) -> tuple[float, float]:
        return (
            (lat - self.lat0) * self._m_per_deg_lat,
            (lon - self.lon0) * self._m_per_deg_lon,
        )

    def to_latlon(self, north: float, east: float) -> tuple[float, float]:
        return (
            self.lat0 + north / self._m_per_deg_lat,
            self.lon0 + east / self._m_per_deg_lon,
        )


def wrap_360(deg: float) -> float:
    return deg % 360.0


def wrap_180(deg: float) -> float:
    d = (deg + 180.0) % 360.0 - 180.0
    return d


def bearing_deg(dn: float, de: float) -> float:
    """Compass bearing (0 = north, clockwise) of the vector (dn, de)."""
    return wrap_360(math.degrees(math.atan2(de, dn)))


def point_in_polygon(n: float, e: float, poly: list[tuple[float, float]]) -> bool:
    """Ray casting in local metres; `poly` is a list of (north, east) vertices, not closed."""
    inside = False
    j = len(poly) - 1
    for i in range(len(poly)):
        ni, ei = poly[i]
        nj, ej = poly[j]
        if (ei > e) != (ej > e):
            n_cross = ni + (e - ei) * (nj - ni) / (ej - ei)
            if n < n_cross:
                inside = not inside
        j = i
    return inside
