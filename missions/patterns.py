"""Perimeter patrol, checkpoint patrol and point inspection, for drones and ground robots.

All legs are routed inside keep-in minus exclusions (shrunk by the margin); a checkpoint or a
target that lies in an exclusion zone is observed from the nearest allowed point instead.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, Point, Polygon

from missions.builder import (
    PathBuilder,
    RouteSet,
    check_altitude,
    finish_plan,
    speed_item,
    trigger_item,
)
from missions.camera import CameraModel
from missions.errors import PlanError
from missions.items import (
    MAV_CMD_DO_SET_ROI_LOCATION,
    MAV_CMD_DO_SET_ROI_NONE,
    MAV_CMD_NAV_LOITER_TURNS,
    MAV_FRAME_MISSION,
    make_item,
)
from missions.plan import MissionPlan, VehicleProfile
from missions.site import Site

Pt = tuple[float, float]
#: Largest checkpoint count for which the exact (Held-Karp) tour is computed.
EXACT_TOUR_LIMIT = 12
#: Width of ground a rover camera sees (about 10 m each side of the track).
ROVER_VIEW_M = 20.0


def _setup(
    site: Site,
    vehicle: str,
    altitude_agl_m: float,
    speed_m_s: float | None,
    profile: VehicleProfile | None = None,
) -> tuple[VehicleProfile, float, float]:
    profile = profile or VehicleProfile.for_kind(vehicle)
    alt = check_altitude(site, altitude_agl_m, vehicle)
    speed = profile.cruise_m_s if speed_m_s is None else float(speed_m_s)
    if not (0.1 <= speed <= 30.0):
        raise PlanError(f"speed_m_s={speed_m_s} must be between 0.1 and 30 m/s")
    return profile, alt, speed


def _view_width(vehicle: str, alt: float, camera: CameraModel | None) -> float:
    if vehicle == "rover":
        return ROVER_VIEW_M
    return (camera or CameraModel.default()).footprint_m(alt)[0]


def plan_perimeter(
    site: Site,
    vehicle: str = "copter",
    inset_m: float = 10.0,
    altitude_agl_m: float = 50.0,
    speed_m_s: float | None = None,
    camera: CameraModel | None = None,
    trigger_distance_m: float | None = None,
    enforce_endurance: bool = True,
    profile: VehicleProfile | None = None,
) -> MissionPlan:
    """Follow the keep-in boundary inset_m inside it (around exclusions that touch it)."""
    profile, alt, speed = _setup(site, vehicle, altitude_agl_m, speed_m_s, profile)
    if not (0.5 <= inset_m <= 500.0):
        raise PlanError(f"inset_m={inset_m} must be between 0.5 and 500 m")
    routes = RouteSet(site, inset_m)
    warnings = list(routes.warnings)
    width = _view_width(vehicle, alt, camera)
    if trigger_distance_m is None:
        if vehicle == "rover":
            trigger_distance_m = 5.0
        else:
            trigger_distance_m = (camera or CameraModel.default()).footprint_m(alt)[1] * 0.5
    parts = sorted(shapely.get_parts(routes.area), key=lambda g: -g.area)
    tol = min(1.0, inset_m * 0.2)  # simplification stays well inside the inset band
    pb = PathBuilder(alt)
    pb.command(speed_item(speed))
    pos: Pt = routes.entry_point((0.0, 0.0))
    pb.waypoint(pos)
    photos = 0
    for part in parts:
        assert isinstance(part, Polygon)
        ring = np.asarray(part.exterior.simplify(tol).coords)[:-1]
        k = int(np.argmin(np.hypot(*(ring - np.asarray(pos)).T)))
        loop = np.vstack([ring[k:], ring[:k], ring[k : k + 1]])
        start = (float(loop[0, 0]), float(loop[0, 1]))
        pb.follow(routes.route(pos, start))
        pb.command(trigger_item(trigger_distance_m))
        for p in loop[1:]:
            pb.waypoint((float(p[0]), float(p[1])))
        pb.command(trigger_item(0.0))
        length = float(np.hypot(*np.diff(loop, axis=0).T).sum())
        photos += 1 + math.ceil(length / trigger_distance_m)
        pos = start
    pb.follow(routes.route(pos, routes.entry_point((0.0, 0.0))))
    boundary = site.local_keep_in.boundary
    seen = boundary.intersection(LineString(pb.path).buffer(width / 2.0 + 1e-6))
    coverage = 100.0 * seen.length / boundary.length
    return finish_plan(
        site,
        pb,
        vehicle=vehicle,
        pattern="perimeter",
        profile=profile,
        speed_m_s=speed,
        photos=photos,
        coverage_pct=coverage,
        trigger_distance_m=trigger_distance_m,
        enforce_endurance=enforce_endurance,
        warnings=warnings,
    )


def _standoff(
    site: Site, routes: RouteSet, name: str, lon: float, lat: float, warnings: list[str]
) -> Pt:
    p = site.frame.to_local(lon, lat)
    q = routes.entry_point(p)
    d = math.dist(p, q)
    if d > 0.01:
        warnings.append(
            f"{name}: [{lon:.7f}, {lat:.7f}] is outside the area that may be flown (exclusion or "
            f"margin); it is observed from the nearest allowed point {d:.1f} m away"
        )
    return q


def held_karp(dist: NDArray) -> list[int]:
    """Exact shortest closed tour from node 0 through all nodes (dist is (n+1)x(n+1))."""
    n = dist.shape[0] - 1
    if n == 0:
        return [0, 0]
    full = 1 << n
    dp = np.full((full, n), np.inf)
    parent = np.full((full, n), -1, dtype=np.int64)
    for j in range(n):
        dp[1 << j, j] = dist[0, j + 1]
    d = dist[1:, 1:]
    masks = sorted(range(1, full), key=lambda m: bin(m).count("1"))
    bits = np.arange(n)
    for mask in masks:
        members = bits[(mask >> bits) & 1 == 1]
        if len(members) < 2:
            continue
        # dp[mask without j, j] is inf, so k == j never wins: no need to exclude it.
        prev = mask ^ (1 << members)
        cand = dp[prev[:, None], members[None, :]] + d[members[None, :], members[:, None]]
        best = np.argmin(cand, axis=1)
        dp[mask, members] = cand[np.arange(len(members)), best]
        parent[mask, members] = members[best]
    last = dp[full - 1] + dist[1:, 0]
    j = int(np.argmin(last))
    order: list[int] = []
    mask = full - 1
    while j != -1:
        order.append(j + 1)
        pj = int(parent[mask, j])
        mask ^= 1 << j
        j = pj
    return [0, *order[::-1], 0]


def heuristic_tour(dist: NDArray) -> list[int]:
    """Nearest neighbour from node 0, improved by 2-opt until no move helps."""
    n = dist.shape[0]
    tour = [0]
    left = set(range(1, n))
    while left:
        nxt = min(left, key=lambda k: dist[tour[-1], k])
        tour.append(nxt)
        left.remove(nxt)
    tour.append(0)
    improved = True
    while improved:
        improved = False
        for i, j in itertools.combinations(range(1, len(tour) - 1), 2):
            a, b, c, e = tour[i - 1], tour[i], tour[j], tour[j + 1]
            if dist[a, c] + dist[b, e] < dist[a, b] + dist[c, e] - 1e-9:
                tour[i : j + 1] = tour[i : j + 1][::-1]
                improved = True
    return tour


def tour_length(dist: NDArray, tour: list[int]) -> float:
    return float(sum(dist[a, b] for a, b in itertools.pairwise(tour)))


def plan_checkpoints(
    site: Site,
    checkpoints: list[tuple[str, float, float]] | None = None,
    vehicle: str = "copter",
    altitude_agl_m: float = 50.0,
    hold_s: float = 5.0,
    margin_m: float = 5.0,
    speed_m_s: float | None = None,
    enforce_endurance: bool = True,
    profile: VehicleProfile | None = None,
) -> MissionPlan:
    """Visit named checkpoints (default: the site's POIs) on the shortest closed tour from the
    launch point — exact for up to 12, 2-opt beyond — hold and photograph at each."""
    profile, alt, speed = _setup(site, vehicle, altitude_agl_m, speed_m_s, profile)
    if checkpoints is None:
        checkpoints = [(p.name, p.lon, p.lat) for p in site.pois]
    if not checkpoints:
        raise PlanError("checkpoints: none given and the site has no poi features")
    if not (0.0 <= hold_s <= 600.0):
        raise PlanError(f"hold_s={hold_s} must be between 0 and 600 s")
    routes = RouteSet(site, margin_m)
    warnings: list[str] = list(routes.warnings)
    home = routes.entry_point((0.0, 0.0))
    pts = [home] + [_standoff(site, routes, n, lon, lat, warnings) for n, lon, lat in checkpoints]
    m = len(pts)
    dist = np.zeros((m, m))
    paths: dict[tuple[int, int], list[Pt]] = {}
    for i, j in itertools.combinations(range(m), 2):
        path = routes.route(pts[i], pts[j])
        paths[(i, j)] = path
        paths[(j, i)] = path[::-1]
        dist[i, j] = dist[j, i] = sum(math.dist(p, q) for p, q in itertools.pairwise(path))
    tour = held_karp(dist) if m - 1 <= EXACT_TOUR_LIMIT else heuristic_tour(dist)
    pb = PathBuilder(alt)
    pb.command(speed_item(speed))
    pb.waypoint(home)
    for a, b in itertools.pairwise(tour):
        leg = paths[(a, b)]
        pb.follow(leg[:-1])
        if b != 0:
            pb.waypoint(leg[-1], hold_s=hold_s, force=True)
            pb.command(trigger_item(0.0))  # one photo on arrival
        else:
            pb.waypoint(leg[-1])
    return finish_plan(
        site,
        pb,
        vehicle=vehicle,
        pattern="checkpoints",
        profile=profile,
        speed_m_s=speed,
        photos=len(checkpoints),
        coverage_pct=100.0,
        enforce_endurance=enforce_endurance,
        warnings=warnings,
    )


def plan_point(
    site: Site,
    target: tuple[float, float],
    vehicle: str = "copter",
    altitude_agl_m: float = 50.0,
    orbit_radius_m: float = 0.0,
    hold_s: float = 10.0,
    margin_m: float = 5.0,
    speed_m_s: float | None = None,
    photos_per_orbit: int = 12,
    name: str = "target",
    enforce_endurance: bool = True,
    profile: VehicleProfile | None = None,
) -> MissionPlan:
    """Go to a reported location (lon, lat), hover and photograph it (or orbit it, camera on
    the target), and come back."""
    profile, alt, speed = _setup(site, vehicle, altitude_agl_m, speed_m_s, profile)
    if orbit_radius_m < 0 or not math.isfinite(orbit_radius_m):
        raise PlanError(f"orbit_radius_m={orbit_radius_m} must be 0 (hover) or positive")
    if orbit_radius_m > 0 and vehicle == "rover":
        raise PlanError("orbit_radius_m: a rover cannot orbit; use 0 (stop and photograph)")
    routes = RouteSet(site, margin_m)
    warnings: list[str] = list(routes.warnings)
    home = routes.entry_point((0.0, 0.0))
    centre = _standoff(site, routes, name, target[0], target[1], warnings)
    pb = PathBuilder(alt)
    pb.command(speed_item(speed))
    pb.waypoint(home)
    photos = 1
    trigger = 0.0
    if orbit_radius_m > 0:
        ring = Point(centre).buffer(orbit_radius_m, quad_segs=16).exterior
        if not routes.area.buffer(1e-6).covers(ring):
            raise PlanError(
                f"orbit_radius_m={orbit_radius_m}: the orbit around {name} leaves the allowed "
                "area (keep-in minus exclusions and margin); use a smaller radius or 0 to hover"
            )
        approach = np.asarray(home) - np.asarray(centre)
        norm = float(np.hypot(*approach)) or 1.0
        entry = tuple((np.asarray(centre) + approach / norm * orbit_radius_m).tolist())
        pb.follow(routes.route(home, (entry[0], entry[1])))
        lon, lat = site.frame.to_wgs84(*centre)
        tlon, tlat = target
        pb.command(make_item(MAV_CMD_DO_SET_ROI_LOCATION, tlon, tlat, 0.0))
        pb.command(trigger_item(2 * math.pi * orbit_radius_m / photos_per_orbit))
        pb.command(
            make_item(
                MAV_CMD_NAV_LOITER_TURNS, float(lon), float(lat), alt,
                params=(1.0, 0.0, orbit_radius_m, 0.0),
            )
        )  # fmt: skip
        pb.path.append(centre)  # the checker replays the leg to the loiter centre
        pb.command(trigger_item(0.0))
        pb.command(make_item(MAV_CMD_DO_SET_ROI_NONE, frame=MAV_FRAME_MISSION))
        photos = photos_per_orbit + 1
        trigger = 2 * math.pi * orbit_radius_m / photos_per_orbit
        pb.hold_s += 2 * math.pi * orbit_radius_m / max(speed, 1.0)
        back_from = centre
    else:
        pb.follow(routes.route(home, centre)[:-1])
        pb.waypoint(centre, hold_s=hold_s, force=True)
        standoff = math.dist(centre, site.frame.to_local(*target)) > 1.0
        if standoff:  # point the camera (gimbal) at the target seen from the side
            pb.command(make_item(MAV_CMD_DO_SET_ROI_LOCATION, target[0], target[1], 0.0))
        pb.command(trigger_item(0.0))
        if standoff:
            pb.command(make_item(MAV_CMD_DO_SET_ROI_NONE, frame=MAV_FRAME_MISSION))
        back_from = centre
    pb.follow(routes.route(back_from, home))
    return finish_plan(
        site,
        pb,
        vehicle=vehicle,
        pattern="point",
        profile=profile,
        speed_m_s=speed,
        photos=photos,
        coverage_pct=100.0,
        trigger_distance_m=trigger,
        enforce_endurance=enforce_endurance,
        warnings=warnings,
    )
