"""Shortest paths inside a polygon with holes: a visibility graph over its reflex corners.

Transit legs between survey cells, checkpoints of a patrol and the way home are routed here,
so no straight line ever cuts across an exclusion zone or a concave bay of the keep-in area.
Graph nodes are the reflex vertices of a slightly shrunk, simplified copy of the region (a
shortest path only bends there); every edge is tested against the real region.
"""

from __future__ import annotations

import heapq
import itertools
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

    def __init__(self, region: Polygon | MultiPolygon, inset_m: float = 0.5) -> None:
        if region.is_empty:
            raise PlanError("routing: the area to fly in is empty")
        self.region = region
        self.inset_m = inset_m
        self._test = region.buffer(1e-6)
        shapely.prepare(self._test)
        self._inner = region.buffer(-inset_m)
        if self._inner.is_empty:
            self._inner = region
        self._nodes: NDArray | None = None
        self._adj: list[list[tuple[int, float]]] | None = None

    def visible(self, a: NDArray, b: NDArray) -> NDArray:
        """Vectorised: is each straight segment a[i] -> b[i] inside the region?"""
        lines = shapely.linestrings(np.stack([a, b], axis=1))
        return np.asarray(shapely.covers(self._test, lines))

    def _graph(self) -> tuple[NDArray, list[list[tuple[int, float]]]]:
        if self._nodes is None or self._adj is None:
            nodes = _reflex_vertices(self.region, self.inset_m, self.inset_m * 0.5)
            n = len(nodes)
            adj: list[list[tuple[int, float]]] = [[] for _ in range(n)]
            if n > 1:
                i, j = np.triu_indices(n, k=1)
                a, b = nodes[i], nodes[j]
                d = np.hypot(*(b - a).T)
                ok = self.visible(a, b)
                for u, v, w in zip(i[ok].tolist(), j[ok].tolist(), d[ok].tolist(), strict=True):
                    adj[u].append((v, w))
                    adj[v].append((u, w))
            self._nodes, self._adj = nodes, adj
        return self._nodes, self._adj

    def entry_point(self, p: Pt) -> Pt:
        """p if it is inside the region, else the nearest point a little inside it."""
        pt = Point(p)
        if self._test.covers(pt):
            return p
        q = nearest_points(self._inner, pt)[0]
        return (q.x, q.y)

    def route(self, a: Pt, b: Pt) -> list[Pt]:
        """Shortest path a -> b (both included) inside the region, or PlanError if none."""
        pa, pb = np.asarray([a], dtype=float), np.asarray([b], dtype=float)
        if math.dist(a, b) < 1e-9 or self.visible(pa, pb)[0]:
            return [a, b]
        nodes, adj = self._graph()
        n = len(nodes)
        if n == 0:
            raise PlanError(f"routing: no path inside the allowed area from {a} to {b}")
        from_a = self.visible(np.repeat(pa, n, axis=0), nodes)
        to_b = self.visible(nodes, np.repeat(pb, n, axis=0))
        da = np.hypot(*(nodes - pa).T)
        db = np.hypot(*(nodes - pb).T)
        # Dijkstra from a (index n) to b (index n+1) over the node graph.
        dist = np.full(n + 2, np.inf)
        prev = np.full(n + 2, -1, dtype=int)
        dist[n] = 0.0
        heap: list[tuple[float, int]] = [(0.0, n)]
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist[u]:
                continue
            if u == n + 1:
                break
            if u == n:
                edges = [(int(k), float(da[k])) for k in np.flatnonzero(from_a)]
            else:
                edges = list(adj[u])
                if to_b[u]:
                    edges.append((n + 1, float(db[u])))
            for v, w in edges:
                nd = d + w
                if nd < dist[v]:
                    dist[v] = nd
                    prev[v] = u
                    heapq.heappush(heap, (nd, v))
        if not math.isfinite(dist[n + 1]):
            raise PlanError(
                f"routing: no path inside the allowed area from ({a[0]:.1f}, {a[1]:.1f}) to "
                f"({b[0]:.1f}, {b[1]:.1f}) m; the area is split by exclusion zones"
            )
        path: list[Pt] = [b]
        u = int(prev[n + 1])
        while u != n:
            path.append((float(nodes[u][0]), float(nodes[u][1])))
            u = int(prev[u])
        path.append(a)
        path.reverse()
        return path

    def route_length(self, a: Pt, b: Pt) -> float:
        path = self.route(a, b)
        return float(sum(math.dist(p, q) for p, q in itertools.pairwise(path)))
