"""Benchmark of the survey planner; prints one JSON object.

Small case: a concave site of about 1 km² with 20 exclusion zones, 50 m altitude, 70 %/70 %
overlap, default camera: planning time (best of 5), path length against the lower bound
(flight area ÷ line spacing), turns and coverage. Large case: a 25 km² site planned in a
child process: time and peak resident memory of that process.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import Point, Polygon, mapping

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from missions.camera import CameraModel
from missions.frame import LocalFrame
from missions.site import Site, allowed_area, site_from_geojson
from missions.survey import plan_survey

ORIGIN = (123.486, 41.705)
MARGIN = 5.0


def make_site(size_m: float, n_exclusions: int, seed: int = 1) -> Site:
    """An L-shaped (concave) keep-in of about size_m² ... with random exclusion zones."""
    rng = np.random.default_rng(seed)
    s = size_m
    # An L: a square of side a with a quarter notch removed has area 0.75 a²; aim for s².
    a = s / math.sqrt(0.75)
    keep = Polygon([(0, 0), (a, 0), (a, a / 2), (a / 2, a / 2), (a / 2, a), (0, a)])
    keep = keep.difference(Polygon([(a * 0.2, -1), (a * 0.3, -1), (a * 0.3, a * 0.12)]))
    frame = LocalFrame(*ORIGIN)
    feats: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "properties": {"role": "keep_in", "min_alt_m": 0, "max_alt_m": 120},
            "geometry": mapping(frame.geom_to_wgs84(keep)),
        }
    ]
    inner = keep.buffer(-40)
    placed: list[Polygon] = []
    scale = size_m / 1000.0
    while len(placed) < n_exclusions:
        x, y = rng.uniform(0, a, 2)
        if rng.random() < 0.5:
            w, h = rng.uniform(25, 90, 2) * max(1.0, scale**0.5)
            ang = rng.uniform(0, 90)
            import shapely.affinity

            poly = shapely.affinity.rotate(
                Polygon([(x, y), (x + w, y), (x + w, y + h), (x, y + h)]), ang
            )
            geom = mapping(frame.geom_to_wgs84(poly))
            props: dict[str, Any] = {"role": "exclusion"}
        else:
            r = float(rng.uniform(15, 40)) * max(1.0, scale**0.5)
            poly = Point(x, y).buffer(r)
            lon, lat = frame.to_wgs84(x, y)
            geom = {"type": "Point", "coordinates": [float(lon), float(lat)]}
            props = {"role": "exclusion", "radius_m": r}
        if not inner.contains(poly) or any(poly.distance(p) < 30 for p in placed):
            continue
        placed.append(poly)
        props["name"] = f"zone {len(placed)}"
        feats.append({"type": "Feature", "properties": props, "geometry": geom})
    lon, lat = frame.to_wgs84(20.0, 20.0)
    feats.append(
        {
            "type": "Feature",
            "properties": {"role": "launch"},
            "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
        }
    )
    doc = {"type": "FeatureCollection", "properties": {"name": "bench"}, "features": feats}
    return site_from_geojson(doc)


def small_case() -> dict[str, Any]:
    site = make_site(1000.0, 20)
    cam = CameraModel.default()
    kw: dict[str, Any] = {
        "altitude_agl_m": 50,
        "front_overlap": 0.7,
        "side_overlap": 0.7,
        "enforce_endurance": False,
    }
    times = []
    cpu = []
    plan = None
    for _ in range(5):
        fresh = make_site(1000.0, 20)  # no cached projections between runs
        t0, c0 = time.perf_counter(), time.process_time()
        plan = plan_survey(fresh, cam, **kw)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    assert plan is not None and plan.check is not None and plan.check.ok
    area = allowed_area(site, MARGIN).area
    spacing = plan.line_spacing_m or 1.0
    horizontal = plan.estimates.distance_m - 2 * plan.altitude_agl_m
    xy = np.asarray(site.frame.to_local(*np.asarray(plan.path_lonlat).T)).T
    seg = np.hypot(*np.diff(xy, axis=0).T)
    # The legs with the trigger on are the useful part; the rest is turns and transits.
    legs_len = _photo_leg_length(plan.items, site)
    return {
        "site_area_km2": round(site.local_keep_in.area / 1e6, 3),
        "flight_area_km2": round(area / 1e6, 3),
        "exclusions": len(site.exclusions),
        "line_spacing_m": round(spacing, 2),
        "plan_ms": round(1000 * min(times), 1),
        "plan_ms_median": round(1000 * sorted(times)[2], 1),
        # CPU time of the planning thread: what the wall time is on an idle machine.
        "plan_cpu_ms": round(1000 * min(cpu), 1),
        "path_m": round(horizontal, 1),
        "lower_bound_m": round(area / spacing, 1),
        "path_ratio": round(horizontal / (area / spacing), 3),
        "photo_legs_m": round(legs_len, 1),
        "turns_and_transit_m": round(float(seg.sum()) - legs_len, 1),
        "turns": plan.estimates.turns,
        "coverage_pct": round(plan.estimates.coverage_pct, 2),
        "waypoints": plan.estimates.waypoints,
        "mission_items": len(plan.items),
        "angle_deg": plan.angle_deg,
    }


def _photo_leg_length(items: list, site: Site) -> float:
    frame = site.frame
    pos = frame.to_local(items[0].lon_deg, items[0].lat_deg)
    on = False
    total = 0.0
    for it in items[1:]:
        if it.command == 206:
            on = it.param1 > 0
        elif it.command == 16:
            nxt = frame.to_local(it.lon_deg, it.lat_deg)
            if on:
                total += math.dist(pos, nxt)
            pos = nxt
    return total


def large_case() -> dict[str, Any]:
    t0 = time.perf_counter()
    site = make_site(5000.0, 20, seed=2)
    t1, c1 = time.perf_counter(), time.process_time()
    plan = plan_survey(
        site, CameraModel.default(), altitude_agl_m=50, front_overlap=0.7, side_overlap=0.7,
        enforce_endurance=False,
    )  # fmt: skip
    t2, c2 = time.perf_counter(), time.process_time()
    assert plan.check is not None and plan.check.ok
    return {
        "large_site_km2": round(site.local_keep_in.area / 1e6, 2),
        "large_plan_ms": round(1000 * (t2 - t1), 1),
        "large_plan_cpu_ms": round(1000 * (c2 - c1), 1),
        "large_site_load_ms": round(1000 * (t1 - t0), 1),
        "large_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "large_waypoints": plan.estimates.waypoints,
        "large_coverage_pct": round(plan.estimates.coverage_pct, 2),
        "large_distance_km": round(plan.estimates.distance_m / 1000, 1),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--large":
        print(json.dumps(large_case()))
        return
    out = small_case()
    child = subprocess.run(
        [sys.executable, __file__, "--large"], capture_output=True, text=True, check=True,
        timeout=600,
    )  # fmt: skip
    out.update(json.loads(child.stdout.strip().splitlines()[-1]))
    out["machine"] = "2 cores x86_64, python " + ".".join(map(str, sys.version_info[:2]))
    out["load_average"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
