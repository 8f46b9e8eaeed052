"""Independent re-derivations used by the tests (not the planner's own code)."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon

from missions.items import (
    MAV_CMD_DO_SET_CAM_TRIGG_DIST,
    MAV_CMD_NAV_RETURN_TO_LAUNCH,
    MAV_CMD_NAV_WAYPOINT,
    MissionItem,
)
from missions.site import Site


def flown_path(site: Site, items: list[MissionItem]) -> np.ndarray:
    """Local xy of home, each waypoint, and home again on RTL."""
    frame = site.frame
    pts = [frame.to_local(items[0].lon_deg, items[0].lat_deg)]
    for it in items[1:]:
        if it.command == MAV_CMD_NAV_WAYPOINT:
            pts.append(frame.to_local(it.lon_deg, it.lat_deg))
        elif it.command == MAV_CMD_NAV_RETURN_TO_LAUNCH:
            pts.append(pts[0])
    return np.asarray(pts, dtype=float)


def allowed(site: Site, margin: float = 0.0) -> Polygon | MultiPolygon:
    keep = site.local_keep_in.buffer(-margin)
    for ex in site.local_exclusions:
        keep = keep.difference(ex.buffer(margin))
    return keep


def photo_legs(site: Site, items: list[MissionItem]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Legs flown with the distance trigger on (from the items alone)."""
    frame = site.frame
    pos = np.asarray(frame.to_local(items[0].lon_deg, items[0].lat_deg))
    on = False
    out = []
    for it in items[1:]:
        if it.command == MAV_CMD_DO_SET_CAM_TRIGG_DIST:
            on = it.param1 > 0
        elif it.command == MAV_CMD_NAV_WAYPOINT:
            nxt = np.asarray(frame.to_local(it.lon_deg, it.lat_deg))
            if on:
                out.append((pos, nxt))
            pos = nxt
    return out


def coverage_pct(
    site: Site, items: list[MissionItem], width: float, height: float, margin: float
) -> float:
    """Share of keep-in minus exclusions minus the margin band imaged by the photos."""
    area = allowed(site, margin)
    bands = []
    for a, b in photo_legs(site, items):
        d = b - a
        n = float(np.hypot(*d))
        u = d / n if n > 0 else np.array([1.0, 0.0])
        line = LineString([a - u * height / 2, b + u * height / 2])
        bands.append(line.buffer(width / 2, cap_style="flat"))
    covered = shapely.union_all(bands)
    return 100.0 * covered.intersection(area).area / area.area


def in_site_frame(site: Site, geom: shapely.Geometry) -> shapely.Geometry:
    """A geometry drawn in the tests' ORIGIN frame, expressed in the site's own frame."""
    from missions.frame import LocalFrame

    from .conftest import ORIGIN

    return site.frame.geom_to_local(LocalFrame(*ORIGIN).geom_to_wgs84(geom))
