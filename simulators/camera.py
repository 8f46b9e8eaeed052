"""Synthetic camera: the frame a pinhole camera sees of a synthetic world from a pose.

The ground is flat (the launch point's height), so each pixel's ray meets it where a
homography says; the frame is the world's ground texture warped by that homography (one
bilinear resampling in C, OpenCV when installed, else Pillow), from the texture level that
matches each pixel's ground footprint (oblique frames are stitched from bands of levels).
Then what a real small camera adds, varying per frame but seeded by the pose: cloud shadows,
exposure and white balance, gamma, haze with distance, vignetting, motion or focus blur,
sensor noise and JPEG compression.

Geometry conventions (the same as :mod:`vision.georef`): vehicle yaw clockwise from north,
pitch nose-up positive, roll right-wing-down positive, applied Z-Y-X; gimbal pitch -90 looks
straight down, 0 at the horizon, gimbal yaw relative to the nose; a stabilised gimbal (the
default) ignores vehicle roll and pitch. Image x right, y down, pixel (row i, column j)
centred at (j + 0.5, i + 0.5); at nadir with yaw 0 the top of the image is north.
"""

from __future__ import annotations

import importlib
import io
import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from PIL import Image, ImageChops

from simulators.world import World
from simulators.world.objects import hash_id
from simulators.world.raster import coarse_bank

_cv2: Any
try:  # optional: a faster warp (see _warp)
    _cv2 = importlib.import_module("cv2")
except ImportError:  # pragma: no cover - depends on the installed extras
    _cv2 = None

__all__ = ["CameraError", "Frame", "SyntheticCamera", "camera_rotation", "project_points"]

F64 = NDArray[np.float64]


class CameraError(ValueError):
    """A pose or camera the synthetic camera cannot render."""


@dataclass
class Frame:
    """One rendered frame: RGB image (H x W x 3 uint8), the pose and time it was taken at.

    ``jpeg`` holds the compressed bytes the image was decoded from (what a real camera
    would store), so evidence can carry the very bytes the detector saw.
    """

    image: NDArray[np.uint8]
    pose: Any  # telemetry.contract.CameraPose
    time: datetime
    jpeg: bytes | None = None


def _rx(a: float) -> F64:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> F64:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> F64:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# Camera axes (x right, y down, z optical axis) in the gimbal frame (forward, right, down).
_GIMBAL_FROM_CAMERA = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def camera_rotation(pose: Any, stabilized: bool = True) -> F64:
    """Rotation taking camera-frame vectors to local north-east-down."""
    r, p, y = (
        math.radians(pose.roll_deg),
        math.radians(pose.pitch_deg),
        math.radians(pose.yaw_deg),
    )
    gp, gy = math.radians(pose.gimbal_pitch_deg), math.radians(pose.gimbal_yaw_deg)
    if stabilized:
        ned_from_gimbal = _rz(y + gy) @ _ry(gp)
    else:
        ned_from_gimbal = _rz(y) @ _ry(p) @ _rx(r) @ _rz(gy) @ _ry(gp)
    return np.asarray(ned_from_gimbal @ _GIMBAL_FROM_CAMERA)


def intrinsics(camera_model: Any) -> F64:
    """The 3x3 pinhole matrix K of a ``missions.camera.CameraModel`` (pixel-edge coords)."""
    w, h = camera_model.image_width_px, camera_model.image_height_px
    fx = camera_model.focal_length_mm / camera_model.sensor_width_mm * w
    fy = camera_model.focal_length_mm / camera_model.sensor_height_mm * h
    return np.array([[fx, 0.0, w / 2.0], [0.0, fy, h / 2.0], [0.0, 0.0, 1.0]])


