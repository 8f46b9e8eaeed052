"""Safe polygon simplification for fences: ArduPilot keeps at most 70 points per polygon.

An inclusion polygon may only shrink (the result lies inside the original) and an exclusion
polygon may only grow (the result contains the original), never the other way round.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Polygon

from missions.errors import PlanError

#: ArduPilot's limit on vertices in one fence polygon.
MAX_FENCE_VERTICES = 70


def _vertex_count(poly: Polygon) -> int:
    return len(poly.exterior.coords) - 1


def simplify_polygon(poly: Polygon, max_vertices: int, grow: bool) -> Polygon:
    """A polygon with at most max_vertices that contains (grow) or lies inside (not grow) poly.

    Works in whatever units poly is in; callers pass local metres. Holes are dropped (fence
    polygons have none: holes become exclusion polygons of their own).
    """
    shell = Polygon(poly.exterior)
    if _vertex_count(shell) <= max_vertices:
        return shell
    candidate: Polygon | None = None
    size = max(np.sqrt(shell.area), 1e-9)
    tol = size * 1e-3
    for _ in range(60):
        if candidate is not None:
            break
        sign = 1.0 if grow else -1.0
        buffered = shell.buffer(sign * tol, join_style="mitre", mitre_limit=2.0)
        parts = [g for g in shapely.get_parts(buffered) if isinstance(g, Polygon)]
        if parts:
            body = max(parts, key=lambda g: g.area)
            simple = body.simplify(tol * 0.9, preserve_topology=True)
            simple = Polygon(simple.exterior) if isinstance(simple, Polygon) else None
            if (
                simple is not None
                and simple.is_valid
                and _vertex_count(simple) <= max_vertices
                and (simple.covers(shell) if grow else shell.covers(simple))
            ):
                candidate = simple
        tol *= 1.5
    if candidate is None and grow:
        hull = shell.convex_hull
        if isinstance(hull, Polygon) and _vertex_count(hull) <= max_vertices:
            candidate = hull
    if candidate is None:
        raise PlanError(
            f"fence: cannot simplify a polygon of {_vertex_count(shell)} vertices to "
            f"{max_vertices} safely; split it"
        )
    return candidate
