"""Area coverage (survey) for drones: boustrophedon legs over keep-in minus inflated exclusions.

Steps, all in the site's local metric frame:
1. the flight area F = keep-in shrunk by the margin minus exclusions grown by the margin (as
   the vehicle's fence holds them);
2. parallel sweep lines at the line spacing (from footprint and side overlap) are cut by F
   with a vectorised scanline, so every leg lies inside F by construction; strips of F that
   the lines miss (narrower than the spacing) get extra legs;
3. legs are grouped into cells (runs of single legs on consecutive lines whose extents
   overlap: a boustrophedon decomposition done on the discrete lines), so concave areas and
   holes never make a leg or a turn cross an exclusion;
4. the cell tour from the launch point is optimised (two starts, 2-opt, or-opt, best way into
   each cell); turns inside a cell and transits between cells that are not straight-line
   clear are routed through a visibility graph inside the allowed area;
5. the sweep angle (if not given) minimises an estimate of flight time over candidate angles
   whose legs image the whole area.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Polygon

from missions.builder import (
    PathBuilder,
    RouteSet,
    capture_item,
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


def _edges(area: Polygon | MultiPolygon) -> NDArray:
    """All ring edges of area as an (E, 4) array x1, y1, x2, y2."""
    rings = shapely.get_rings(shapely.get_parts(area))
    out = []
    for ring in rings:
        c = shapely.get_coordinates(ring)
        out.append(np.hstack([c[:-1], c[1:]]))
    return np.vstack(out) if out else np.empty((0, 4))


def _scan(e: NDArray, angle_deg: float, spacing: float) -> tuple[NDArray, NDArray, NDArray]:
    """Scanline core: line ys, sorted crossing xs per line (inf padded), crossing counts."""
    phi = math.radians(90.0 - angle_deg)  # leg direction, counter-clockwise from east
    c, s = math.cos(-phi), math.sin(-phi)
    x1 = e[:, 0] * c - e[:, 1] * s
    y1 = e[:, 0] * s + e[:, 1] * c
    x2 = e[:, 2] * c - e[:, 3] * s
    y2 = e[:, 2] * s + e[:, 3] * c
    ymin = float(min(y1.min(), y2.min()))
    ymax = float(max(y1.max(), y2.max()))
    height = ymax - ymin
    n = max(1, math.ceil(height / spacing - 1e-9))
    y0 = ymin + (height - (n - 1) * spacing) / 2.0
    ys = y0 + spacing * np.arange(n)
    lo, hi = np.minimum(y1, y2), np.maximum(y1, y2)
    yy = ys[:, None]
    hit = (lo[None, :] <= yy) & (yy < hi[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (yy - y1[None, :]) / (y2 - y1)[None, :]
    xs = np.where(hit, x1[None, :] + t * (x2 - x1)[None, :], np.inf)
    xs.sort(axis=1)
    return ys, xs, hit.sum(axis=1)


def _pieces(xs: NDArray, counts: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """(line index, x0, x1) of every piece longer than 0.5 m, by the even-odd rule."""
    width = xs.shape[1] - xs.shape[1] % 2
    a0, a1 = xs[:, 0:width:2], xs[:, 1:width:2]
    pair = np.arange(a0.shape[1])[None, :]
    with np.errstate(invalid="ignore"):  # inf - inf in the padding
        valid = (2 * pair + 1 < counts[:, None]) & ((a1 - a0) > 0.5)
    rows, cols = np.nonzero(valid)
    return rows, a0[rows, cols], a1[rows, cols]


def sweep_segments(
    area: Polygon | MultiPolygon, angle_deg: float, spacing: float, edges: NDArray | None = None
) -> list[list[tuple[float, float, float]]]:
    """Per sweep line, (y, x0, x1) of its pieces inside area, sorted by x, in the frame
    rotated so that legs run along +x. Legs head angle_deg clockwise from north.

    A vectorised scanline: every line is crossed with every ring edge at once (half-open in
    y, so a vertex on a line counts once), and crossings are paired by the even-odd rule.
    """
    e = _edges(area) if edges is None else edges
    ys, xs, counts = _scan(e, angle_deg, spacing)
    rows, x0, x1 = _pieces(xs, counts)
    out: list[list[tuple[float, float, float]]] = [[] for _ in range(len(ys))]
    for r, p, q in zip(rows.tolist(), x0.tolist(), x1.tolist(), strict=True):
        out[r].append((float(ys[r]), p, q))
    return out


Piece = tuple[float, float, float]


def _cells(
    rows: list[list[Piece]], joinable: dict[tuple[Piece, Piece], bool] | None = None
) -> list[list[Piece]]:
    """Group pieces of consecutive lines into cells. A piece continues a cell when it is the
    only piece overlapping the cell's last piece and that piece overlaps only it (the
    boustrophedon decomposition), or, failing that, when both turns between them (at their
    left ends and at their right ends) are straight and clear (joinable), taking the largest
    overlap first. Fewer cells mean fewer transits between them."""
    cells: list[list[Piece]] = []
    open_cells: dict[int, int] = {}  # index in previous row -> cell id
    prev: list[Piece] = []
    for row in rows:
        new_open: dict[int, int] = {}
        overlaps_prev = [
            [i for i, p in enumerate(prev) if max(p[1], s[1]) < min(p[2], s[2])] for s in row
        ]
        overlaps_next_count = [0] * len(prev)
        for ov in overlaps_prev:
            for i in ov:
                overlaps_next_count[i] += 1
        taken: set[int] = set()
        for j, seg in enumerate(row):
            ov = overlaps_prev[j]
            if len(ov) == 1 and overlaps_next_count[ov[0]] == 1 and ov[0] in open_cells:
                taken.add(ov[0])
                cells[open_cells[ov[0]]].append(seg)
                new_open[j] = open_cells[ov[0]]
        if joinable:
            pairs = sorted(
                (
                    (min(prev[i][2], seg[2]) - max(prev[i][1], seg[1]), i, j)
                    for j, seg in enumerate(row)
                    if j not in new_open
                    for i in overlaps_prev[j]
                    if i in open_cells and i not in taken and joinable.get((prev[i], seg))
                ),
                reverse=True,
            )
            for _, i, j in pairs:
                if i in taken or j in new_open:
                    continue
                taken.add(i)
                cells[open_cells[i]].append(row[j])
                new_open[j] = open_cells[i]
        for j, seg in enumerate(row):
            if j not in new_open:
                new_open[j] = len(cells)
                cells.append([seg])
        open_cells = new_open
        prev = row
    return cells


def _joinable(
    rows: list[list[Piece]], rot: NDArray, visible: Callable[[NDArray, NDArray], NDArray]
) -> dict[tuple[Piece, Piece], bool]:
    """For overlapping pieces on consecutive lines: are both end-to-end turns clear?"""
    pairs: list[tuple[Piece, Piece]] = []
    for prev, row in itertools.pairwise(rows):
        for p in prev:
            for s in row:
                if max(p[1], s[1]) < min(p[2], s[2]):
                    pairs.append((p, s))
    if not pairs:
        return {}
    arr = np.asarray([[p[1], p[0], s[1], s[0], p[2], p[0], s[2], s[0]] for p, s in pairs])
    pts = arr.reshape(-1, 2) @ rot.T  # rotated frame -> local frame
    pts = pts.reshape(-1, 4, 2)
    left = visible(pts[:, 0], pts[:, 1])
    right = visible(pts[:, 2], pts[:, 3])
    return {pair: bool(ok) for pair, ok in zip(pairs, left & right, strict=True)}


def _scan_coverage(
    area: Polygon | MultiPolygon,
    edges: NDArray,
    angle_deg: float,
    spacing: float,
    width: float,
    height: float,
) -> float:
    """Percent of area imaged by the legs of one sweep angle (each leg images a band
    leg + height long and width wide), computed in the rotated frame."""
    ys, xs, counts = _scan(edges, angle_deg, spacing)
    rows, x0, x1 = _pieces(xs, counts)
    if len(rows) == 0:
        return 0.0
    y = ys[rows]
    boxes = shapely.box(x0 - height / 2, y - width / 2, x1 + height / 2, y + width / 2)
    phi = math.radians(90.0 - angle_deg)
    rot = shapely.affinity.rotate(area, -phi, origin=(0, 0), use_radians=True)
    covered = shapely.union_all(boxes).intersection(rot).area
    return 100.0 * float(covered) / float(area.area)


def _gap_legs(
    area: Polygon | MultiPolygon,
    rows: list[list[Piece]],
    angle_deg: float,
    spacing: float,
    width: float,
    height: float,
) -> list[Piece]:
    """Extra legs (rotated frame) for the parts of area that the legs in rows do not image:
    in each missed part, lines at the line spacing across its extent, cut by the area
    (so they stay inside it) where they cross the missed part."""
    phi = math.radians(90.0 - angle_deg)
    rot = shapely.affinity.rotate(area, -phi, origin=(0, 0), use_radians=True)
    pieces = [p for row in rows for p in row]
    extra: list[Piece] = []
    for _ in range(3):
        every = pieces + extra
        if every:
            arr = np.asarray(every)
            boxes = shapely.box(
                arr[:, 1] - height / 2, arr[:, 0] - width / 2,
                arr[:, 2] + height / 2, arr[:, 0] + width / 2,
            )  # fmt: skip
            missed = rot.difference(shapely.union_all(boxes))
        else:
            missed = rot
        # Ignore slivers: specks under 0.1 % of the area or thinner than a metre.
        parts = [
            g
            for g in shapely.get_parts(missed)
            if g.area > max(1.0, 1e-3 * rot.area) and g.buffer(-0.5).area > 0
        ]
        if not parts:
            break
        added = 0
        for part in parts:
            _, py0, _, py1 = part.bounds
            n = max(1, math.ceil((py1 - py0) / spacing - 1e-9))
            ys = py0 + (py1 - py0 - (n - 1) * spacing) / 2 + spacing * np.arange(n)
            x_lo, _, x_hi, _ = rot.bounds
            for y in ys.tolist():
                line = shapely.LineString([(x_lo - 1, y), (x_hi + 1, y)])
                for seg in shapely.get_parts(rot.intersection(line)):
                    if seg.geom_type != "LineString" or seg.length <= 0.5:
                        continue
                    if not seg.intersects(part):
                        continue
                    sx0, _, sx1, _ = seg.bounds
                    extra.append((float(y), float(sx0), float(sx1)))
                    added += 1
        if not added:
            break
    return extra


def choose_angle(
    area: Polygon | MultiPolygon,
    spacing: float,
    turn_m: float,
    width: float | None = None,
    height: float | None = None,
) -> float:
    """Sweep angle (deg clockwise from north) with the lowest estimated cost: coarse grid over
    0-180 plus the directions of the longest edges of the area's outline, then refined.

    With the footprint (width, height) given, the cheapest angle whose legs image at least
    99.5 % of the area wins (on areas narrower than the line spacing a cheap angle can be
    cheap because its few legs miss most of the area)."""
    grid = set(np.arange(0.0, 180.0, 15.0).tolist())
    candidates = set(grid)
    hull = area.convex_hull
    if isinstance(hull, Polygon):
        ring = np.asarray(hull.exterior.coords)
        d = np.diff(ring, axis=0)
        lengths = np.hypot(*d.T)
        for k in np.argsort(lengths)[-4:]:
            # Edge direction as a heading clockwise from north.
            candidates.add(float(math.degrees(math.atan2(d[k, 0], d[k, 1])) % 180.0))

    edges = _edges(area)
    memo: dict[float, float] = {}

    def cost(a: float) -> float:
        if a not in memo:
            _, xs, counts = _scan(edges, a, spacing)
            _, x0, x1 = _pieces(xs, counts)
            memo[a] = float((x1 - x0).sum()) + len(x0) * (spacing + turn_m)
        return memo[a]

    def refine(best: float) -> float:
        best_cost, step = cost(best), 7.5
        while step >= 1.0:
            for cand in (best - step, best + step):
                cand %= 180.0
                c = cost(cand)
                if c < best_cost - 1e-6:
                    best_cost, best = c, cand
            step /= 2.0
        return best % 180.0

    edge_dirs = candidates - grid
    ranked = [a for _, a in sorted((cost(a), a) for a in candidates)]
    checked: list[tuple[float, float]] = []  # (coverage, angle)
    for n_try, start in enumerate(ranked):
        best = refine(start) if n_try == 0 else start
        # Pilots (and neighbours) expect legs parallel to a field edge: take the best edge
        # direction when it costs at most 1 % more than the numerical optimum.
        if edge_dirs:
            edge_cost, edge = min((cost(a), a) for a in edge_dirs)
            if edge_cost <= cost(best) * 1.01:
                best = edge
        if width is None or height is None:
            return float(best % 180.0)
        cov = _scan_coverage(area, edges, best, spacing, width, height)
        if cov >= 99.5:
            return float(best % 180.0)
        checked.append((cov, best))
        edge_dirs = set()  # the edge preference only applies to the first choice
    return float(max(checked)[1] % 180.0)


Cell = list[tuple[float, float, float]]


def _ends(cell: Cell, rev: bool, right: bool) -> tuple[NDArray, NDArray, bool, bool]:
    """Entry and exit points of a cell flown boustrophedon-wise, and the reverse variant."""
    first, last = (cell[-1], cell[0]) if rev else (cell[0], cell[-1])
    exit_right = (not right) if len(cell) % 2 == 1 else right
    entry = np.array([first[2] if right else first[1], first[0]])
    exit_ = np.array([last[2] if exit_right else last[1], last[0]])
    return entry, exit_, not rev, exit_right


def _order_cells(cells: list[Cell], start: NDArray) -> list[tuple[Cell, bool, bool]]:
    """Order cells and choose where to enter each. Two starting tours — greedy nearest entry
    from the start, and the cells in sweep order with the best ways in chosen by dynamic
    programming — are each improved by 2-opt over the cell sequence (a reversed block flies
    each of its cells backwards), or-opt moves and a per-cell choice among its four ways in,
    until no move shortens the straight-line connections; the shorter one wins.
    Returns (cell pieces in flying order, reversed line order, start at x1)."""
    n = len(cells)
    if n == 0:
        return []
    variants = [(r, s) for r in (False, True) for s in (False, True)]
    ends = [[_ends(c, r, s) for r, s in variants] for c in cells]
    entries = np.asarray([[e[0] for e in ce] for ce in ends])  # (n, 4, 2)
    exits = np.asarray([[e[1] for e in ce] for ce in ends])  # (n, 4, 2)

    def rev_of(ci: int, vi: int) -> int:
        _, _, r, s = ends[ci][vi]
        return variants.index((r, s))

    def greedy() -> list[tuple[int, int]]:
        used = np.zeros(n, dtype=bool)
        out: list[tuple[int, int]] = []
        pos = start
        for _ in range(n):
            d = np.hypot(*(entries - pos).transpose(2, 0, 1))
            d[used] = np.inf
            flat = int(np.argmin(d))
            ci, vi = flat // 4, flat % 4
            used[ci] = True
            out.append((ci, vi))
            pos = ends[ci][vi][1]
        return out

    def sweep_order() -> list[tuple[int, int]]:
        order = sorted(range(n), key=lambda c: (cells[c][0][0], cells[c][0][1]))
        # Viterbi over the four ways into each cell, for this fixed order.
        cost = np.hypot(*(entries[order[0]] - start).T)
        back: list[NDArray] = []
        for prev_c, c in itertools.pairwise(order):
            d = np.hypot(*(exits[prev_c][:, None, :] - entries[c][None, :, :]).transpose(2, 0, 1))
            tot = cost[:, None] + d
            back.append(np.argmin(tot, axis=0))
            cost = tot.min(axis=0)
        cost = cost + np.hypot(*(exits[order[-1]] - start).T)
        v = int(np.argmin(cost))
        picks = [v]
        for bk in reversed(back):
            v = int(bk[v])
            picks.append(v)
        picks.reverse()
        return list(zip(order, picks, strict=True))

    def total(seq: list[tuple[int, int]]) -> float:
        en = np.vstack([ends[c][v][0] for c, v in seq] + [start])
        ex = np.vstack([start] + [ends[c][v][1] for c, v in seq])
        return float(np.hypot(*(en - ex).T).sum())

    def improve(seq: list[tuple[int, int]]) -> list[tuple[int, int]]:
        def arrays() -> tuple[NDArray, NDArray]:
            cs = np.fromiter((c for c, _ in seq), dtype=np.int64, count=n)
            vs = np.fromiter((v for _, v in seq), dtype=np.int64, count=n)
            en = np.concatenate([start[None], entries[cs, vs], start[None]])
            ex = np.concatenate([start[None], exits[cs, vs], start[None]])
            return en, ex

        for _ in range(60):
            improved = False
            en, ex = arrays()
            for i in range(1, n + 1):
                j = np.arange(i, n + 1)
                delta = (
                    np.hypot(*(ex[i - 1] - ex[j]).T)
                    + np.hypot(*(en[i] - en[j + 1]).T)
                    - np.hypot(*(ex[i - 1] - en[i]))
                    - np.hypot(*(ex[j] - en[j + 1]).T)
                )
                k = int(np.argmin(delta))
                if delta[k] < -1e-6:
                    jj = int(j[k])
                    block = seq[i - 1 : jj]
                    seq[i - 1 : jj] = [(c, rev_of(c, v)) for c, v in block[::-1]]
                    en, ex = arrays()
                    improved = True
            for k in range(1, n + 1):
                c, v = seq[k - 1]
                cost4 = np.hypot(*(entries[c] - ex[k - 1]).T) + np.hypot(*(exits[c] - en[k + 1]).T)
                best_v = int(np.argmin(cost4))
                if cost4[best_v] < cost4[v] - 1e-6:
                    seq[k - 1] = (c, best_v)
                    en, ex = arrays()
                    improved = True
            if n < 3:
                break
            # Or-opt: move one cell (in any of its four ways) to its best other place.
            for k in range(1, n + 1):
                c, v = seq[k - 1]
                saving = (
                    np.hypot(*(ex[k - 1] - en[k]))
                    + np.hypot(*(ex[k] - en[k + 1]))
                    - np.hypot(*(ex[k - 1] - en[k + 1]))
                )
                rest_en = np.concatenate([en[:k], en[k + 1 :]])
                rest_ex = np.concatenate([ex[:k], ex[k + 1 :]])
                base = np.hypot(*(rest_ex[:-1] - rest_en[1:]).T)  # gap i -> i+1 of the rest
                add = (
                    np.hypot(*(rest_ex[None, :-1, :] - entries[c][:, None, :]).transpose(2, 0, 1))
                    + np.hypot(*(exits[c][:, None, :] - rest_en[None, 1:, :]).transpose(2, 0, 1))
                    - base[None, :]
                )  # (4 ways in, n places)
                flat = int(np.argmin(add))
                vi, i = divmod(flat, add.shape[1])
                if saving - add[vi, i] > 1e-6:
                    del seq[k - 1]
                    seq.insert(i, (c, vi))
                    en, ex = arrays()
                    improved = True
            if not improved:
                break
        return seq

    best = min((improve(greedy()), improve(sweep_order())), key=total)
    out: list[tuple[Cell, bool, bool]] = []
    for c, v in best:
        rev, right = variants[v]
        out.append((cells[c][::-1] if rev else cells[c], rev, right))
    return out


def _tour_length(order: list[tuple[Cell, bool, bool]]) -> float:
    """Straight-line length of a cell tour from and back to the origin (legs included)."""
    pos = np.zeros(2)
    total = 0.0
    for cell, _rev, right in order:
        go_right = not right
        for y, x0, x1 in cell:
            s, e = (np.array([x0, y]), np.array([x1, y]))
            if not go_right:
                s, e = e, s
            total += float(np.hypot(*(s - pos))) + (x1 - x0)
            pos = e
            go_right = not go_right
    return total + float(np.hypot(*pos))


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
    area, full_area = routes.area, routes.full_area
    if turnaround_m > 0 and margin_m > 0:
        # Turnaround extensions may use half of the margin band, and so may the turns.
        routes = RouteSet(site, margin_m, first=allowed_area(site, margin_m * 0.5))
        routes.area, routes.full_area = area, full_area  # legs come from the full margin
    if angle_deg is None:
        # Comparing the best few angles on the whole tour (transits included) was tried: it
        # tripled the planning time and did not pick a better angle on the benchmark sites.
        candidates = [choose_angle(area, spacing, speed_m_s * profile.turn_s, width, height)]
    elif not math.isfinite(angle_deg):
        raise PlanError(f"angle_deg={angle_deg!r} must be a finite number of degrees")
    else:
        candidates = [float(angle_deg)]
    best: tuple[float, float, NDArray, list[tuple[Cell, bool, bool]]] | None = None
    for cand in candidates:
        rows = sweep_segments(area, cand, spacing)
        rot = _rot(math.radians(90.0 - cand))  # rotated frame -> local frame
        cells = _cells(rows, _joinable(rows, rot, routes.visible))
        # Parts of the area the regular lines miss (strips narrower than the line spacing)
        # get legs of their own, each a cell of one leg.
        cells += [[p] for p in _gap_legs(area, rows, cand, spacing, width, height)]
        if not cells:
            continue
        order = _order_cells(cells, np.zeros(2))  # the frame's origin is the launch point
        length = _tour_length(order)
        if best is None or length < best[0] - 1e-6:
            best = (length, cand, rot, order)
    if best is None:
        raise PlanError(
            f"altitude_agl_m={altitude_agl_m}: the line spacing {spacing:.1f} m leaves no leg "
            "inside the area; fly lower or lower side_overlap"
        )
    _, angle_deg, rot, order = best
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
    capture: str = "distance",
) -> MissionPlan:
    """Mission for a run of consecutive legs: launch -> legs -> launch. capture "distance":
    distance trigger on at each leg start and off at its end; "waypoint": a waypoint every
    trigger distance along each leg (ends included) with one IMAGE_START_CAPTURE at each."""
    if capture not in ("distance", "waypoint"):
        raise PlanError(f"capture={capture!r} must be 'distance' or 'waypoint'")
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
        if capture == "distance":
            pb.waypoint(_pt(leg.start))
            pb.command(trigger_item(lay.trigger_m))
            pb.waypoint(_pt(leg.end), force=True)
            pb.command(trigger_item(0.0))
            n_int = math.floor(leg.length / lay.trigger_m + 1e-9)
            photos += 1 + n_int + (1 if leg.length - n_int * lay.trigger_m > 1e-6 else 0)
        else:
            k = max(1, math.ceil(leg.length / lay.trigger_m - 1e-9))
            for t in np.linspace(0.0, 1.0, k + 1):
                pb.waypoint(_pt(leg.start + t * (leg.end - leg.start)), force=True)
                pb.command(capture_item())
            photos += k + 1
        pb.waypoint(_pt(lay.ext_end[idx[n]]))
    legs_flown = [lay.legs[i] for i in idx]
    coverage = _footprint_coverage(legs_flown, routes.full_area, lay.width_m, lay.height_m)
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
        warnings=routes.warnings,
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
    capture: str = "distance",
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
        site,
        lay,
        range(len(lay.legs)),
        altitude_agl_m,
        speed_m_s,
        profile,
        enforce_endurance,
        capture=capture,
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
