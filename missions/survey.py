"""Area coverage (survey) for drones: boustrophedon legs over keep-in minus inflated exclusions.

Steps, all in the site's local metric frame:
1. the flight area F = keep-in shrunk by the margin minus exclusions grown by the margin;
2. parallel sweep lines at the line spacing (from footprint and side overlap) are cut by F
   (one vectorised intersection), so every leg lies inside F by construction;
3. legs are grouped into cells (runs of single legs on consecutive lines whose extents
   overlap: a boustrophedon decomposition done on the discrete lines), so concave areas and
   holes never make a leg or a turn cross an exclusion;
4. cells are visited greedily from the launch point; turns inside a cell and transits between
   cells are routed through a visibility graph inside the allowed area;
5. the sweep angle (if not given) minimises an estimate of flight time over candidate angles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

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
from missions.plan import MissionPlan, VehicleProfile
from missions.site import Site, allowed_area

Pt = tuple[float, float]


@dataclass
class Leg:
    """A survey leg in local metres: photos are taken from start to end."""

    start: NDArray
    end: NDArray

    @property
    def length(self) -> float:
        return float(np.hypot(*(self.end - self.start)))


def _rot(theta: float) -> NDArray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def sweep_segments(
    area: Polygon | MultiPolygon, angle_deg: float, spacing: float
) -> list[list[tuple[float, float, float]]]:
    """Per sweep line, the sorted (x0, x1) extents of its pieces inside area, in the frame
    rotated so that legs run along +x. Legs head angle_deg clockwise from north."""
    phi = math.radians(90.0 - angle_deg)  # leg direction, counter-clockwise from east
    rot = shapely.affinity.rotate(area, -phi, origin=(0, 0), use_radians=True)
    xmin, ymin, xmax, ymax = rot.bounds
    height = ymax - ymin
    n = max(1, math.ceil(height / spacing - 1e-9))
    y0 = ymin + (height - (n - 1) * spacing) / 2.0
    ys = y0 + spacing * np.arange(n)
    x0, x1 = xmin - 1.0, xmax + 1.0
    coords = np.stack(
        [np.column_stack([np.full(n, x0), ys]), np.column_stack([np.full(n, x1), ys])], axis=1
    )
    lines = shapely.linestrings(coords)
    cut = shapely.intersection(lines, rot)
    parts, index = shapely.get_parts(cut, return_index=True)
    out: list[list[tuple[float, float]]] = [[] for _ in range(n)]
    is_line = shapely.get_type_id(parts) == 1
    parts, index = parts[is_line], index[is_line]
    if len(parts):
        b = shapely.bounds(parts)
        keep = (b[:, 2] - b[:, 0]) > 0.5
        rows = zip(index[keep].tolist(), b[keep, 0].tolist(), b[keep, 2].tolist(), strict=True)
        for k, lx0, lx1 in rows:
            out[k].append((lx0, lx1))
    for row in out:
        row.sort()
    return [[(y, s0, s1) for s0, s1 in row] for y, row in zip(ys.tolist(), out, strict=True)]


def _cells(rows: list[list[tuple[float, float, float]]]) -> list[list[tuple[float, float, float]]]:
    """Group pieces of consecutive lines into cells: a piece continues a cell when it is the
    only piece overlapping the cell's last piece, and that piece overlaps only it."""
    cells: list[list[tuple[float, float, float]]] = []
    open_cells: dict[int, int] = {}  # index in previous row -> cell id
    prev: list[tuple[float, float, float]] = []
    for row in rows:
        new_open: dict[int, int] = {}
        overlaps_prev = [
            [i for i, p in enumerate(prev) if max(p[1], s[1]) < min(p[2], s[2])] for s in row
        ]
        overlaps_next_count = [0] * len(prev)
        for ov in overlaps_prev:
            for i in ov:
                overlaps_next_count[i] += 1
        for j, seg in enumerate(row):
            ov = overlaps_prev[j]
            if len(ov) == 1 and overlaps_next_count[ov[0]] == 1 and ov[0] in open_cells:
                cid = open_cells[ov[0]]
                cells[cid].append(seg)
            else:
                cid = len(cells)
                cells.append([seg])
            new_open[j] = cid
        open_cells = new_open
        prev = row
    return cells


def _cost(rows: list[list[tuple[float, float, float]]], spacing: float, turn_m: float) -> float:
    legs = sum(len(r) for r in rows)
    length = sum(s[2] - s[1] for r in rows for s in r)
    return length + legs * (spacing + turn_m)