def project_points(
    xy_local: F64,
    camera_xy: tuple[float, float],
    height_m: float,
    rotation: F64,
    k: F64,
) -> tuple[F64, F64]:
    """Project ground points (N, 2 local east/north metres) into the image.

    Returns ``(uv, depth)``: pixel coordinates (N, 2) and depth along the optical axis (N);
    points with depth <= 0 are behind the camera and their ``uv`` is meaningless.
    """
    xy = np.asarray(xy_local, dtype=np.float64).reshape(-1, 2)
    ned = np.column_stack(
        [xy[:, 1] - camera_xy[1], xy[:, 0] - camera_xy[0], np.full(len(xy), height_m)]
    )
    cam = ned @ rotation  # rotation.T @ v for each row
    depth = cam[:, 2]
    safe = np.where(np.abs(depth) < 1e-9, 1e-9, depth)
    uv = (cam[:, :2] / safe[:, None]) * np.array([k[0, 0], k[1, 1]]) + np.array([k[0, 2], k[1, 2]])
    return uv, depth


@lru_cache(maxsize=8)
def _vignette_u8(w: int, h: int) -> NDArray[np.uint8]:
    """Lens falloff (12 % at the corners) as a 3-channel 0-255 multiplier."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    v = (np.clip(1.0 - 0.06 * r2, 0, 1) * 255).round().astype(np.uint8)
    return np.ascontiguousarray(np.repeat(v[:, :, None], 3, axis=2))


@lru_cache(maxsize=12)
def _noise_banks(w: int, h: int, sigma: float) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Sensor noise of ``sigma`` levels split in positive and negative parts (saturating
    adds), twice as tall as a frame so each frame takes a window at a random row."""
    rng = np.random.default_rng(4242 + int(sigma * 10))
    n = np.clip(rng.normal(0.0, sigma, (2 * h, w, 3)).round(), -255, 255)
    pos = np.ascontiguousarray(np.clip(n, 0, 255).astype(np.uint8))
    neg = np.ascontiguousarray(np.clip(-n, 0, 255).astype(np.uint8))
    return pos, neg


