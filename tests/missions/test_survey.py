"""Survey planning: legs inside the area, transits around holes, camera triggers, coverage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Polygon

from missions.camera import CameraModel
from missions.errors import PlanError
from missions.items import (
    MAV_CMD_DO_SET_CAM_TRIGG_DIST,
    MAV_CMD_NAV_RETURN_TO_LAUNCH,
    MAV_CMD_NAV_TAKEOFF,
    MAV_CMD_NAV_WAYPOINT,
    MAV_FRAME_GLOBAL_RELATIVE_ALT,
)
from missions.site import load_site, site_from_geojson
from missions.split import split_survey
from missions.survey import plan_survey

from .conftest import EXAMPLE_SITES, rect, site_geojson
from .helpers import allowed, coverage_pct, flown_path, in_site_frame, photo_legs

CAM = CameraModel.default()


@pytest.mark.parametrize("path", EXAMPLE_SITES, ids=lambda p: p.stem)
def test_every_example_site_plans(path: Any) -> None:
    site = load_site(path)
    alt = max(50.0, site.min_alt_m)
    try:
        plans = [plan_survey(site, CAM, altitude_agl_m=alt)]
    except PlanError as exc:  # too long for one battery: the user's way out is to split it
        assert "exceeds the copter's usable endurance" in str(exc)
        plans = split_survey(site, CAM, 2, altitude_agl_m=alt)
    for plan in plans:
        assert plan.check is not None and plan.check.ok, plan.check
        path_xy = flown_path(site, plan.items)
        assert allowed(site).buffer(0.05).covers(LineString(path_xy))
        assert plan.estimates.photos > 10
    assert sum(p.estimates.coverage_pct for p in plans) >= 99.0


def test_mission_structure(u_site: dict[str, Any]) -> None:
    site = site_from_geojson(u_site)
    plan = plan_survey(site, CAM, altitude_agl_m=60)
    items = plan.items
    assert [it.seq for it in items] == list(range(len(items)))
    home = items[0]
    assert (home.lon_deg, home.lat_deg) == pytest.approx(site.launch, abs=1e-7)
    assert items[1].command == MAV_CMD_NAV_TAKEOFF and items[1].alt_m == 60
    assert items[-1].command == MAV_CMD_NAV_RETURN_TO_LAUNCH
    trig = [it for it in items if it.command == MAV_CMD_DO_SET_CAM_TRIGG_DIST]
    # Each leg switches the trigger on at its start and off at its end: strict alternation.
    assert len(trig) >= 2 and len(trig) % 2 == 0
    assert all(t.param1 == pytest.approx(plan.trigger_distance_m) for t in trig[::2])
    assert all(t.param1 == 0 for t in trig[1::2])
    wps = [it for it in items if it.command == MAV_CMD_NAV_WAYPOINT][1:]
    assert all(w.frame == MAV_FRAME_GLOBAL_RELATIVE_ALT and w.alt_m == 60 for w in wps)
    assert plan.estimates.waypoints == len(wps)
    assert plan.trigger_distance_m == pytest.approx(CAM.footprint_m(60)[1] * 0.3)


def test_concave_site_with_holes_never_crosses(u_site: dict[str, Any]) -> None:
    site = site_from_geojson(u_site)
    for angle in (0.0, 30.0, 90.0, 135.0):
        plan = plan_survey(site, CAM, altitude_agl_m=60, angle_deg=angle)
        xy = flown_path(site, plan.items)
        legs = shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1))
        area = allowed(site).buffer(0.05)
        assert shapely.covers(area, legs).all(), angle
        # The U's bay (a concave notch) and the exclusions are never crossed.
        bay = in_site_frame(site, rect(-100, -50, 100, 200).buffer(-0.1))
        assert not shapely.intersects(legs, bay).any()
        w, h = CAM.footprint_m(60)
        assert coverage_pct(site, plan.items, w, h, 5.0) >= 99.0


def test_transit_routes_around_a_wall() -> None:
    """Two rooms joined by a corridor: transit between them must bend, not cut the wall."""
    keep = rect(0, 0, 600, 300)
    wall = rect(280, 0, 320, 250)  # leaves a 50 m corridor at the top
    site = site_from_geojson(site_geojson(keep, [wall], launch=(20, 20)))
    plan = plan_survey(site, CAM, altitude_agl_m=50, angle_deg=0.0)
    xy = flown_path(site, plan.items)
    legs = shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1))
    assert not shapely.intersects(legs, in_site_frame(site, wall.buffer(4.9))).any()
    assert (xy[:, 0] > 330 - 20).any()  # the far room is surveyed
    assert plan.estimates.coverage_pct >= 99.0


def test_given_angle_orients_legs() -> None:
    site = site_from_geojson(site_geojson(rect(0, 0, 400, 400), launch=(10, 10)))
    plan = plan_survey(site, CAM, altitude_agl_m=50, angle_deg=0.0)
    d = np.asarray([b - a for a, b in photo_legs(site, plan.items)])
    assert len(d) > 3
    assert np.all(np.abs(d[:, 0]) < 0.05)  # north-south legs
    assert np.all(np.abs(d[:, 1]) > 300)


def test_automatic_angle_follows_long_side() -> None:
    # A long thin field rotated 30 degrees: legs should run along it (few turns).
    field = shapely.affinity.rotate(rect(-600, -60, 600, 60), 30, origin=(0, 0))
    site = site_from_geojson(site_geojson(field, launch=(0, 0)))
    plan = plan_survey(site, CAM, altitude_agl_m=50)
    # Long axis points 30 deg counter-clockwise from east = heading 60 (or 240) deg.
    assert plan.angle_deg is not None
    assert min(abs(plan.angle_deg - 60.0), abs(plan.angle_deg - 240.0)) < 3.0
    forced = plan_survey(site, CAM, altitude_agl_m=50, angle_deg=150.0)
    assert plan.estimates.turns < forced.estimates.turns
    assert plan.estimates.duration_s < forced.estimates.duration_s


def test_bad_parameters_are_named(u_site: dict[str, Any]) -> None:
    site = site_from_geojson(u_site)
    with pytest.raises(PlanError, match="altitude_agl_m=150 is above the site's max_alt_m=120"):
        plan_survey(site, CAM, altitude_agl_m=150)
    with pytest.raises(PlanError, match=r"side_overlap=1\.2"):
        plan_survey(site, CAM, side_overlap=1.2)
    with pytest.raises(PlanError, match="margin_m=200: nothing is left to fly"):
        plan_survey(site, CAM, margin_m=200)


def test_endurance_refusal_says_by_how_much() -> None:
    site = site_from_geojson(site_geojson(rect(0, 0, 3000, 3000), launch=(10, 10)))
    with pytest.raises(PlanError, match=r"exceeds the copter's usable endurance 20.0 min .* by"):
        plan_survey(site, CAM, altitude_agl_m=60)


def test_per_waypoint_capture_and_turnaround(u_site: dict[str, Any]) -> None:
    from missions.items import MAV_CMD_IMAGE_START_CAPTURE

    site = site_from_geojson(u_site)
    dist = plan_survey(site, CAM, altitude_agl_m=60, angle_deg=90.0)
    wp = plan_survey(site, CAM, altitude_agl_m=60, angle_deg=90.0, capture="waypoint")
    assert wp.check is not None and wp.check.ok
    shots = [k for k, it in enumerate(wp.items) if it.command == MAV_CMD_IMAGE_START_CAPTURE]
    assert len(shots) == wp.estimates.photos
    # Every capture follows a waypoint, and consecutive shots on a leg are <= trigger apart.
    assert all(wp.items[k - 1].command == MAV_CMD_NAV_WAYPOINT for k in shots)
    assert not any(it.command == MAV_CMD_DO_SET_CAM_TRIGG_DIST for it in wp.items)
    assert abs(wp.estimates.distance_m - dist.estimates.distance_m) < 1.0
    with pytest.raises(PlanError, match="capture='video'"):
        plan_survey(site, CAM, capture="video")
    # Turnaround extension: legs run on past the photo section, still inside the area.
    ext = plan_survey(site, CAM, altitude_agl_m=60, angle_deg=90.0, turnaround_m=2.0)
    assert ext.check is not None and ext.check.ok
    assert ext.estimates.waypoints > dist.estimates.waypoints
    assert ext.estimates.photos == dist.estimates.photos


def test_area_cut_off_from_launch_is_reported() -> None:
    # A wall-to-wall exclusion splits the site: the far half cannot be reached legally.
    site = site_from_geojson(
        site_geojson(rect(0, 0, 600, 300), [rect(280, -10, 320, 310)], launch=(20, 20))
    )
    plan = plan_survey(site, CAM, altitude_agl_m=50)
    assert plan.check is not None and plan.check.ok
    assert any("cut off from the launch point" in w for w in plan.warnings)
    assert 40.0 < plan.estimates.coverage_pct < 60.0  # honest: about half is flown


@pytest.mark.parametrize("alt", [30.0, 100.0])
@pytest.mark.parametrize(
    "keep",
    [
        rect(0, 0, 500, 14),  # a corridor narrower than the line spacing
        Polygon([(0, 0), (300, 0), (300, 30), (30, 30), (30, 300), (0, 300)]),  # thin L
        Polygon(
            [(0, 0), (400, 0), (400, 200), (380, 200), (380, 30), (220, 30), (220, 200),
             (200, 200), (200, 30), (20, 30), (20, 200), (0, 200)]
        ),  # a comb of thin teeth
    ],
    ids=["corridor", "thin-L", "comb"],
)  # fmt: skip
def test_thin_areas_are_still_covered(keep: Polygon, alt: float) -> None:
    """Strips narrower than the line spacing: the regular lines miss them; gap legs don't."""
    site = site_from_geojson(site_geojson(keep, launch=(5, 5)))
    plan = plan_survey(site, CAM, altitude_agl_m=alt, enforce_endurance=False)
    assert plan.check is not None and plan.check.ok
    w, h = CAM.footprint_m(alt)
    assert coverage_pct(site, plan.items, w, h, 5.0) >= 99.0
