"""Perimeter and checkpoint patrols, point inspection, exact tours and the multi-vehicle split."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString

from missions.camera import CameraModel
from missions.errors import PlanError
from missions.items import (
    MAV_CMD_DO_SET_ROI_LOCATION,
    MAV_CMD_NAV_LOITER_TURNS,
    MAV_CMD_NAV_TAKEOFF,
)
from missions.patterns import (
    held_karp,
    heuristic_tour,
    plan_checkpoints,
    plan_perimeter,
    plan_point,
    tour_length,
)
from missions.site import Site, site_from_geojson
from missions.split import split_survey

from .conftest import ll, rect, site_geojson
from .helpers import allowed, flown_path


def cp(name: str, frame: Any, x: float, y: float) -> tuple[str, float, float]:
    lon, lat = ll(frame, x, y)
    return (name, lon, lat)


@pytest.fixture
def site(u_site: dict[str, Any]) -> Site:
    return site_from_geojson(u_site)


def _inside(site: Site, items: list) -> bool:
    xy = flown_path(site, items)
    legs = shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1))
    return bool(shapely.covers(allowed(site).buffer(0.05), legs).all())


@pytest.mark.parametrize("vehicle", ["copter", "rover"])
def test_perimeter_follows_boundary_at_inset(site: Site, vehicle: str) -> None:
    plan = plan_perimeter(site, vehicle=vehicle, inset_m=8.0)
    assert plan.check is not None and plan.check.ok
    assert _inside(site, plan.items)
    xy = flown_path(site, plan.items)
    loop = LineString(xy)
    # Every vertex of the U's outline is passed within inset + simplification tolerance.
    corners = shapely.points(np.asarray(site.local_keep_in.exterior.coords))
    d = shapely.distance(corners, loop)
    assert d.max() < 8.0 * 1.5 + 2.0
    # Nothing of the path is closer than the inset to the outline, apart from home.
    far = shapely.points(xy[1:-1])
    assert shapely.distance(far, site.local_keep_in.exterior).min() > 7.0
    has_takeoff = any(it.command == MAV_CMD_NAV_TAKEOFF for it in plan.items)
    assert has_takeoff == (vehicle == "copter")
    assert plan.estimates.coverage_pct > 99.0


def test_exact_tour_is_optimal() -> None:
    rng = np.random.default_rng(7)
    for n in (3, 6, 8):
        p = rng.uniform(0, 1000, (n + 1, 2))
        d = np.hypot(*(p[:, None] - p[None]).transpose(2, 0, 1))
        tour = held_karp(d)
        assert tour[0] == tour[-1] == 0 and sorted(tour[1:-1]) == list(range(1, n + 1))
        brute = min(
            tour_length(d, [0, *perm, 0]) for perm in itertools.permutations(range(1, n + 1))
        )
        assert tour_length(d, tour) == pytest.approx(brute)
        assert tour_length(d, heuristic_tour(d)) >= brute - 1e-9


def test_checkpoints_routed_inside(site: Site) -> None:
    from missions.frame import LocalFrame

    from .conftest import ORIGIN

    f = LocalFrame(*ORIGIN)
    # Checkpoints on both arms of the U: the tour must go round the bay, not across it.
    pts = [cp("a", f, -250, 150), cp("b", f, 250, 150), cp("c", f, 0, -150)]
    plan = plan_checkpoints(site, pts, hold_s=3)
    assert plan.check is not None and plan.check.ok and _inside(site, plan.items)
    holds = [it for it in plan.items if it.param1 == 3 and it.command == 16]
    assert len(holds) == 3 and plan.estimates.photos == 3
    # A checkpoint inside an exclusion is visited from outside it, with a warning.
    bad = [cp("in school", f, -215, 40)]
    plan = plan_checkpoints(site, bad)
    assert plan.check is not None and plan.check.ok
    assert any("in school" in w and "nearest allowed point" in w for w in plan.warnings)
    with pytest.raises(PlanError, match="poi"):
        plan_checkpoints(site)  # the fixture site has no POIs


def test_more_than_twelve_checkpoints_use_heuristic(site: Site) -> None:
    from missions.frame import LocalFrame

    from .conftest import ORIGIN

    f = LocalFrame(*ORIGIN)
    xs = np.linspace(-280, 280, 14)
    pts = [cp(f"p{k}", f, float(x), -180.0 + 10 * (k % 2)) for k, x in enumerate(xs)]
    plan = plan_checkpoints(site, pts, hold_s=0)
    assert plan.check is not None and plan.check.ok
    # A row of points: the tour goes out along them and back: about twice the row's length.
    assert plan.estimates.distance_m < 2 * 600 + 400 + 2 * plan.altitude_agl_m


def test_point_inspection_hover_and_orbit(site: Site) -> None:
    from missions.frame import LocalFrame

    from .conftest import ORIGIN

    f = LocalFrame(*ORIGIN)
    target = tuple(ll(f, 250, 0))
    plan = plan_point(site, (target[0], target[1]), hold_s=15)
    assert plan.check is not None and plan.check.ok
    assert any(it.command == 16 and it.param1 == 15 for it in plan.items)
    orbit = plan_point(site, (target[0], target[1]), orbit_radius_m=20)
    assert orbit.check is not None and orbit.check.ok
    loiter = [it for it in orbit.items if it.command == MAV_CMD_NAV_LOITER_TURNS]
    assert len(loiter) == 1 and loiter[0].param3 == 20
    assert any(it.command == MAV_CMD_DO_SET_ROI_LOCATION for it in orbit.items)
    with pytest.raises(PlanError, match="orbit_radius_m=80"):
        plan_point(site, (target[0], target[1]), orbit_radius_m=80)
    with pytest.raises(PlanError, match="altitude_agl_m=500"):
        plan_point(site, (target[0], target[1]), altitude_agl_m=500)


def test_split_balances_flight_time() -> None:
    big = site_from_geojson(site_geojson(rect(0, 0, 900, 700), launch=(450, 10)))
    cam = CameraModel.default()
    plans = split_survey(big, cam, 3, altitude_agl_m=60, enforce_endurance=False)
    assert len(plans) == 3
    durations = [p.estimates.duration_s for p in plans]
    assert max(durations) / min(durations) < 1.25
    assert all(p.check is not None and p.check.ok for p in plans)
    # Together they fly every leg of the single-vehicle plan (same photos in total).
    single = split_survey(big, cam, 1, altitude_agl_m=60, enforce_endurance=False)[0]
    assert sum(p.estimates.photos for p in plans) == single.estimates.photos
    assert max(durations) < single.estimates.duration_s * 0.5
    with pytest.raises(PlanError, match="vehicles=0"):
        split_survey(big, cam, 0)