class SyntheticCamera:
    """Renders frames of ``world`` as seen by ``camera_model`` from a ``CameraPose``.

    ``site_frame`` is accepted for symmetry with the site API but must be the world's own
    frame (the site's): poses are converted with it to the world's local metres. ``seed``
    makes per-frame effects repeatable: the same seed and pose give the same image.
    ``effects=False`` turns off everything after the geometric warp (lighting, haze, blur,
    noise) and ``jpeg=False`` the compression, for tests and clean previews.
    ``max_range_m`` limits how far an oblique view shows ground; beyond it is haze and sky.
    """

    def __init__(
        self,
        world: World,
        camera_model: Any,
        site_frame: Any | None = None,
        seed: int = 0,
        *,
        stabilized: bool = True,
        effects: bool = True,
        jpeg: bool = True,
        max_range_m: float = 400.0,
    ) -> None:
        self.world = world
        self.camera_model = camera_model
        if site_frame is not None and hasattr(site_frame, "lon0"):
            # The world's coordinates are in its own frame; another origin would misplace
            # every pixel, so only the same frame (e.g. a fresh ``site.frame``) is accepted.
            same = (
                abs(site_frame.lon0 - world.frame.lon0) < 1e-9
                and abs(site_frame.lat0 - world.frame.lat0) < 1e-9
            )
            if not same:
                raise CameraError(
                    f"site_frame={site_frame!r}: must be the world's frame ({world.frame!r}); "
                    "leave it out to use the world's"
                )
        self.frame = world.frame
        self.seed = int(seed)
        self.stabilized = stabilized
        self.effects = effects
        self.jpeg = jpeg
        self.max_range_m = float(max_range_m)
        self.k = intrinsics(camera_model)
        self.size = (int(camera_model.image_width_px), int(camera_model.image_height_px))

    # --- geometry --------------------------------------------------------------------------

    def geometry(self, pose: Any) -> tuple[tuple[float, float], float, F64]:
        """Camera position (local x, y), height above ground and rotation for ``pose``."""
        h = float(pose.alt_agl_m)
        if not math.isfinite(h) or h <= 0.5:
            raise CameraError(
                f"pose.alt_agl_m={pose.alt_agl_m!r}: the camera must be above the ground "
                "(more than 0.5 m) to render a frame"
            )
        x, y = self.frame.to_local(pose.lon, pose.lat)
        return (float(x), float(y)), h, camera_rotation(pose, self.stabilized)

    def project(self, pose: Any, xy_local: F64) -> tuple[F64, F64]:
        """Pixel coordinates and depths of ground points (local metres) in a frame at ``pose``."""
        c, h, rot = self.geometry(pose)
        return project_points(xy_local, c, h, rot, self.k)

    # --- rendering -------------------------------------------------------------------------

    def render(self, pose: Any) -> Frame:
        """The frame seen from ``pose`` (a ``telemetry.contract.CameraPose``)."""
        (cx, cy), h, rot = self.geometry(pose)
        w, hh = self.size
        m = rot @ np.linalg.inv(self.k)  # pixel (u, v, 1) -> ray in NED
        rng = np.random.default_rng([self.seed, _pose_key(pose)])

        # Does the frame reach the horizon (or beyond the visibility range)?
        far = self.max_range_m
        corners = np.array([[0.0, 0.0, 1.0], [w, 0.0, 1.0], [0.0, hh, 1.0], [w, hh, 1.0]])
        sees_sky = bool(np.any((m @ corners.T)[2] <= h / far))
        v_start = 0
        min_down = h / (far * 1.5)
        if sees_sky:
            # Rows at or above the horizon cannot be expressed by Pillow's normalised
            # homography; start the warp below the horizon and fill the rest with sky.
            v_h = _horizon_rows(m, w, hh, min_down)
            v_start = int(min(hh, max(0, math.ceil(v_h))))
        image = np.zeros((hh, w, 3), np.uint8)
        if v_start < hh:
            bands = self._bands(m, h, v_start, min_down)
            for band in bands:
                self._render_band(image, band, m, (cx, cy), h, sees_sky, len(bands) == 1)
        sky = np.array([200, 212, 228], np.float32) * rng.uniform(0.9, 1.05)
        if v_start > 0:
            image[:v_start] = sky.astype(np.uint8)
        if self.effects:
            image = self._effects(image, rng, m, h, sees_sky, sky, pose)
        jpeg_bytes = None
        if self.jpeg:
            buf = io.BytesIO()
            q = int(rng.integers(60, 96)) if self.effects else 95
            Image.fromarray(image, "RGB").save(buf, "JPEG", quality=q)
            jpeg_bytes = buf.getvalue()
            image = np.asarray(Image.open(io.BytesIO(jpeg_bytes)).convert("RGB"))
        return Frame(image=image, pose=pose, time=pose.time, jpeg=jpeg_bytes)

    def _bands(
        self, m: F64, h: float, v_start: int, min_down: float
    ) -> list[tuple[int, float, float]]:
        """Mip bands of a frame: (level, lowest down, highest down) of the ray's down
        component, which is linear in the pixel, so band borders are straight lines.

        A pixel's ground footprint grows as its ray flattens; texture level l serves pixels
        whose footprint is up to twice its pixel size, so oblique frames take near ground
        from fine levels and far ground from coarse ones (no moire, smaller crops), and a
        nadir frame is one band.
        """
        w, hh = self.size
        s0 = self.world.raster.resolution_m
        f = max(self.k[0, 0], self.k[1, 1])
        norm_c = float(np.linalg.norm(m @ np.array([w / 2, hh / 2, 1.0])))

        def threshold(level: int) -> float:
            # Rays with down >= threshold(l) see ground finer than 2 texels of level l.
            return h * norm_c / (f * 2.0 * s0 * (1 << level))

        corners = np.array([[0.0, v_start, 1.0], [w, v_start, 1.0], [0.0, hh, 1.0], [w, hh, 1.0]])
        downs = (m @ corners.T)[2]
        hi_all = float(downs.max())
        lo_all = max(float(downs.min()), min_down)

        def level_of(down: float) -> int:
            level = 0
            while level < 6 and down < threshold(level):
                level += 1
            return level

        near, far_level = level_of(hi_all), level_of(lo_all)
        bands = []
        for level in range(near, far_level + 1):
            hi = math.inf if level == near else threshold(level - 1)
            lo = min_down if level == far_level else threshold(level)
            bands.append((level, lo, hi))
        return bands

    def _render_band(
        self,
        image: NDArray[np.uint8],
        band: tuple[int, float, float],
        m: F64,
        camera_xy: tuple[float, float],
        h: float,
        sees_sky: bool,
        single: bool,
    ) -> None:
        """Warp the ground texture into the pixels of one band (in place); a ``single``
        band is the whole frame below the horizon, written without a mask."""
        level, lo, hi = band
        w, hh = self.size
        cx, cy = camera_xy
        far = self.max_range_m
        raster = self.world.raster
        # The band's pixels: the image rectangle between two lines of constant down.
        poly = [(0.0, 0.0), (float(w), 0.0), (float(w), float(hh)), (0.0, float(hh))]
        poly = _clip_halfplane(poly, m[2, 0], m[2, 1], m[2, 2] - lo)
        if math.isfinite(hi):
            poly = _clip_halfplane(poly, -m[2, 0], -m[2, 1], hi - m[2, 2])
        if len(poly) < 3:
            return
        pts = np.array(poly)
        u0 = max(0, math.floor(pts[:, 0].min()) - 1)
        u1 = min(w, math.ceil(pts[:, 0].max()) + 1)
        v0 = max(0, math.floor(pts[:, 1].min()) - 1)
        v1 = min(hh, math.ceil(pts[:, 1].max()) + 1)
        if u1 <= u0 or v1 <= v0:
            return
        # Ground under the band's outline (reach capped at the visibility range); edges
        # densified so the hull follows the arc where the range caps the view.
        t = np.linspace(0.0, 1.0, 12, endpoint=False)[:, None]
        dense = np.vstack(
            [pts[i] + t * (pts[(i + 1) % len(pts)] - pts[i]) for i in range(len(pts))]
        )
        d = m @ np.column_stack([dense, np.ones(len(dense))]).T
        down = np.maximum(d[2], 1e-9)
        horiz = np.hypot(d[0], d[1])
        reach = np.minimum(h * horiz / down, far)
        unit = np.where(horiz > 1e-12, 1.0 / np.maximum(horiz, 1e-12), 0.0)
        gx = cx + d[1] * unit * reach
        gy = cy + d[0] * unit * reach
        ext = max(gx.max() - gx.min(), gy.max() - gy.min())
        while level < 6 and ext / raster.pixel_size(level) > 4000:
            level += 1
        s = raster.pixel_size(level)
        pad = 2.0 * s + 0.5
        r0f, c0f = raster.to_pixel(level, gx.min() - pad, gy.max() + pad)
        r1f, c1f = raster.to_pixel(level, gx.max() + pad, gy.min() - pad)
        r0, c0 = math.floor(r0f), math.floor(c0f)
        r1, c1 = math.ceil(r1f), math.ceil(c1f)
        # Only tiles under the band's ground footprint are needed (plus a bilinear margin);
        # chords between outline points cut the arc at max range: pad by a few percent.
        cols = (gx - raster.x0) / s
        rows = (raster.y1 - gy) / s
        hull = shapely.convex_hull(shapely.multipoints(np.column_stack([cols, rows])))
        needed = hull.buffer(3.0 + (0.02 * far / s if sees_sky else 0.0))
        crop = raster.crop(level, r0, c0, r1, c1, needed=needed)

        # Homography: output pixel (u, v) -> crop (col, row), see the module docstring.
        x_left = raster.x0 + c0 * s
        y_top = raster.y1 - r0 * s
        hom = np.vstack(
            [
                (h / s) * m[1] + ((cx - x_left) / s) * m[2],
                -(h / s) * m[0] + ((y_top - cy) / s) * m[2],
                m[2],
            ]
        )
        shift = np.array([[1.0, 0.0, u0], [0.0, 1.0, v0], [0.0, 0.0, 1.0]])
        warped = _warp(crop, hom @ shift, (u1 - u0, v1 - v0))
        if single:
            image[v0:v1, u0:u1] = warped
            return
        uu = (m[2, 0] * (np.arange(u0, u1) + 0.5) + m[2, 2]).astype(np.float32)[None, :]
        vv = (m[2, 1] * (np.arange(v0, v1) + 0.5)).astype(np.float32)[:, None]
        dn = uu + vv
        mask = dn >= lo
        if math.isfinite(hi):
            mask &= dn < hi
        np.copyto(image[v0:v1, u0:u1], warped, where=mask[:, :, None])

    def _effects(
        self,
        image: NDArray[np.uint8],
        rng: np.random.Generator,
        m: F64,
        h: float,
        sees_sky: bool,
        sky: NDArray[np.float32],
        pose: Any,
    ) -> NDArray[np.uint8]:
        w, hh = self.size
        if sees_sky or pose.gimbal_pitch_deg > -60:
            # Haze grows with distance along the ray; matters only for oblique views.
            vv = (np.arange(0, hh, 4, dtype=np.float64) + 0.5)[:, None]
            uu = (np.arange(0, w, 4, dtype=np.float64) + 0.5)[None, :]
            down = m[2, 0] * uu + m[2, 1] * vv + m[2, 2]
            norm = np.sqrt(
                (m[0, 0] * uu + m[0, 1] * vv + m[0, 2]) ** 2
                + (m[1, 0] * uu + m[1, 1] * vv + m[1, 2]) ** 2
                + down**2
            )
            dist = np.where(down > 1e-9, h * norm / np.maximum(down, 1e-9), np.inf)
            frac = 1.0 - np.exp(-dist / rng.uniform(600, 1500))
            frac = np.where(dist > self.max_range_m, 1.0, frac).astype(np.float32)
            fr = (
                np.asarray(
                    Image.fromarray((frac * 255).astype(np.uint8), "L").resize(
                        (w, hh), Image.Resampling.BILINEAR
                    ),
                    np.float32,
                )
                / 255.0
            )
            image = _blend_towards(image, sky, fr)
        if rng.uniform() < 0.3:
            # Cloud shadows: soft darker patches tens of metres across.
            image = _multiply(image, _cloud_shadow(rng, w, hh))
        # Exposure, white balance and gamma in one lookup table.
        gain = rng.uniform(0.8, 1.2) * rng.uniform(0.94, 1.06, 3)
        gamma = rng.uniform(0.85, 1.15)
        x = np.arange(256, dtype=np.float64) / 255.0
        lut = np.stack([np.clip((x**gamma) * g * 255.0, 0, 255) for g in gain], axis=1)
        lut_u8 = lut.round().astype(np.uint8)
        blur = rng.uniform()
        kern: F64 | None = None
        sigma = 0.0
        if blur < 0.35:
            # Motion blur along the direction of flight (image up at zero gimbal yaw).
            n = int(rng.integers(2, 5))
            kern = np.zeros((5, 5))
            a = math.radians(-pose.gimbal_yaw_deg) + rng.normal(0, 0.2)
            for t in np.linspace(-(n - 1) / 2, (n - 1) / 2, n):
                kern[round(2 - t * math.cos(a)), round(2 + t * math.sin(a))] += 1
            kern /= kern.sum()
        elif blur < 0.55:
            sigma = float(rng.uniform(0.4, 1.1))
        off = int(rng.integers(0, hh))
        noise_sigma = (1.5, 3.0, 5.0)[int(rng.integers(0, 3))]
        if _cv2 is not None:
            return _effects_cv2(image, lut_u8, kern, sigma, noise_sigma, off)
        return _effects_pil(image, lut_u8, kern, sigma, noise_sigma, off)


