"""Georeferencing: from a pixel in a frame to a place on the ground.

A ray leaves the camera through the pixel (pinhole intrinsics from the camera model), is
turned into the local north-east-down frame by the vehicle's attitude and the gimbal's
angles, and meets flat ground at the site's elevation. Conventions (the ones ArduPilot and
the synthetic camera use):

* vehicle attitude: yaw clockwise from north, pitch nose-up positive, roll right-wing-down
  positive, applied Z-Y-X;
* gimbal: pitch -90 deg looks straight down, 0 looks at the horizon; yaw relative to the
  vehicle's nose. A stabilised gimbal (the default) holds its pitch against the horizon, so
  only the vehicle's yaw moves it; an unstabilised (hard-mounted) camera follows roll and
  pitch too;
* image: x right, y down; at nadir with yaw 0 the top of the image points north.

Errors are propagated to an uncertainty radius by finite differences over the pose inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from missions.camera import CameraModel
from telemetry.contract import CameraPose
from vision.detector import Box
from vision.errors import VisionError

__all__ = [
    "GeorefError",
    "GroundFix",
    "PoseErrors",
    "box_footprint",
    "camera_rotation",
    "footprint_geojson",
    "ground_offsets",
    "pixel_to_ground",
]


class GeorefError(VisionError):
    """A pixel whose ray never meets the ground, or a pose that cannot be used."""


@dataclass(frozen=True)
class PoseErrors:
    """One-sigma errors of the pose inputs, propagated into the uncertainty radius."""

    alt_m: float = 1.0
    roll_deg: float = 1.0
    pitch_deg: float = 1.0
    yaw_deg: float = 2.0
    gimbal_pitch_deg: float = 0.5
    horizontal_m: float = 1.0  # GNSS position
    pixel: float = 2.0  # box centre on the image
    # 2D: about 95 % of fixes lie within 2.45 sigma (chi-square, 2 degrees of freedom).
    coverage: float = 2.45


class GroundFix(NamedTuple):
    """Where a box lies on the ground (unpacks as ``lon, lat, footprint, uncertainty_m``)."""

    lon: float
    lat: float
    footprint: list[tuple[float, float]]  # closed ring of (lon, lat)
    uncertainty_m: float


def _rx(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# Camera axes (x right, y down, z optical axis) expressed in the gimbal frame
# (forward, right, down) when the gimbal points at the horizon straight ahead.
_GIMBAL_FROM_CAMERA = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def camera_rotation(
    roll_deg: float,
    pitch_deg: float,
    yaw_deg: float,
    gimbal_pitch_deg: float = -90.0,
    gimbal_yaw_deg: float = 0.0,
    stabilized: bool = True,
) -> np.ndarray:
    """Rotation taking camera-frame vectors to local north-east-down."""
    r, p, y = math.radians(roll_deg), math.radians(pitch_deg), math.radians(yaw_deg)
    gp, gy = math.radians(gimbal_pitch_deg), math.radians(gimbal_yaw_deg)
    if stabilized:
        ned_from_gimbal = _rz(y + gy) @ _ry(gp)
    else:
        ned_from_gimbal = _rz(y) @ _ry(p) @ _rx(r) @ _rz(gy) @ _ry(gp)
    return ned_from_gimbal @ _GIMBAL_FROM_CAMERA


def _intrinsics(camera: CameraModel, image_size: tuple[int, int] | None) -> tuple[float, ...]:
    w, h = image_size if image_size is not None else (camera.image_width_px, camera.image_height_px)
    fx = camera.focal_length_mm / camera.sensor_width_mm * w
    fy = camera.focal_length_mm / camera.sensor_height_mm * h
    return fx, fy, w / 2.0, h / 2.0


def ground_offsets(
    u: np.ndarray,
    v: np.ndarray,
    height_m: float,
    rotation: np.ndarray,
    intrinsics: tuple[float, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """(east, north) metres from the camera to where pixel rays ``(u, v)`` meet the ground.

    ``height_m`` is the camera's height above the ground plane.
    """
    fx, fy, cx, cy = intrinsics
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    d_cam = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], axis=0)
    d = rotation @ d_cam.reshape(3, -1)
    down = d[2]
    # A ray at or above the horizon (or nearly so: hits kilometres away) has no ground fix.
    if np.any(down <= 1e-3):
        raise GeorefError(
            "pixel: the ray through this pixel does not meet the ground (at or above the "
            "horizon); tilt the gimbal further down"
        )
    t = height_m / down
    north = (t * d[0]).reshape(u.shape)
    east = (t * d[1]).reshape(u.shape)
    return east, north


@lru_cache(maxsize=64)
def _frame_at(lon0: float, lat0: float) -> Any:
    from missions.frame import LocalFrame

    return LocalFrame(lon0, lat0)


def _to_lonlat(
    pose: CameraPose, east: np.ndarray, north: np.ndarray, frame: Any | None
) -> tuple[np.ndarray, np.ndarray]:
    if frame is None:
        # A frame near the vehicle keeps projection distortion far below a centimetre; the
        # origin is rounded so a survey reuses a handful of frames instead of one per pose.
        frame = _frame_at(round(pose.lon, 2), round(pose.lat, 2))
    x0, y0 = frame.to_local(pose.lon, pose.lat)
    lon, lat = frame.to_wgs84(np.asarray(east) + x0, np.asarray(north) + y0)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def _height(pose: CameraPose, ground_alt_amsl_m: float | None) -> float:
    if ground_alt_amsl_m is None:
        h = float(pose.alt_agl_m)
    else:
        h = float(pose.alt_amsl_m) - float(ground_alt_amsl_m)
    if not h > 0.0:
        raise GeorefError(
            f"pose: camera height above ground is {h:.2f} m; georeferencing needs the camera "
            "above the ground plane (check alt_agl_m / ground_alt_amsl_m)"
        )
    return h


def _pose_angles(pose: CameraPose) -> dict[str, float]:
    return {
        "roll_deg": float(pose.roll_deg),
        "pitch_deg": float(pose.pitch_deg),
        "yaw_deg": float(pose.yaw_deg),
        "gimbal_pitch_deg": float(getattr(pose, "gimbal_pitch_deg", -90.0)),
        "gimbal_yaw_deg": float(getattr(pose, "gimbal_yaw_deg", 0.0)),
    }


def pixel_to_ground(
    u: float | np.ndarray,
    v: float | np.ndarray,
    pose: CameraPose,
    camera: CameraModel,
    ground_alt_amsl_m: float | None = None,
    image_size: tuple[int, int] | None = None,
    stabilized: bool = True,
    frame: Any | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) where pixel(s) ``(u, v)`` of a frame taken at ``pose`` meet flat ground.

    ``image_size`` (w, h) is the frame's size if it differs from the camera model's (a
    resized frame: intrinsics scale with it). ``frame`` is a ``missions.frame.LocalFrame``
    to compute in (e.g. the site's); default one near the vehicle.
    """
    rot = camera_rotation(**_pose_angles(pose), stabilized=stabilized)
    east, north = ground_offsets(
        np.asarray(u), np.asarray(v), _height(pose, ground_alt_amsl_m), rot,
        _intrinsics(camera, image_size),
    )  # fmt: skip
    return _to_lonlat(pose, east, north, frame)


