"""Coverage of a sortie: the ground its camera actually imaged, against what its plan meant to.

Everything is measured in the site's local metric frame (`missions.frame.LocalFrame`, centred
on the launch point) with Shapely 2:

- the survey area: the site's keep-in area minus exclusions, shrunk by the plan's safety
  margin (`missions.site.allowed_area`), i.e. what a survey of the site is meant to image;
- planned: the bands the plan photographs, one per stretch flown with the camera trigger on
  (DO_SET_CAM_TRIGG_DIST > 0 until = 0), `footprint width` wide and extended half a footprint
  height at both ends (the first and last photo reach that far);
- imaged: the union of the ground footprints of the frames actually taken, each projected from
  the pose the vehicle reported in CAMERA_FEEDBACK (`patrol.sortie.capture_footprint`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from missions.items import MAV_CMD_DO_SET_CAM_TRIGG_DIST, MAV_CMD_NAV_WAYPOINT


@dataclass(frozen=True)
class Coverage:
    """Areas in m², percentages of the survey area (and imaged of planned)."""

    survey_area_m2: float
    planned_m2: float
    imaged_m2: float
    imaged_in_plan_m2: float
    planned_pct: float
    imaged_pct: float
    imaged_of_planned_pct: float
    frames: int

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def triggered_paths(items: list[Any]) -> list[list[tuple[float, float]]]:
    """The (lon, lat) polylines flown with the distance trigger on, in mission order."""
    paths: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] | None = None
    last_wp: tuple[float, float] | None = None
    for item in items:
        if item.mission_type != 0:
            continue
        if item.command == MAV_CMD_NAV_WAYPOINT and item.has_position and item.seq > 0:
            last_wp = (item.lon_deg, item.lat_deg)
            if current is not None:
                current.append(last_wp)
        elif item.command == MAV_CMD_DO_SET_CAM_TRIGG_DIST:
            if current is not None and len(current) >= 2:
                paths.append(current)
            current = [last_wp] if item.param1 > 0 and last_wp is not None else None
    if current is not None and len(current) >= 2:
        paths.append(current)
    return paths


def _extended(xy: np.ndarray, by: float) -> np.ndarray:
    """The polyline with its first and last segments lengthened by `by` metres."""
    out = xy.copy()
    for end, nxt in ((0, 1), (-1, -2)):
        d = out[end] - out[nxt]
        n = float(np.hypot(*d))
        if n > 0:
            out[end] = out[end] + d / n * by
    return out


def planned_bands(site: Any, items: list[Any], width_m: float, height_m: float) -> Any:
    """Union of the bands the plan photographs (local metres)."""
    frame = site.frame
    bands = []
    for path in triggered_paths(items):
        lon, lat = np.asarray(path).T
        x, y = frame.to_local(lon, lat)
        xy = np.column_stack([x, y])
        if len(xy) < 2 or float(np.hypot(*np.diff(xy, axis=0).T).sum()) == 0.0:
            continue
        line = LineString(_extended(xy, height_m / 2.0))
        bands.append(line.buffer(width_m / 2.0, cap_style="flat", join_style="mitre"))
    return shapely.union_all(bands) if bands else Polygon()


def imaged_union(site: Any, footprints: list[list[list[float]]]) -> Any:
    """Union of the frames' ground footprints (closed lon/lat rings) in local metres."""
    frame = site.frame
    polys = []
    for ring in footprints:
        if len(ring) < 4:
            continue
        lon, lat = np.asarray(ring, dtype=np.float64).T
        x, y = frame.to_local(lon, lat)
        poly = Polygon(np.column_stack([x, y]))
        if poly.is_valid and poly.area > 0:
            polys.append(poly)
    return shapely.union_all(polys) if polys else Polygon()


def survey_area(site: Any, margin_m: float = 5.0) -> Any:
    from missions.site import allowed_area

    return allowed_area(site, margin_m)


def compute_coverage(
    site: Any,
    items: list[Any],
    footprints: list[list[list[float]]],
    camera: Any,
    altitude_agl_m: float,
    margin_m: float = 5.0,
) -> tuple[Coverage, dict[str, Any]]:
    """The coverage figures, and the geometries (local metres) for the map."""
    area = survey_area(site, margin_m)
    width, height = camera.footprint_m(altitude_agl_m)
    planned = planned_bands(site, items, width, height).intersection(area)
    imaged = imaged_union(site, footprints).intersection(area)
    both = imaged.intersection(planned)
    total = float(area.area) or 1.0
    cov = Coverage(
        survey_area_m2=float(area.area),
        planned_m2=float(planned.area),
        imaged_m2=float(imaged.area),
        imaged_in_plan_m2=float(both.area),
        planned_pct=100.0 * float(planned.area) / total,
        imaged_pct=100.0 * float(imaged.area) / total,
        imaged_of_planned_pct=(
            100.0 * float(both.area) / float(planned.area) if planned.area > 0 else 0.0
        ),
        frames=sum(1 for f in footprints if len(f) >= 4),
    )
    return cov, {"area": area, "planned": planned, "imaged": imaged}


__all__ = [
    "Coverage",
    "compute_coverage",
    "imaged_union",
    "planned_bands",
    "survey_area",
    "triggered_paths",
]