def _cloud_shadow(rng: np.random.Generator, w: int, hh: int) -> NDArray[np.uint8]:
    """A 0-255 multiplier: smooth noise thresholded into soft-edged shadow patches."""
    bank = coarse_bank()
    r0, c0 = int(rng.integers(0, bank.shape[0])), int(rng.integers(0, bank.shape[1]))
    rows = np.arange(r0, r0 + 7) % bank.shape[0]
    cols = np.arange(c0, c0 + 9) % bank.shape[1]
    field = bank[np.ix_(rows, cols)]
    edge = rng.uniform(-0.5, 1.0)
    cover = np.clip((field - edge) / 0.8, 0.0, 1.0)
    factor = 1.0 - rng.uniform(0.2, 0.45) * cover
    small = Image.fromarray((factor * 255).round().astype(np.uint8), "L")
    big = np.asarray(small.resize((w, hh), Image.Resampling.BICUBIC))
    return np.ascontiguousarray(np.repeat(big[:, :, None], 3, axis=2))


def _blend_towards(
    image: NDArray[np.uint8], colour: NDArray[np.float32], weight: NDArray[np.float32]
) -> NDArray[np.uint8]:
    """image * (1 - weight) + colour * weight, per pixel weight (H x W, 0-1)."""
    if _cv2 is not None:
        flat = np.empty_like(image)
        flat[:] = np.clip(colour, 0, 255).astype(np.uint8)
        out = _cv2.blendLinear(image, flat, np.ascontiguousarray(1.0 - weight), weight)
        return np.asarray(out, dtype=np.uint8)
    fr = weight[:, :, None]
    return np.asarray((image * (1 - fr) + colour * fr).astype(np.uint8))