def choose_angle(area: Polygon | MultiPolygon, spacing: float, turn_m: float) -> float:
    """Sweep angle (deg clockwise from north) with the lowest estimated cost: coarse grid over
    0-180 plus the directions of the longest edges of the area's outline, then refined."""
    candidates = set(np.arange(0.0, 180.0, 15.0).tolist())
    hull = area.convex_hull
    if isinstance(hull, Polygon):
        ring = np.asarray(hull.exterior.coords)
        d = np.diff(ring, axis=0)
        lengths = np.hypot(*d.T)
        for k in np.argsort(lengths)[-4:]:
            # Edge direction as a heading clockwise from north.
            candidates.add(float(math.degrees(math.atan2(d[k, 0], d[k, 1])) % 180.0))

    def cost(a: float) -> float:
        return _cost(sweep_segments(area, a, spacing), spacing, turn_m)

    scored = sorted((cost(a), a) for a in candidates)
    best_cost, best = scored[0]
    step = 7.5
    while step >= 1.0:
        for cand in (best - step, best + step):
            cand %= 180.0
            c = cost(cand)
            if c < best_cost - 1e-6:
                best_cost, best = c, cand
        step /= 2.0
    return float(best % 180.0)


def _order_cells(
    cells: list[list[tuple[float, float, float]]], start: NDArray
) -> list[tuple[list[tuple[float, float, float]], bool, bool]]:
    """Greedy nearest-entry order; returns (cell pieces, reversed line order, start at x1)."""
    remaining = list(range(len(cells)))
    pos = start
    order: list[tuple[list[tuple[float, float, float]], bool, bool]] = []
    while remaining:
        best: tuple[float, int, bool, bool] | None = None
        for ci in remaining:
            cell = cells[ci]
            for rev in (False, True):
                first = cell[-1] if rev else cell[0]
                for right in (False, True):
                    p = np.array([first[2] if right else first[1], first[0]])
                    d = float(np.hypot(*(p - pos)))
                    if best is None or d < best[0]:
                        best = (d, ci, rev, right)
        assert best is not None
        _, ci, rev, right = best
        remaining.remove(ci)
        cell = cells[ci][::-1] if rev else cells[ci]
        order.append((cell, rev, right))
        # Exit: alternate direction on each line of the cell.
        last = cell[-1]
        ends_right = (not right) if len(cell) % 2 == 1 else right
        pos = np.array([last[2] if ends_right else last[1], last[0]])
    return order


def _footprint_coverage(
    legs: list[Leg], area: Polygon | MultiPolygon, width: float, height: float
) -> float:
    """Percent of area inside the union of photo footprints (photos at both ends of a leg
    and every trigger distance in between, so each leg images a band of length L + height)."""
    if not legs or area.is_empty:
        return 0.0
    a = np.asarray([leg.start for leg in legs])
    b = np.asarray([leg.end for leg in legs])
    d = b - a
    norm = np.hypot(*d.T)[:, None]
    u = np.divide(d, norm, out=np.zeros_like(d), where=norm > 0)
    u[norm[:, 0] == 0] = (1.0, 0.0)
    a2, b2 = a - u * height / 2.0, b + u * height / 2.0
    lines = shapely.linestrings(np.stack([a2, b2], axis=1))
    bands = shapely.buffer(lines, width / 2.0, cap_style="flat")
    covered = shapely.union_all(bands)
    return 100.0 * float(covered.intersection(area).area) / float(area.area)


@dataclass
class SurveyLayout:
    """Survey legs in flying order (local metres) and what is needed to connect them."""

    routes: RouteSet
    legs: list[Leg]
    ext_start: list[NDArray]
    ext_end: list[NDArray]
    width_m: float
    height_m: float
    spacing_m: float
    trigger_m: float
    angle_deg: float

    @property
    def area(self) -> Polygon | MultiPolygon:
        return self.routes.area


def layout_survey(
    site: Site,
    camera: CameraModel,
    altitude_agl_m: float,
    front_overlap: float,
    side_overlap: float,
    speed_m_s: float,
    angle_deg: float | None,
    margin_m: float,
    turnaround_m: float,
    profile: VehicleProfile,
) -> SurveyLayout:
    """Flight area, sweep angle, legs grouped into cells and ordered from the launch point."""
    _check_params(site, altitude_agl_m, front_overlap, side_overlap, speed_m_s, margin_m)
    width, height = camera.footprint_m(altitude_agl_m)
    spacing = width * (1.0 - side_overlap)
    trigger = height * (1.0 - front_overlap)
    routes = RouteSet(site, margin_m)
    area = routes.area
    if turnaround_m > 0 and margin_m > 0:
        # Turnaround extensions may use half of the margin band, and so may the turns.
        routes = RouteSet(site, margin_m, first=allowed_area(site, margin_m * 0.5))
    if angle_deg is None:
        angle_deg = choose_angle(area, spacing, speed_m_s * profile.turn_s)
    elif not math.isfinite(angle_deg):
        raise PlanError(f"angle_deg={angle_deg!r} must be a finite number of degrees")
    rows = sweep_segments(area, angle_deg, spacing)
    cells = _cells(rows)
    if not cells:
        raise PlanError(
            f"altitude_agl_m={altitude_agl_m}: the line spacing {spacing:.1f} m leaves no leg "
            "inside the area; fly lower or lower side_overlap"
        )
    rot = _rot(math.radians(90.0 - angle_deg))  # rotated frame -> local frame
    order = _order_cells(cells, rot.T @ np.zeros(2))  # the frame's origin is the launch point
    legs: list[Leg] = []
    for cell, _rev, right in order:
        go_right = not right
        for y, x0, x1 in cell:
            s, e = (np.array([x0, y]), np.array([x1, y]))
            if not go_right:
                s, e = e, s
            legs.append(Leg(rot @ s, rot @ e))
            go_right = not go_right
    ext_start = [leg.start for leg in legs]
    ext_end = [leg.end for leg in legs]
    if turnaround_m > 0:
        # Extensions are kept only where they stay inside the routing area.
        st = np.asarray(ext_start)
        en = np.asarray(ext_end)
        u = en - st
        u /= np.maximum(np.hypot(*u.T), 1e-9)[:, None]
        s2, e2 = st - u * turnaround_m, en + u * turnaround_m
        ok_s = routes.visible(s2, st)
        ok_e = routes.visible(en, e2)
        ext_start = [s2[i] if ok_s[i] else st[i] for i in range(len(legs))]
        ext_end = [e2[i] if ok_e[i] else en[i] for i in range(len(legs))]
    return SurveyLayout(
        routes, legs, ext_start, ext_end, width, height, spacing, trigger, float(angle_deg)
    )


