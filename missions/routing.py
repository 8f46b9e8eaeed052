"""Shortest paths inside a polygon with holes: a visibility graph over its reflex corners.

Transit legs between survey cells, checkpoints of a patrol and the way home are routed here,
so no straight line ever cuts across an exclusion zone or a concave bay of the keep-in area.
Graph nodes are the reflex vertices of a slightly shrunk, simplified copy of the region (a
shortest path only bends there); every edge is tested against the real region.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.ops import nearest_points

from missions.errors import PlanError

Pt = tuple[float, float]


def _reflex_vertices(region: Polygon | MultiPolygon, inset_m: float, tol_m: float) -> NDArray:
    inner = region.buffer(-inset_m, join_style="mitre", mitre_limit=3.0)
    if inner.is_empty:
        return np.empty((0, 2))
    inner = inner.simplify(tol_m, preserve_topology=True)
    polys = shapely.get_parts(inner)
    out: list[NDArray] = []
    for poly in polys:
        if not isinstance(poly, Polygon) or poly.is_empty:
            continue
        poly = shapely.orient_polygons(poly)
        for ring in [poly.exterior, *poly.interiors]:
            c = np.asarray(ring.coords)[:-1]
            if len(c) < 3:
                continue
            prev = np.roll(c, 1, axis=0)
            nxt = np.roll(c, -1, axis=0)
            a = c - prev
            b = nxt - c
            cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
            # Interior on the left of every ring (exterior CCW, holes CW): a right turn is a
            # corner that sticks into the free space, which a taut path may wrap around.
            out.append(c[cross < 0])
    if not out:
        return np.empty((0, 2))
    return np.vstack(out)


class Router:
    """Shortest collision-free paths in ``region`` (local metres)."""

    def __init__(self, region: Polygon | MultiPolygon, inset_m: float = 0.05) -> None:
        if region.is_empty:
            raise PlanError("routing: the area to fly in is empty")
        self.region = region
        self.inset_m = inset_m
        self._test = region.buffer(1e-6)
        shapely.prepare(self._test)
        # Visibility = inside an outer shell and off every hole: cheaper than covers()
        # against the whole region.
        parts = [p for p in shapely.get_parts(region) if isinstance(p, Polygon)]
        self._shells = shapely.union_all([Polygon(p.exterior) for p in parts]).buffer(1e-6)
        shapely.prepare(self._shells)
        holes = [Polygon(r) for p in parts for r in p.interiors]
        shrunk = shapely.buffer(np.asarray(holes, dtype=object), -1e-6) if holes else []
        self._holes = np.asarray([h for h in shrunk if not h.is_empty], dtype=object)
        # One prepared geometry of all holes answers intersects() faster than an STR-tree
        # of them (the tree prepares every query line instead).
        self._hole_union = shapely.union_all(self._holes) if len(self._holes) else None
        if self._hole_union is not None:
            shapely.prepare(self._hole_union)
        self._inner_cache: Polygon | MultiPolygon | None = None
        self._nodes: NDArray | None = None
        self._vis = np.zeros((0, 0), dtype=np.int8)

    def visible(self, a: NDArray, b: NDArray) -> NDArray:
        """Vectorised: is each straight segment a[i] -> b[i] inside the region?"""
        lines = shapely.linestrings(np.stack([a, b], axis=1))
        ok = np.asarray(shapely.covers(self._shells, lines))
        if self._hole_union is not None and ok.any():
            idx = np.flatnonzero(ok)
            ok[idx] = ~np.asarray(shapely.intersects(self._hole_union, lines[idx]))
        return ok

    def _node_array(self) -> NDArray:
        if self._nodes is None:
            self._nodes = _reflex_vertices(self.region, self.inset_m, self.inset_m * 0.5)
            n = len(self._nodes)
            # Visibility between nodes, filled lazily: -1 unknown, 0 blocked, 1 visible.
            self._vis = np.full((n, n), -1, dtype=np.int8)
            np.fill_diagonal(self._vis, 0)
        return self._nodes

    def _visibility(self, idx: NDArray) -> NDArray:
        """Visibility matrix among nodes idx, computing only pairs not seen before."""
        nodes = self._node_array()
        sub = self._vis[np.ix_(idx, idx)]
        i, j = np.nonzero(np.triu(sub == -1, k=1))
        if len(i):
            gi, gj = idx[i], idx[j]
            ok = self.visible(nodes[gi], nodes[gj]).astype(np.int8)
            self._vis[gi, gj] = ok
            self._vis[gj, gi] = ok
            sub = self._vis[np.ix_(idx, idx)]
        return sub == 1

    def entry_point(self, p: Pt) -> Pt:
        """p if it is inside the region, else the nearest point a little inside it."""
        pt = Point(p)
        if self._test.covers(pt):
            return p
        if self._inner_cache is None:
            inner = self.region.buffer(-self.inset_m)
            self._inner_cache = self.region if inner.is_empty else inner
        q = nearest_points(self._inner_cache, pt)[0]
        return (q.x, q.y)

    def route(self, a: Pt, b: Pt) -> list[Pt]:
        """Shortest path a -> b (both included) inside the region, or PlanError if none.

        Dijkstra over the visibility graph, restricted first to the nodes inside an ellipse
        with foci a and b: any path no longer than the ellipse's bound lies inside it, so a
        path found within the bound is the true shortest one. The ellipse grows until then.
        """
        pa, pb = np.asarray([a], dtype=float), np.asarray([b], dtype=float)
        direct = math.dist(a, b)
        if direct < 1e-9 or self.visible(pa, pb)[0]:
            return [a, b]
        nodes = self._node_array()
        if len(nodes) == 0:
            raise PlanError(f"routing: no path inside the allowed area from {a} to {b}")
        da_all = np.hypot(*(nodes - pa).T)
        db_all = np.hypot(*(nodes - pb).T)
        span = da_all + db_all
        prev_count = -1
        for factor in (1.25, 1.6, 2.5, 5.0, math.inf):
            bound = factor * direct + 1e-6
            idx = np.flatnonzero(span <= bound)
            if len(idx) == prev_count:
                continue
            prev_count = len(idx)
            found = self._dijkstra(a, b, idx, da_all[idx], db_all[idx])
            if found is not None and (found[0] <= bound or factor == math.inf):
                return found[1]
        raise PlanError(
            f"routing: no path inside the allowed area from ({a[0]:.1f}, {a[1]:.1f}) to "
            f"({b[0]:.1f}, {b[1]:.1f}) m; the area is split by exclusion zones"
        )

    def _dijkstra(
        self, a: Pt, b: Pt, idx: NDArray, da: NDArray, db: NDArray
    ) -> tuple[float, list[Pt]] | None:
        nodes = self._node_array()
        m = len(idx)
        if m == 0:
            return None
        sub = nodes[idx]
        vis = self._visibility(idx)
        pa = np.repeat(np.asarray([a], dtype=float), m, axis=0)
        pb = np.repeat(np.asarray([b], dtype=float), m, axis=0)
        from_a = self.visible(pa, sub)
        to_b = self.visible(sub, pb)
        d = np.hypot(*(sub[:, None, :] - sub[None, :, :]).transpose(2, 0, 1))
        w = np.where(vis, d, np.inf)
        # Dense Dijkstra: node m is a, node m+1 is b.
        dist = np.full(m + 2, np.inf)
        prev = np.full(m + 2, -1, dtype=int)
        done = np.zeros(m + 2, dtype=bool)
        dist[:m] = np.where(from_a, da, np.inf)
        prev[:m] = np.where(from_a, m, -1)
        dist[m] = 0.0
        done[m] = True
        while True:
            cand = np.where(done, np.inf, dist)
            u = int(np.argmin(cand))
            if not math.isfinite(cand[u]):
                return None
            if u == m + 1:
                break
            done[u] = True
            if to_b[u] and dist[u] + db[u] < dist[m + 1]:
                dist[m + 1] = dist[u] + db[u]
                prev[m + 1] = u
            nd = dist[u] + w[u]
            better = (nd < dist[:m]) & ~done[:m]
            dist[:m][better] = nd[better]
            prev[:m][better] = u
        path: list[Pt] = [b]
        u = int(prev[m + 1])
        while u != m:
            path.append((float(sub[u][0]), float(sub[u][1])))
            u = int(prev[u])
        path.append(a)
        path.reverse()
        return float(dist[m + 1]), path
