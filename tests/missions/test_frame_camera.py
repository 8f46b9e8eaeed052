"""Local metric frame round trips and the camera model's geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely.geometry import Polygon

from missions.camera import CameraModel
from missions.errors import PlanError
from missions.frame import LocalFrame


@pytest.mark.parametrize("origin", [(123.486, 41.705), (-70.6, -33.45), (179.9, 0.0), (10.0, 78.2)])
def test_round_trip_under_one_centimetre(origin: tuple[float, float]) -> None:
    frame = LocalFrame(*origin)
    rng = np.random.default_rng(1)
    x = rng.uniform(-10_000, 10_000, 500)
    y = rng.uniform(-10_000, 10_000, 500)
    lon, lat = frame.to_wgs84(x, y)
    x2, y2 = frame.to_local(lon, lat)
    assert np.max(np.hypot(x2 - x, y2 - y)) < 0.01


def test_frame_is_metric_and_centred() -> None:
    frame = LocalFrame(123.486, 41.705)
    assert frame.to_local(123.486, 41.705) == pytest.approx((0.0, 0.0), abs=1e-6)
    # 0.001 degree of latitude is ~111 m everywhere.
    x, y = frame.to_local(123.486, 41.706)
    assert abs(x) < 0.01 and 110.0 < y < 112.0
    sq = Polygon([(0, 0), (100, 0), (100, 100), (0, 100)])
    back = frame.geom_to_local(frame.geom_to_wgs84(sq))
    assert back.symmetric_difference(sq).area < 1e-3


def test_default_camera_footprint_and_gsd() -> None:
    cam = CameraModel.default()
    w, h = cam.footprint_m(50)
    assert w == pytest.approx(6.17 * 50 / 4.5)
    assert h == pytest.approx(4.55 * 50 / 4.5)
    assert cam.gsd_m(50) == pytest.approx(w / 1280, rel=0.02)
    assert cam.hfov_deg == pytest.approx(math.degrees(2 * math.atan(6.17 / 9.0)))
    assert 0 < cam.vfov_deg < cam.hfov_deg


def test_bad_camera_and_altitude_named() -> None:
    with pytest.raises(PlanError, match="focal_length_mm=0"):
        CameraModel(6.17, 4.55, 0, 1280, 960)
    with pytest.raises(PlanError, match="altitude_agl_m=-5"):
        CameraModel.default().footprint_m(-5)
