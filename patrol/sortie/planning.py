"""Where a sortie flies: its site and plan, its survey legs, a capture's ground footprint,
distances on the ground."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from patrol.sortie.model import PATTERNS, SortieError, SortieSpec


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(min(1.0, a)))


def load_site_arg(site: Any) -> Any:
    """A `Site` from a `Site` or a path to its GeoJSON file."""
    from missions.site import Site, load_site

    if isinstance(site, Site):
        return site
    return load_site(Path(site))


def plan_for(spec: SortieSpec, site: Any, camera: Any) -> Any:
    """The plan `spec` asks for (its own, or the pattern planned over the site)."""
    from missions.patterns import plan_perimeter
    from missions.survey import plan_survey

    if spec.plan is not None:
        return spec.plan
    if spec.pattern == "survey":
        if spec.vehicle_kind != "copter":
            raise SortieError(
                f"pattern survey: a {spec.vehicle_kind} cannot fly a survey; use pattern "
                "perimeter for a rover"
            )
        return plan_survey(site, camera, altitude_agl_m=spec.altitude_agl_m, **spec.plan_options)
    if spec.pattern == "perimeter":
        return plan_perimeter(
            site,
            vehicle=spec.vehicle_kind,
            altitude_agl_m=spec.altitude_agl_m,
            camera=camera,
            **spec.plan_options,
        )
    raise SortieError(f"pattern {spec.pattern!r} is not known; use one of {', '.join(PATTERNS)}")


def survey_leg_ends(items: list[Any]) -> list[int]:
    """The sequence number of each survey leg's end waypoint, in flying order.

    A survey leg is flown between a camera trigger on (DO_SET_CAM_TRIGG_DIST > 0) and the next
    waypoint (`missions.survey.build_survey`); once the vehicle reports that waypoint reached,
    the leg has been imaged."""
    from missions.items import MAV_CMD_DO_SET_CAM_TRIGG_DIST, MAV_CMD_NAV_WAYPOINT

    ends: list[int] = []
    mission = [i for i in items if i.mission_type == 0]
    for n, item in enumerate(mission):
        if item.command == MAV_CMD_DO_SET_CAM_TRIGG_DIST and item.param1 > 0:
            after = next((m for m in mission[n + 1 :] if m.command == MAV_CMD_NAV_WAYPOINT), None)
            if after is not None:
                ends.append(int(after.seq))
    return ends


def capture_footprint(pose: Any, camera: Any) -> list[list[float]] | None:
    """The whole frame's ground footprint (closed lon/lat ring) at `pose`; None below ground."""
    from vision.detector import Box
    from vision.georef import GeorefError, box_footprint

    box = Box("frame", 1.0, 0.0, 0.0, float(camera.image_width_px), float(camera.image_height_px))
    try:
        fix = box_footprint(box, pose, camera)
    except GeorefError:
        return None
    return [[lon, lat] for lon, lat in fix.footprint]
