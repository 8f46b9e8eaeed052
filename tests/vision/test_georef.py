"""Georeferencing against analytic cases: nadir, pitched gimbal, yawed vehicle, hard mount."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from missions.camera import CameraModel
from missions.frame import LocalFrame
from telemetry.contract import CameraPose
from vision.detector import Box
from vision.georef import GeorefError, box_footprint, pixel_to_ground

CAM = CameraModel(6.17, 4.55, 4.5, 1280, 960)
FX = 4.5 / 6.17 * 1280
FY = 4.5 / 4.55 * 960
LON0, LAT0 = 123.43, 41.80
H = 60.0
CM = 0.01


def pose(**kw: float) -> CameraPose:
    base = {
        "lat": LAT0,
        "lon": LON0,
        "alt_agl_m": H,
        "alt_amsl_m": H + 45.0,
        "roll_deg": 0.0,
        "pitch_deg": 0.0,
        "yaw_deg": 0.0,
        "gimbal_pitch_deg": -90.0,
        "gimbal_yaw_deg": 0.0,
    }
    base.update(kw)
    return CameraPose(time=datetime(2026, 11, 27, 3, 0, tzinfo=UTC), **base)


def offset(p: CameraPose, u: float, v: float, **kw: object) -> tuple[float, float]:
    """(east, north) metres from the vehicle to where pixel (u, v) meets the ground."""
    lon, lat = pixel_to_ground(u, v, p, CAM, **kw)  # type: ignore[arg-type]
    frame = LocalFrame(p.lon, p.lat)
    return frame.to_local(float(lon), float(lat))


def test_nadir_centre_is_straight_below() -> None:
    e, n = offset(pose(), 640, 480)
    assert abs(e) < CM and abs(n) < CM


def test_nadir_corners_follow_pinhole_geometry_with_north_up() -> None:
    e, n = offset(pose(), 0, 0)  # top-left: north-west
    assert e == pytest.approx(-640 / FX * H, abs=CM)
    assert n == pytest.approx(480 / FY * H, abs=CM)
    e, n = offset(pose(), 1280, 480)  # right edge: east
    assert e == pytest.approx(640 / FX * H, abs=CM)
    assert abs(n) < CM


def test_pitched_gimbal_looks_ahead() -> None:
    for gp in (-45.0, -60.0, -75.0):
        e, n = offset(pose(gimbal_pitch_deg=gp), 640, 480)
        assert abs(e) < CM
        assert n == pytest.approx(H / math.tan(math.radians(-gp)), abs=CM)


def test_yawed_vehicle_turns_the_image() -> None:
    # Heading east, nadir: the top of the image points east.
    e, n = offset(pose(yaw_deg=90.0), 640, 0)
    assert e == pytest.approx(480 / FY * H, abs=CM)
    assert abs(n) < CM
    # Heading east, gimbal 45 deg down: the centre is H metres east.
    e, n = offset(pose(yaw_deg=90.0, gimbal_pitch_deg=-45.0), 640, 480)
    assert e == pytest.approx(H, abs=CM)
    assert abs(n) < CM
    # Vehicle yaw and gimbal yaw add up (heading 200 + gimbal 70 = looking west).
    e, n = offset(pose(yaw_deg=200.0, gimbal_yaw_deg=70.0, gimbal_pitch_deg=-45.0), 640, 480)
    assert e == pytest.approx(-H, abs=CM)
    assert abs(n) < CM


def test_hard_mounted_camera_follows_vehicle_attitude() -> None:
    # Nose 10 deg down + camera 80 deg down on the airframe = looking straight down.
    e, n = offset(pose(pitch_deg=-10.0, gimbal_pitch_deg=-80.0), 640, 480, stabilized=False)
    assert abs(e) < CM and abs(n) < CM
    # Right wing down by 10 deg tilts a belly camera to the left (west when heading north).
    e, n = offset(pose(roll_deg=10.0), 640, 480, stabilized=False)
    assert e == pytest.approx(-H * math.tan(math.radians(10.0)), abs=CM)
    assert abs(n) < CM
    # A stabilised gimbal ignores the roll.
    e, n = offset(pose(roll_deg=10.0), 640, 480)
    assert abs(e) < CM and abs(n) < CM


def test_ground_elevation_sets_the_height() -> None:
    # Camera 105 m AMSL over ground at 75 m AMSL: 30 m up, so half the nadir offsets.
    p = pose()
    lon, lat = pixel_to_ground(0, 0, p, CAM, ground_alt_amsl_m=75.0)
    e, n = LocalFrame(p.lon, p.lat).to_local(float(lon), float(lat))
    assert e == pytest.approx(-640 / FX * 30.0, abs=CM)
    assert n == pytest.approx(480 / FY * 30.0, abs=CM)


def test_box_footprint_polygon_and_uncertainty() -> None:
    p = pose()
    box = Box("illegal_construction", 0.9, 600, 440, 680, 520)
    fix = box_footprint(box, p, CAM)
    lon, lat, ring, unc = fix
    frame = LocalFrame(p.lon, p.lat)
    e, n = frame.to_local(lon, lat)
    assert abs(e) < CM and abs(n) < CM
    assert len(ring) == 5 and ring[0] == ring[-1]
    xs = [frame.to_local(*pt)[0] for pt in ring]
    ys = [frame.to_local(*pt)[1] for pt in ring]
    assert max(xs) - min(xs) == pytest.approx(80 / FX * H, abs=CM)
    assert max(ys) - min(ys) == pytest.approx(80 / FY * H, abs=CM)
    # Uncertainty: about 95 % radius, metres; grows with altitude and with obliqueness.
    assert 1.0 < unc < 10.0
    higher = box_footprint(box, pose(alt_agl_m=120.0), CAM).uncertainty_m
    oblique = box_footprint(box, pose(gimbal_pitch_deg=-45.0), CAM).uncertainty_m
    assert higher > unc and oblique > unc


def test_resized_frame_scales_intrinsics() -> None:
    p = pose()
    full = offset(p, 0, 0)
    half = offset(p, 0, 0, image_size=(640, 480))
    assert full == pytest.approx(half, abs=CM)


def test_ray_above_horizon_is_refused() -> None:
    with pytest.raises(GeorefError, match="does not meet the ground"):
        pixel_to_ground(640, 0, pose(gimbal_pitch_deg=-10.0), CAM)
    with pytest.raises(GeorefError, match="above the ground"):
        pixel_to_ground(640, 480, pose(alt_agl_m=0.0), CAM)
