"""Property tests over random concave sites with random holes (hypothesis).

For every generated site: no leg leaves keep-in minus exclusions, the photo footprints cover at
least 99 % of the allowed area minus the margin band, and the independent checker passes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon

from missions.camera import CameraModel
from missions.check import check_mission
from missions.errors import PlanError
from missions.patterns import plan_perimeter
from missions.site import site_from_geojson
from missions.survey import plan_survey

from .conftest import site_geojson
from .helpers import allowed, coverage_pct, flown_path

CAM = CameraModel.default()
MARGIN = 5.0


@st.composite
def sites(draw: st.DrawFn) -> dict:
    n = draw(st.integers(5, 11))
    radii = draw(st.lists(st.floats(180, 550), min_size=n, max_size=n))
    jitter = draw(st.lists(st.floats(-0.25, 0.25), min_size=n, max_size=n))
    angles = [2 * math.pi * (k + j) / n for k, j in enumerate(jitter)]
    keep = Polygon([(r * math.cos(a), r * math.sin(a)) for r, a in zip(radii, angles, strict=True)])
    assume(keep.is_valid and keep.area > 50_000)
    holes: list[Polygon] = []
    circles: list[tuple[float, float, float]] = []
    for _ in range(draw(st.integers(0, 4))):
        x, y = draw(st.floats(-400, 400)), draw(st.floats(-400, 400))
        if draw(st.booleans()):
            w, h = draw(st.floats(15, 90)), draw(st.floats(15, 90))
            rot = draw(st.floats(0, 90))
            poly = shapely.affinity.rotate(
                Polygon([(x, y), (x + w, y), (x + w, y + h), (x, y + h)]), rot
            )
            if keep.buffer(-20).contains(poly):
                holes.append(poly)
        else:
            r = draw(st.floats(10, 45))
            if keep.buffer(-20).contains(Point(x, y).buffer(r)):
                circles.append((x, y, r))
    free = keep
    for h in holes:
        free = free.difference(h.buffer(MARGIN + 2))
    for x, y, r in circles:
        free = free.difference(Point(x, y).buffer(r * 1.05 + MARGIN + 2))
    assume(not free.is_empty)
    inner = free.buffer(-MARGIN - 2)
    assume(inner.area > 0)
    launch = inner.representative_point()
    return site_geojson(keep, holes, circles, launch=(launch.x, launch.y))


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(doc=sites(), angle=st.one_of(st.none(), st.floats(0, 180)))
def test_survey_properties(doc: dict, angle: float | None) -> None:
    site = site_from_geojson(doc)
    try:
        plan = plan_survey(
            site, CAM, altitude_agl_m=50, angle_deg=angle, margin_m=MARGIN, enforce_endurance=False
        )
    except PlanError as exc:  # only acceptable when the margin leaves nothing
        assert "nothing is left" in str(exc)
        return
    xy = flown_path(site, plan.items)
    legs = shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1))
    assert shapely.covers(allowed(site).buffer(0.05), legs).all()
    w, h = CAM.footprint_m(50)
    assert coverage_pct(site, plan.items, w, h, MARGIN) >= 99.0
    assert check_mission(site, plan.items).ok


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=sites())
def test_perimeter_properties(doc: dict) -> None:
    site = site_from_geojson(doc)
    plan = plan_perimeter(site, inset_m=8.0, enforce_endurance=False)
    xy = flown_path(site, plan.items)
    legs = shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1))
    assert shapely.covers(allowed(site).buffer(0.05), legs).all()
    assert check_mission(site, plan.items).ok


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc=sites(),
    pts=st.lists(st.tuples(st.floats(-500, 500), st.floats(-500, 500)), min_size=1, max_size=7),
)
def test_checkpoint_properties(doc: dict, pts: list[tuple[float, float]]) -> None:
    from missions.frame import LocalFrame
    from missions.patterns import plan_checkpoints

    from .conftest import ORIGIN

    site = site_from_geojson(doc)
    frame = LocalFrame(*ORIGIN)
    checkpoints = [(f"p{k}", *frame.to_wgs84(x, y)) for k, (x, y) in enumerate(pts)]
    plan = plan_checkpoints(
        site, [(n, float(lon), float(lat)) for n, lon, lat in checkpoints], hold_s=1,
        enforce_endurance=False,
    )  # fmt: skip
    xy = flown_path(site, plan.items)
    legs = shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1))
    assert shapely.covers(allowed(site).buffer(0.05), legs).all()
    assert check_mission(site, plan.items).ok
    # Every checkpoint is visited, or observed from the nearest allowed point with a warning.
    assert plan.estimates.photos == len(pts)