def _pt(p: NDArray) -> Pt:
    return (float(p[0]), float(p[1]))


def build_survey(
    site: Site,
    lay: SurveyLayout,
    legs: range,
    altitude_agl_m: float,
    speed_m_s: float,
    profile: VehicleProfile,
    enforce_endurance: bool = True,
    pattern: str = "survey",
) -> MissionPlan:
    """Mission for a run of consecutive legs: launch -> legs (trigger on/off) -> launch."""
    routes = lay.routes
    home = routes.entry_point((0.0, 0.0))
    idx = list(legs)
    starts = [home] + [_pt(lay.ext_end[i]) for i in idx]
    ends = [_pt(lay.ext_start[i]) for i in idx] + [home]
    direct = routes.visible(np.asarray(starts), np.asarray(ends))
    pb = PathBuilder(float(altitude_agl_m))
    pb.command(speed_item(speed_m_s))
    photos = 0
    for n, (a, b) in enumerate(zip(starts, ends, strict=True)):
        connector = [a, b] if direct[n] else routes.route(a, b)
        pb.follow(connector, skip_first=n > 0)
        if n == len(idx):
            break
        leg = lay.legs[idx[n]]
        pb.waypoint(_pt(leg.start))
        pb.command(trigger_item(lay.trigger_m))
        pb.waypoint(_pt(leg.end), force=True)
        pb.command(trigger_item(0.0))
        pb.waypoint(_pt(lay.ext_end[idx[n]]))
        n_int = math.floor(leg.length / lay.trigger_m + 1e-9)
        photos += 1 + n_int + (1 if leg.length - n_int * lay.trigger_m > 1e-6 else 0)
    coverage = _footprint_coverage([lay.legs[i] for i in idx], lay.area, lay.width_m, lay.height_m)
    return finish_plan(
        site,
        pb,
        vehicle="copter",
        pattern=pattern,
        profile=profile,
        speed_m_s=speed_m_s,
        photos=photos,
        coverage_pct=coverage,
        trigger_distance_m=lay.trigger_m,
        angle_deg=lay.angle_deg,
        line_spacing_m=lay.spacing_m,
        enforce_endurance=enforce_endurance,
    )


def plan_survey(
    site: Site,
    camera: CameraModel,
    altitude_agl_m: float = 50,
    front_overlap: float = 0.7,
    side_overlap: float = 0.6,
    speed_m_s: float = 10.0,
    angle_deg: float | None = None,
    margin_m: float = 5.0,
    turnaround_m: float = 0.0,
    profile: VehicleProfile | None = None,
    enforce_endurance: bool = True,
) -> MissionPlan:
    """Plan a lawn-mower survey of the site; raises PlanError naming a bad parameter."""
    profile = profile or VehicleProfile.for_kind("copter")
    lay = layout_survey(
        site,
        camera,
        altitude_agl_m,
        front_overlap,
        side_overlap,
        speed_m_s,
        angle_deg,
        margin_m,
        turnaround_m,
        profile,
    )
    return build_survey(
        site, lay, range(len(lay.legs)), altitude_agl_m, speed_m_s, profile, enforce_endurance
    )


def _check_params(
    site: Site,
    altitude_agl_m: float,
    front_overlap: float,
    side_overlap: float,
    speed_m_s: float,
    margin_m: float,
) -> None:
    check_altitude(site, altitude_agl_m, "copter")
    for name, v in (("front_overlap", front_overlap), ("side_overlap", side_overlap)):
        if not (0.0 <= v < 0.95):
            raise PlanError(f"{name}={v} must be in [0, 0.95)")
    if not (0.1 <= speed_m_s <= 30.0):
        raise PlanError(f"speed_m_s={speed_m_s} must be between 0.1 and 30 m/s")
    if not (0.0 <= margin_m <= 500.0) or not math.isfinite(margin_m):
        raise PlanError(f"margin_m={margin_m} must be between 0 and 500 m")