def _uncertainty(
    u: float,
    v: float,
    pose: CameraPose,
    camera: CameraModel,
    height: float,
    intr: tuple[float, ...],
    stabilized: bool,
    errors: PoseErrors,
) -> float:
    angles = _pose_angles(pose)
    base = np.array(
        ground_offsets(
            np.array([u]), np.array([v]), height, camera_rotation(**angles, stabilized=stabilized),
            intr,
        )
    ).ravel()  # fmt: skip
    var = errors.horizontal_m**2
    perturb: list[tuple[str, float]] = [
        ("yaw_deg", errors.yaw_deg),
        ("gimbal_pitch_deg", errors.gimbal_pitch_deg),
    ]
    if stabilized:
        # A stabilised gimbal's pointing error is its own, but the vehicle's attitude
        # estimate still enters through the stabiliser: count roll/pitch error on the gimbal.
        perturb += [("gimbal_pitch_deg", errors.pitch_deg)]
        roll_axis = errors.roll_deg
    else:
        perturb += [("roll_deg", errors.roll_deg), ("pitch_deg", errors.pitch_deg)]
        roll_axis = 0.0
    for name, sigma in perturb:
        if sigma <= 0:
            continue
        a = dict(angles)
        a[name] += sigma
        try:
            moved = np.array(
                ground_offsets(
                    np.array([u]), np.array([v]), height,
                    camera_rotation(**a, stabilized=stabilized), intr,
                )
            ).ravel()  # fmt: skip
        except GeorefError:
            return math.inf
        var += float(np.sum((moved - base) ** 2))
    if roll_axis > 0:
        # Cross-track tilt of a stabilised gimbal: shifts the fix sideways by about
        # slant range x angle.
        slant = math.hypot(height, float(np.hypot(*base)))
        var += (slant * math.radians(roll_axis)) ** 2
    if errors.alt_m > 0:
        # Ground offsets scale linearly with height.
        var += float(np.sum((base * errors.alt_m / height) ** 2))
    if errors.pixel > 0:
        moved = np.array(
            ground_offsets(
                np.array([u + errors.pixel]), np.array([v + errors.pixel]), height,
                camera_rotation(**angles, stabilized=stabilized), intr,
            )
        ).ravel()  # fmt: skip
        var += float(np.sum((moved - base) ** 2))
    return errors.coverage * math.sqrt(var)


def box_footprint(
    box: Box,
    pose: CameraPose,
    camera_model: CameraModel,
    ground_alt_amsl_m: float | None = None,
    *,
    image_size: tuple[int, int] | None = None,
    stabilized: bool = True,
    errors: PoseErrors | None = None,
    frame: Any | None = None,
) -> GroundFix:
    """Ground position, footprint polygon and uncertainty radius (m) of a detection box.

    The position is where the box centre's ray meets the ground; the footprint is the box's
    four corners on the ground (a closed lon/lat ring); the uncertainty radius covers about
    95 % of the error from altitude, attitude, GNSS and pixel errors in ``errors``.
    """
    errors = errors or PoseErrors()
    height = _height(pose, ground_alt_amsl_m)
    intr = _intrinsics(camera_model, image_size)
    rot = camera_rotation(**_pose_angles(pose), stabilized=stabilized)
    uc, vc = (box.x1 + box.x2) / 2.0, (box.y1 + box.y2) / 2.0
    us = np.array([uc, box.x1, box.x2, box.x2, box.x1])
    vs = np.array([vc, box.y1, box.y1, box.y2, box.y2])
    east, north = ground_offsets(us, vs, height, rot, intr)
    lon, lat = _to_lonlat(pose, east, north, frame)
    ring = [(float(lon[i]), float(lat[i])) for i in (1, 2, 3, 4, 1)]
    unc = _uncertainty(uc, vc, pose, camera_model, height, intr, stabilized, errors)
    return GroundFix(float(lon[0]), float(lat[0]), ring, unc)


def footprint_geojson(ring: list[tuple[float, float]]) -> dict[str, Any]:
    """A footprint ring as a GeoJSON Polygon geometry (lon, lat order)."""
    return {"type": "Polygon", "coordinates": [[[lon, lat] for lon, lat in ring]]}
