"""The independent checker catches what a bad mission does, and names the offending leg."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from missions.camera import CameraModel
from missions.check import check_mission
from missions.items import (
    MAV_CMD_DO_JUMP,
    MAV_CMD_NAV_RETURN_TO_LAUNCH,
    MAV_CMD_NAV_TAKEOFF,
    MAV_CMD_NAV_WAYPOINT,
    MAV_FRAME_GLOBAL,
    make_item,
    renumber,
)
from missions.site import Site, site_from_geojson
from missions.survey import plan_survey

from .conftest import rect, site_geojson


@pytest.fixture
def site() -> Site:
    # Keep-in 0..400 square (origin frame), a school in the middle.
    return site_from_geojson(
        site_geojson(rect(0, 0, 400, 400), [rect(150, 150, 250, 250)], launch=(20, 20))
    )


def _mission(site: Site, pts: list[tuple[float, float]], alt: float = 50.0) -> list:
    frame = site.frame
    lon0, lat0 = site.launch
    body = [make_item(MAV_CMD_NAV_WAYPOINT, lon0, lat0, 0.0, frame=MAV_FRAME_GLOBAL)]
    body.append(make_item(MAV_CMD_NAV_TAKEOFF, lon0, lat0, alt))
    for x, y in pts:
        lon, lat = frame.to_wgs84(x, y)
        body.append(make_item(MAV_CMD_NAV_WAYPOINT, lon, lat, alt))
    body.append(make_item(MAV_CMD_NAV_RETURN_TO_LAUNCH))
    return renumber(body)


def test_good_mission_passes(site: Site) -> None:
    # Launch is at (0, 0) in the site frame; the school spans 130..230.
    report = check_mission(site, _mission(site, [(0, 300), (300, 300), (300, 0)]))
    assert report.ok, report.problems
    assert report.legs_checked == 4


def test_leg_across_exclusion_is_named(site: Site) -> None:
    # Both waypoints are fine, the straight leg between them crosses the school.
    report = check_mission(site, _mission(site, [(100, 100), (300, 300)]))
    assert not report.ok
    assert any(
        "item 3" in p and "item 4" in p and "enters exclusion zone 'zone 0'" in p
        for p in report.problems
    ), report.problems


def test_waypoint_outside_and_rtl_leg(site: Site) -> None:
    report = check_mission(site, _mission(site, [(0, 300), (500, 300)]))
    assert any("item 4" in p and "leaves the keep-in area" in p for p in report.problems)
    # RTL from (300, 300) home crosses the school: the implied leg is checked too.
    report = check_mission(site, _mission(site, [(300, 300)]))
    assert any("straight home" in p and "zone 0" in p for p in report.problems)


def test_altitude_limits(site: Site) -> None:
    report = check_mission(site, _mission(site, [(0, 300)], alt=130))
    assert not report.ok
    assert any("alt_m=130.0 is outside the site's altitude limits" in p for p in report.problems)
    # A rover ignores altitude.
    assert check_mission(site, _mission(site, [(0, 300)], alt=130), vehicle="rover").ok


def test_unknown_and_jump_commands_are_refused(site: Site) -> None:
    items = _mission(site, [(0, 300)])
    items.insert(3, make_item(MAV_CMD_DO_JUMP, params=(1, 3, 0, 0), frame=2))
    items.insert(3, make_item(31337, 1.0, 1.0, 10.0))
    report = check_mission(site, renumber(items))
    assert any("DO_JUMP is not supported" in p for p in report.problems)
    assert any("command 31337 is not known" in p for p in report.problems)


def test_planned_mission_tampered_is_caught(u_site: dict[str, Any]) -> None:
    site = site_from_geojson(u_site)
    plan = plan_survey(site, CameraModel.default(), altitude_agl_m=60)
    assert check_mission(site, plan.items).ok
    items = list(plan.items)
    k = next(i for i, it in enumerate(items) if i > 5 and it.command == MAV_CMD_NAV_WAYPOINT)
    # Move one waypoint into the middle of the circle exclusion.
    frame = site.frame
    lon, lat = frame.to_wgs84(*frame.to_local(*_circle_centre(site)))
    items[k] = replace(items[k], lon_deg=lon, lat_deg=lat)
    report = check_mission(site, items)
    assert not report.ok and any("circle 0" in p for p in report.problems)


def _circle_centre(site: Site) -> tuple[float, float]:
    info = next(i for i in site.exclusion_info if i.kind == "circle")
    assert info.center is not None
    return info.center