def _multiply(image: NDArray[np.uint8], factor: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """image * factor / 255, saturating, for a 3-channel 0-255 factor."""
    if _cv2 is not None:
        return np.asarray(_cv2.multiply(image, factor, scale=1.0 / 255.0), dtype=np.uint8)
    out = ImageChops.multiply(Image.fromarray(image, "RGB"), Image.fromarray(factor, "RGB"))
    return np.asarray(out)


def _effects_cv2(
    image: NDArray[np.uint8],
    lut: NDArray[np.uint8],
    kern: F64 | None,
    sigma: float,
    noise_sigma: float,
    off: int,
) -> NDArray[np.uint8]:
    """Lighting, vignetting, blur and noise with OpenCV (saturating uint8 arithmetic)."""
    hh, w = image.shape[:2]
    out = _cv2.LUT(image, lut.reshape(256, 1, 3))
    out = _cv2.multiply(out, _vignette_u8(w, hh), scale=1.0 / 255.0)
    if kern is not None:
        out = _cv2.filter2D(out, -1, kern.astype(np.float32))
    elif sigma > 0:
        out = _cv2.GaussianBlur(out, (0, 0), sigma)
    pos, neg = _noise_banks(w, hh, noise_sigma)
    out = _cv2.add(out, pos[off : off + hh])
    out = _cv2.subtract(out, neg[off : off + hh])
    return np.asarray(out, dtype=np.uint8)


def _effects_pil(
    image: NDArray[np.uint8],
    lut: NDArray[np.uint8],
    kern: F64 | None,
    sigma: float,
    noise_sigma: float,
    off: int,
) -> NDArray[np.uint8]:
    """The same effects with Pillow and numpy (when OpenCV is not installed)."""
    hh, w = image.shape[:2]
    pil = Image.fromarray(image, "RGB").point(lut.T.ravel().tolist())
    pil = ImageChops.multiply(pil, Image.fromarray(_vignette_u8(w, hh), "RGB"))
    out = np.asarray(pil).astype(np.int16)
    # Pillow's kernel and Gaussian filters cost several times more than these numpy
    # equivalents: a line average along the kernel's direction, a separable 1-2-1 blur.
    if kern is not None:
        out = _line_blur(out, kern)
    elif sigma > 0:
        out = _binomial_blur(out, max(1, round(sigma / 0.7)))
    pos, neg = _noise_banks(w, hh, noise_sigma)
    out += pos[off : off + hh]
    out -= neg[off : off + hh]
    return np.asarray(np.clip(out, 0, 255).astype(np.uint8))


def _line_blur(img: NDArray[np.int16], kern: F64) -> NDArray[np.int16]:
    """Average of the image shifted to each non-zero tap of a 5 x 5 line kernel."""
    acc = np.zeros_like(img, dtype=np.int32)
    taps = np.argwhere(kern > 0)
    for r, c in taps:
        acc += np.roll(img, (int(r) - 2, int(c) - 2), axis=(0, 1))
    return np.asarray(acc // len(taps), dtype=np.int16)


def _binomial_blur(img: NDArray[np.int16], passes: int) -> NDArray[np.int16]:
    """Separable [1, 2, 1] / 4 blur, ``passes`` times (about sigma 0.7 per pass)."""
    out = img.astype(np.int32)
    for _ in range(passes):
        out = (np.roll(out, 1, axis=0) + 2 * out + np.roll(out, -1, axis=0)) // 4
        out = (np.roll(out, 1, axis=1) + 2 * out + np.roll(out, -1, axis=1)) // 4
    return np.asarray(out, dtype=np.int16)


def _warp(src: NDArray[np.uint8], hom: F64, size: tuple[int, int]) -> NDArray[np.uint8]:
    """Bilinear perspective warp: output pixel (u, v) samples ``src`` at hom @ (u, v, 1).

    Both sides in pixel-edge coordinates (pixel centres at +0.5). OpenCV does this about
    four times faster than Pillow; it is used when installed (it comes with the ``train``
    extra), otherwise Pillow. Either is deterministic for the same inputs.
    """
    if _cv2 is not None:
        to_centre = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
        from_centre = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
        m = to_centre @ hom @ from_centre
        out = _cv2.warpPerspective(
            src,
            m,
            size,
            flags=_cv2.INTER_LINEAR | _cv2.WARP_INVERSE_MAP,
            borderMode=_cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
        return np.asarray(out, dtype=np.uint8)
    coeffs = (hom / hom[2, 2]).ravel()[:8]
    warped = Image.fromarray(src, "RGB").transform(
        size,
        Image.Transform.PERSPECTIVE,
        tuple(coeffs.tolist()),
        Image.Resampling.BILINEAR,
    )
    return np.asarray(warped)


def _clip_halfplane(
    poly: list[tuple[float, float]], a: float, b: float, c: float
) -> list[tuple[float, float]]:
    """Clip a convex polygon to a*u + b*v + c >= 0 (Sutherland-Hodgman, one edge)."""
    out: list[tuple[float, float]] = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        fp = a * p[0] + b * p[1] + c
        fq = a * q[0] + b * q[1] + c
        if fp >= 0:
            out.append(p)
        if (fp >= 0) != (fq >= 0):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def _horizon_rows(m: F64, w: int, hh: int, min_down: float) -> float:
    """The lowest image row (at either side) whose ray is still at or above ``min_down``."""
    worst = 0.0
    for u in (0.0, float(w)):
        # down(u, v) = m20 u + m21 v + m22 ; solve down = min_down for v.
        if abs(m[2, 1]) < 1e-12:
            if m[2, 0] * u + m[2, 2] <= min_down:
                return float(hh)
            continue
        v = (min_down - m[2, 0] * u - m[2, 2]) / m[2, 1]
        if m[2, 1] > 0:
            worst = max(worst, v)
        else:
            return float(hh)
    return worst


def _pose_key(pose: Any) -> int:
    text = (
        f"{pose.time.timestamp():.6f}|{pose.lat:.8f}|{pose.lon:.8f}|{pose.alt_agl_m:.3f}|"
        f"{pose.yaw_deg:.3f}|{pose.pitch_deg:.3f}|{pose.roll_deg:.3f}|{pose.gimbal_pitch_deg:.3f}"
    )
    return hash_id(text)
