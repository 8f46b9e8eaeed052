"""Fence (mission_type 1) and rally (mission_type 2) items for a site.

ArduPilot stores at most 70 points per polygon fence, so larger polygons are simplified
*safely*: an inclusion polygon may only shrink (the result lies inside the original) and an
exclusion polygon may only grow (the result contains the original), never the other way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon

from missions.errors import PlanError
from missions.items import (
    MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
    MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
    MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
    MAV_CMD_NAV_FENCE_RETURN_POINT,
    MAV_CMD_NAV_RALLY_POINT,
    MAV_FRAME_GLOBAL,
    MAV_FRAME_GLOBAL_RELATIVE_ALT,
    MAV_MISSION_TYPE_FENCE,
    MAV_MISSION_TYPE_RALLY,
    MissionItem,
    make_item,
    renumber,
)
from missions.simplify import MAX_FENCE_VERTICES
from missions.site import Site


def fence_polygons(
    site: Site, max_vertices: int = MAX_FENCE_VERTICES
) -> tuple[list[Polygon], list[Polygon], list[tuple[float, float, float]]]:
    """(inclusions, exclusion polygons, exclusion circles (lon, lat, radius)) in lon/lat."""
    frame = site.frame
    inclusions = [frame.geom_to_wgs84(p) for p in site.fence_keep_in_parts(max_vertices)]
    excl_polys: list[Polygon] = []
    circles: list[tuple[float, float, float]] = []
    for i in range(len(site.local_exclusions)):
        info = site.exclusion_info[i] if i < len(site.exclusion_info) else None
        if info is not None and info.kind == "circle" and info.center and info.radius_m:
            circles.append((info.center[0], info.center[1], info.radius_m))
            continue
        excl_polys.append(frame.geom_to_wgs84(site.fence_exclusion(i, max_vertices)))
    return inclusions, excl_polys, circles


def _ring_lonlat(poly: Polygon) -> np.ndarray:
    poly = shapely.orient_polygons(poly)
    return np.asarray(poly.exterior.coords)[:-1]


def fence_items(
    site: Site, max_vertices: int = MAX_FENCE_VERTICES, return_point: bool = True
) -> list[MissionItem]:
    """Fence items: return point, inclusion polygon(s), exclusion polygons and circles."""
    inclusions, excl_polys, circles = fence_polygons(site, max_vertices)
    out: list[MissionItem] = []
    kw: dict[str, Any] = {"frame": MAV_FRAME_GLOBAL, "mission_type": MAV_MISSION_TYPE_FENCE}
    if return_point:
        out.append(
            make_item(MAV_CMD_NAV_FENCE_RETURN_POINT, site.launch[0], site.launch[1], 0.0, **kw)
        )
    for poly in inclusions:
        ring = _ring_lonlat(poly)
        out.extend(
            make_item(
                MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                lon,
                lat,
                0.0,
                params=(float(len(ring)), 0.0, 0.0, 0.0),
                **kw,
            )
            for lon, lat in ring.tolist()
        )
    for poly in excl_polys:
        ring = _ring_lonlat(poly)
        out.extend(
            make_item(
                MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
                lon,
                lat,
                0.0,
                params=(float(len(ring)), 0.0, 0.0, 0.0),
                **kw,
            )
            for lon, lat in ring.tolist()
        )
    for lon, lat, radius in circles:
        out.append(
            make_item(
                MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
                lon,
                lat,
                0.0,
                params=(radius, 0.0, 0.0, 0.0),
                **kw,
            )
        )
    return renumber(out)


def rally_items(site: Site, altitude_agl_m: float) -> list[MissionItem]:
    """One MAV_CMD_NAV_RALLY_POINT per rally point, at the plan's altitude above launch."""
    return renumber(
        [
            make_item(
                MAV_CMD_NAV_RALLY_POINT,
                lon,
                lat,
                altitude_agl_m,
                frame=MAV_FRAME_GLOBAL_RELATIVE_ALT,
                mission_type=MAV_MISSION_TYPE_RALLY,
            )
            for lon, lat in site.rally
        ]
    )


def polygons_from_fence(
    items: list[MissionItem],
) -> tuple[list[list[tuple[float, float]]], list[list[tuple[float, float]]], list[tuple]]:
    """Group fence items back into (inclusion rings, exclusion rings, circles) in lon/lat."""
    inclusions: list[list[tuple[float, float]]] = []
    exclusions: list[list[tuple[float, float]]] = []
    circles: list[tuple[float, float, float, bool]] = []
    i = 0
    while i < len(items):
        it = items[i]
        if it.command in (
            MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
        ):
            n = int(it.param1)
            if n < 3 or i + n > len(items):
                raise PlanError(f"fence item {it.seq}: vertex count param1={it.param1} is wrong")
            ring = [(x.lon_deg, x.lat_deg) for x in items[i : i + n]]
            if it.command == MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION:
                inclusions.append(ring)
            else:
                exclusions.append(ring)
            i += n
            continue
        if it.command in (MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION, 5003):
            circles.append((it.lon_deg, it.lat_deg, it.param1, it.command == 5003))
        i += 1
    return inclusions, exclusions, circles
