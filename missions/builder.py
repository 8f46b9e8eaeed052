"""Shared plumbing of the planners: routing with fallbacks, and turning a local-metre path
plus camera commands into mission items, a lon/lat track, estimates and a checked plan."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from missions.check import check_mission
from missions.errors import PlanError
from missions.fence import MAX_FENCE_VERTICES, fence_items, rally_items
from missions.items import (
    MAV_CMD_DO_CHANGE_SPEED,
    MAV_CMD_DO_SET_CAM_TRIGG_DIST,
    MAV_CMD_IMAGE_START_CAPTURE,
    MAV_CMD_NAV_WAYPOINT,
    MAV_FRAME_MISSION,
    MissionItem,
    make_item,
)
from missions.plan import (
    MissionPlan,
    VehicleProfile,
    build_items,
    check_endurance,
    estimate,
    waypoint,
)
from missions.routing import Router
from missions.site import Site, allowed_area

Pt = tuple[float, float]


class RouteSet:
    """Routes inside the margin-shrunk area first; if the margin splits the area, falls back
    to half the margin, then to the bare allowed area (keep-in minus exclusions)."""

    def __init__(self, site: Site, margin_m: float, first: Polygon | MultiPolygon | None = None):
        area = first if first is not None else allowed_area(site, margin_m)
        if area.is_empty or area.area < 1.0:
            raise PlanError(
                f"margin_m={margin_m}: nothing is left to fly after the exclusion zones and the "
                "safety margin; lower margin_m or enlarge the keep-in area"
            )
        self.warnings: list[str] = []
        #: Everything that should be flown, reachable or not (coverage is measured on it).
        self.full_area = area
        area = self._reachable(site, area)
        inset = min(0.5, max(margin_m * 0.1, 0.05))
        self.area = area
        self.primary = Router(area, inset)
        self._site, self._margin, self._inset = site, margin_m, inset
        self._fallbacks: list[Router] | None = None

    def _reachable(self, site: Site, area: Polygon | MultiPolygon) -> Polygon | MultiPolygon:
        """Only the part of the area connected to the launch point inside keep-in minus
        exclusions: a vehicle cannot legally get anywhere else."""
        import shapely
        from shapely.geometry import Point

        parts = list(shapely.get_parts(site.local_allowed))
        if len(parts) <= 1:
            return area
        launch = Point(0.0, 0.0)
        home = min(parts, key=lambda p: p.distance(launch))
        kept = area.intersection(home)
        lost = area.area - kept.area
        if lost > 1.0:
            self.warnings.append(
                f"{lost:.0f} m² of the area is cut off from the launch point by exclusion zones "
                "and is not planned; give it its own site with its own launch point"
            )
        polys = [g for g in shapely.get_parts(kept) if isinstance(g, Polygon) and g.area > 1e-6]
        if not polys:
            raise PlanError("site: nothing reachable from the launch point is left to fly")
        return polys[0] if len(polys) == 1 else MultiPolygon(polys)

    @property
    def routers(self) -> list[Router]:
        if self._fallbacks is None:  # built only when the primary area cannot connect
            self._fallbacks = []
            if self._margin > 0:
                half = allowed_area(self._site, self._margin * 0.5)
                bare = allowed_area(self._site, 0.0)  # as fenced, without a margin
                self._fallbacks = [Router(half, self._inset), Router(bare)]
        return [self.primary, *self._fallbacks]

    def visible(self, a: NDArray, b: NDArray) -> NDArray:
        return self.primary.visible(a, b)

    def entry_point(self, p: Pt) -> Pt:
        return self.primary.entry_point(p)

    def route(self, a: Pt, b: Pt) -> list[Pt]:
        for k, r in enumerate(self.routers):
            try:
                return r.route(a, b)
            except PlanError:
                if k == len(self.routers) - 1:
                    raise
        raise AssertionError("unreachable")


def trigger_item(distance_m: float) -> MissionItem:
    """DO_SET_CAM_TRIGG_DIST: distance > 0 starts, 0 stops; both also shoot once now."""
    return make_item(
        MAV_CMD_DO_SET_CAM_TRIGG_DIST, params=(distance_m, 0.0, 1.0, 0.0), frame=MAV_FRAME_MISSION
    )


def capture_item() -> MissionItem:
    """MAV_CMD_IMAGE_START_CAPTURE: one image now (param3 = 1 image, interval 0)."""
    return make_item(
        MAV_CMD_IMAGE_START_CAPTURE, params=(0.0, 0.0, 1.0, 0.0), frame=MAV_FRAME_MISSION
    )


def speed_item(speed_m_s: float) -> MissionItem:
    return make_item(
        MAV_CMD_DO_CHANGE_SPEED, params=(1.0, speed_m_s, -1.0, 0.0), frame=MAV_FRAME_MISSION
    )


@dataclass
class PathBuilder:
    """Accumulates the flown path (local metres, starting at launch) and the mission body."""

    alt_m: float
    path: list[Pt] = field(default_factory=lambda: [(0.0, 0.0)])
    body: list[MissionItem] = field(default_factory=list)
    _nav: list[tuple[int, Pt, float]] = field(default_factory=list)
    hold_s: float = 0.0

    def waypoint(self, p: Pt, hold_s: float = 0.0, force: bool = False) -> None:
        if not force and math.dist(self.path[-1], p) < 0.01:
            return
        self.path.append((float(p[0]), float(p[1])))
        self._nav.append((len(self.body), self.path[-1], hold_s))
        self.body.append(waypoint(0.0, 0.0, self.alt_m))  # position filled in by items()
        self.hold_s += hold_s

    def follow(self, pts: list[Pt], skip_first: bool = True) -> None:
        for p in pts[1:] if skip_first else pts:
            self.waypoint(p)

    def command(self, item: MissionItem) -> None:
        self.body.append(item)

    def items_body(self, site: Site) -> list[MissionItem]:
        """The body with waypoint positions projected to lon/lat in one vectorised call."""
        if not self._nav:
            return list(self.body)
        xy = np.asarray([p for _, p, _ in self._nav])
        lons, lats = site.frame.to_wgs84(xy[:, 0], xy[:, 1])
        body = list(self.body)
        for k, (idx, _, hold) in enumerate(self._nav):
            body[idx] = waypoint(float(lons[k]), float(lats[k]), self.alt_m, hold)
        return body


def finish_plan(
    site: Site,
    pb: PathBuilder,
    *,
    vehicle: str,
    pattern: str,
    profile: VehicleProfile,
    speed_m_s: float,
    photos: int,
    coverage_pct: float,
    trigger_distance_m: float = 0.0,
    angle_deg: float | None = None,
    line_spacing_m: float | None = None,
    enforce_endurance: bool = True,
    warnings: list[str] | None = None,
) -> MissionPlan:
    """Items (home, takeoff, body, RTL), track, estimates, fence/rally, independent check."""
    items = build_items(site.launch, pb.items_body(site), pb.alt_m, vehicle)
    path = [*pb.path, (0.0, 0.0)]
    pxy = np.asarray(path)
    est = estimate(
        pxy,
        profile,
        pb.alt_m,
        speed_m_s,
        photos,
        coverage_pct,
        waypoints=sum(1 for it in items[1:] if it.command == MAV_CMD_NAV_WAYPOINT),
        hold_s=pb.hold_s,
    )
    lons, lats = site.frame.to_wgs84(pxy[:, 0], pxy[:, 1])
    plan = MissionPlan(
        items=items,
        fence=fence_items(site),
        rally=rally_items(site, pb.alt_m),
        estimates=est,
        path_lonlat=list(zip(np.asarray(lons).tolist(), np.asarray(lats).tolist(), strict=True)),
        altitude_agl_m=pb.alt_m,
        trigger_distance_m=trigger_distance_m,
        vehicle=vehicle,
        pattern=pattern,
        site_id=site.id,
        angle_deg=angle_deg,
        line_spacing_m=line_spacing_m,
        warnings=list(warnings or []),
    )
    plan.check = check_mission(site, items, vehicle=vehicle)
    _check_against_fence(site, plan)
    if not plan.check.ok:
        raise PlanError(
            f"{pattern}: the planned mission failed the independent check (a planner bug): "
            + "; ".join(plan.check.problems[:3])
        )
    if enforce_endurance:
        check_endurance(est, profile)
    return plan


def check_altitude(site: Site, altitude_agl_m: float, vehicle: str) -> float:
    """The altitude to fly at (0 for a rover), or PlanError naming the limit it breaks."""
    if vehicle == "rover":
        return 0.0
    if not isinstance(altitude_agl_m, int | float) or not math.isfinite(altitude_agl_m):
        raise PlanError(f"altitude_agl_m={altitude_agl_m!r} must be a number of metres")
    if altitude_agl_m > site.max_alt_m:
        raise PlanError(
            f"altitude_agl_m={altitude_agl_m} is above the site's max_alt_m={site.max_alt_m}; "
            "fly lower"
        )
    if altitude_agl_m < max(site.min_alt_m, 1.0):
        raise PlanError(
            f"altitude_agl_m={altitude_agl_m} is below the site's min_alt_m={site.min_alt_m} "
            "(or 1 m); fly higher"
        )
    return float(altitude_agl_m)


def _check_against_fence(site: Site, plan: MissionPlan) -> None:
    """The vehicle enforces the (possibly simplified) fence items, not the site: make sure the
    path stays inside them too, so simplification can never cause a fence breach."""
    import shapely
    from shapely.geometry import LineString, Point

    from missions.fence import polygons_from_fence

    inclusions, exclusions, circles = polygons_from_fence(plan.fence)
    frame = site.frame
    inc = shapely.union_all([frame.geom_to_local(Polygon(r)) for r in inclusions])
    bad = [frame.geom_to_local(Polygon(r)) for r in exclusions]
    bad += [
        Point(frame.to_local(lon, lat)).buffer(radius)
        for lon, lat, radius, inclusion in circles
        if not inclusion
    ]
    allowed = inc.difference(shapely.union_all(bad)) if bad else inc
    xy = [frame.to_local(lon, lat) for lon, lat in plan.path_lonlat]
    if len(xy) >= 2 and not allowed.buffer(0.05).covers(LineString(xy)):
        raise PlanError(
            f"fence: the path leaves the fence sent to the vehicle (polygons simplified to "
            f"{MAX_FENCE_VERTICES} vertices); raise the margin or simplify the site outline"
        )
