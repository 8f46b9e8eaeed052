"""The synthetic camera: planted objects appear where the pinhole model says, frames repeat
for a seed and pose, oblique views show sky, and a 1280x960 frame renders quickly."""

from __future__ import annotations

import io
import math
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from shapely.geometry import Polygon

from missions.camera import CameraModel
from missions.frame import LocalFrame
from missions.site import load_site
from simulators.camera import CameraError, Frame, SyntheticCamera
from simulators.world import World, generate_world
from simulators.world.objects import PlantedObject
from telemetry.contract import CameraPose

SITE = Path(__file__).resolve().parents[2] / "examples" / "sites" / "shenyang-hunhe.geojson"
T0 = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(load_site(SITE), seed=11)


def pose_over(
    world: World,
    x: float,
    y: float,
    alt: float = 60.0,
    yaw: float = 0.0,
    gimbal_pitch: float = -90.0,
    time_s: float = 0.0,
) -> CameraPose:
    lon, lat = world.frame.to_wgs84(x, y)
    return CameraPose(
        time=datetime.fromtimestamp(T0.timestamp() + time_s, UTC),
        lat=lat,
        lon=lon,
        alt_agl_m=alt,
        alt_amsl_m=alt + 40.0,
        roll_deg=0.0,
        pitch_deg=0.0,
        yaw_deg=yaw,
        gimbal_pitch_deg=gimbal_pitch,
    )


def clean_camera(world: World, model: CameraModel | None = None) -> SyntheticCamera:
    return SyntheticCamera(world, model or CameraModel.default(), effects=False, jpeg=False)


def test_nadir_pixel_positions_match_the_pinhole_model(world: World) -> None:
    # Analytic: at nadir with yaw 0 the image top is north; 10 m east of the camera at 60 m
    # lies fx * 10 / 60 pixels right of the centre; with yaw 90 (facing east), it is up.
    cam = clean_camera(world)
    m = CameraModel.default()
    fx = m.focal_length_mm / m.sensor_width_mm * m.image_width_px
    fy = m.focal_length_mm / m.sensor_height_mm * m.image_height_px
    p = pose_over(world, 100.0, 100.0)
    uv, depth = cam.project(p, np.array([[110.0, 100.0], [100.0, 110.0], [100.0, 100.0]]))
    assert uv[0] == pytest.approx([640 + fx * 10 / 60, 480], abs=1e-6)
    assert uv[1] == pytest.approx([640, 480 - fy * 10 / 60], abs=1e-6)
    assert uv[2] == pytest.approx([640, 480], abs=1e-6)
    assert depth == pytest.approx([60, 60, 60])
    uv, _ = cam.project(pose_over(world, 100.0, 100.0, yaw=90.0), np.array([[110.0, 100.0]]))
    assert uv[0] == pytest.approx([640, 480 - fy * 10 / 60], abs=1e-6)


@pytest.fixture(scope="module")
def noon_world() -> World:
    # Sun at the zenith: no shadows spill out of footprints, so every edge can be checked.
    return generate_world(load_site(SITE), seed=11, sun=(180.0, 90.0))


@pytest.mark.parametrize("stabilized", [True, False])
def test_projection_agrees_with_vision_georeferencing(world: World, stabilized: bool) -> None:
    # The camera renders with the conventions vision.georef inverts: project ground points
    # to pixels here, georeference those pixels there, land on the same ground points.
    from vision.georef import pixel_to_ground

    m = CameraModel.default()
    cam = SyntheticCamera(world, m, effects=False, jpeg=False, stabilized=stabilized)
    pose = pose_over(world, 120.0, 80.0, alt=70.0, yaw=237.0, gimbal_pitch=-62.0)
    pose = pose.model_copy(update={"roll_deg": 4.0, "pitch_deg": -6.0, "gimbal_yaw_deg": 15.0})
    (cx, cy), _, rot = cam.geometry(pose)
    forward = rot @ np.array([0.0, 0.0, 1.0])  # optical axis, NED
    centre = np.array([cx, cy]) + 70.0 / forward[2] * np.array([forward[1], forward[0]])
    pts = centre + np.array([[0.0, 0.0], [15.0, -10.0], [-20.0, 5.0], [8.0, 25.0]])
    uv, depth = cam.project(pose, pts)
    assert np.all(depth > 0)
    assert np.all((uv >= 0) & (uv <= [1280, 960]))
    lon, lat = pixel_to_ground(uv[:, 0], uv[:, 1], pose, m, stabilized=stabilized,
                               frame=world.frame)  # fmt: skip
    x, y = world.frame.to_local(lon, lat)
    assert np.allclose(np.column_stack([x, y]), pts, atol=0.01)


def test_unstabilised_camera_follows_roll_and_pitch(world: World) -> None:
    # Right wing down tilts a hard-mounted nadir camera to the left of the vehicle, so the
    # point under the vehicle appears right of centre; nose up tilts the view forward (up the
    # image), so the point below appears lower.
    m = CameraModel.default()
    fx = m.focal_length_mm / m.sensor_width_mm * m.image_width_px
    fy = m.focal_length_mm / m.sensor_height_mm * m.image_height_px
    hard = SyntheticCamera(world, m, effects=False, jpeg=False, stabilized=False)
    level = pose_over(world, 50.0, 50.0)
    below = np.array([[50.0, 50.0]])
    rolled = level.model_copy(update={"roll_deg": 10.0})
    uv, _ = hard.project(rolled, below)
    assert uv[0] == pytest.approx([640 + fx * math.tan(math.radians(10)), 480], abs=1e-6)
    pitched = level.model_copy(update={"pitch_deg": 10.0})
    uv, _ = hard.project(pitched, below)
    assert uv[0] == pytest.approx([640, 480 + fy * math.tan(math.radians(10))], abs=1e-6)
    # A stabilised gimbal ignores both.
    uv, _ = clean_camera(world).project(rolled, below)
    assert uv[0] == pytest.approx([640, 480], abs=1e-6)


def changed_near_edges(world: World, obj: PlantedObject, pose: CameraPose) -> tuple[float, float]:
    """Remove ``obj`` and compare renders: the share of changed pixels 2 px inside its
    predicted footprint, and in a ring 2-5 px outside it. A footprint drawn 2 px or more
    away from where the camera model puts it shows in one or the other."""
    cam = clean_camera(world)
    without = clean_camera(world.without([obj.id]))
    a = cam.render(pose).image.astype(int)
    b = without.render(pose).image.astype(int)
    diff = np.abs(a - b).sum(axis=2) > 0
    uv, depth = cam.project(pose, obj.footprint_local())
    assert np.all(depth > 0)
    h, w = diff.shape

    def mask(poly: Polygon) -> np.ndarray:
        img = Image.new("L", (w, h), 0)
        ring = np.asarray(poly.exterior.coords)
        ImageDraw.Draw(img).polygon([(u - 0.5, v - 0.5) for u, v in ring], fill=1)
        return np.asarray(img, dtype=bool)

    quad = Polygon(uv)
    inside = mask(quad.buffer(-2.0, join_style="mitre"))
    ring = mask(quad.buffer(5.0, join_style="mitre")) & ~mask(quad.buffer(2.0, join_style="mitre"))
    assert inside.sum() > 2000, "object too small in the frame for this test"
    return float(diff[inside].mean()), float(diff[ring].mean())


@pytest.mark.slow
@pytest.mark.parametrize("view", ["nadir", "oblique"])
def test_planted_object_appears_where_the_camera_model_predicts(
    noon_world: World, view: str
) -> None:
    world = noon_world
    obj = next(o for o in world.violations if o.class_name == "illegal_land_occupation")
    if view == "nadir":
        pose = pose_over(world, obj.x_m - 7.0, obj.y_m + 4.0, alt=55.0, yaw=30.0)
    else:
        # Looking north-east at 50 degrees down from 60 m: stand back along the view.
        yaw = 45.0
        back = 60.0 / math.tan(math.radians(50.0))
        x = obj.x_m - back * math.sin(math.radians(yaw))
        y = obj.y_m - back * math.cos(math.radians(yaw))
        pose = pose_over(world, x, y, alt=60.0, yaw=yaw, gimbal_pitch=-50.0)
    inside, outside = changed_near_edges(world, obj, pose)
    assert inside > 0.99
    assert outside < 0.01


def test_same_seed_and_pose_same_frame_effects_vary(world: World) -> None:
    o = world.violations[0]
    cam = SyntheticCamera(world, CameraModel(6.17, 4.55, 4.5, 640, 480), seed=5)
    p = pose_over(world, o.x_m, o.y_m)
    f1, f2 = cam.render(p), cam.render(p)
    assert isinstance(f1, Frame)
    assert f1.image.shape == (480, 640, 3) and f1.image.dtype == np.uint8
    assert f1.time == p.time and f1.pose == p
    assert np.array_equal(f1.image, f2.image) and f1.jpeg == f2.jpeg
    again = SyntheticCamera(world, CameraModel(6.17, 4.55, 4.5, 640, 480), seed=5).render(p)
    assert np.array_equal(again.image, f1.image)
    # The JPEG bytes are the frame: decoding them gives the image.
    assert f1.jpeg is not None
    decoded = np.asarray(Image.open(io.BytesIO(f1.jpeg)).convert("RGB"))
    assert np.array_equal(decoded, f1.image)
    # Another moment from the same place: same scene, other exposure/noise/compression.
    later = cam.render(p.model_copy(update={"time": datetime(2026, 6, 1, 3, 0, 9, tzinfo=UTC)}))
    assert not np.array_equal(later.image, f1.image)
    assert np.abs(later.image.astype(int) - f1.image.astype(int)).mean() < 60


def test_oblique_view_to_the_horizon_shows_sky_not_black(world: World) -> None:
    cam = SyntheticCamera(world, CameraModel(6.17, 4.55, 4.5, 640, 480), seed=1)
    frame = cam.render(pose_over(world, 150.0, 100.0, alt=60.0, gimbal_pitch=-8.0))
    img = frame.image.astype(int)
    top, bottom = img[:40], img[-40:]
    assert top.mean() > 150  # hazy sky
    assert np.std(top.mean(axis=2)) < 20
    assert bottom.mean() < top.mean()  # ground below
    assert (img.sum(axis=2) < 15).mean() < 0.001  # no unrendered holes


def test_oblique_bands_leave_no_gaps(world: World) -> None:
    # An oblique frame is stitched from several texture levels; every pixel whose ground lies
    # within the visibility range is textured (no black seams between bands or tiles).
    cam = SyntheticCamera(world, CameraModel(6.17, 4.55, 4.5, 640, 480), effects=False, jpeg=False)
    pose = pose_over(world, 150.0, 100.0, alt=60.0, yaw=35.0, gimbal_pitch=-12.0)
    img = cam.render(pose).image.astype(int)
    (_, _), h, rot = cam.geometry(pose)
    m = rot @ np.linalg.inv(cam.k)
    vv, uu = np.mgrid[0:480, 0:640] + 0.5
    d = np.einsum("ij,jkl->ikl", m, np.stack([uu, vv, np.ones_like(uu)]))
    dist = np.where(d[2] > 0, h * np.linalg.norm(d, axis=0) / np.maximum(d[2], 1e-9), np.inf)
    within = dist < 0.95 * cam.max_range_m
    assert within.mean() > 0.5
    assert (img.sum(axis=2)[within] == 0).mean() < 1e-4


def test_pillow_fallback_renders_the_same_frame(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A base install has no OpenCV: the Pillow/numpy path must put everything in the same
    # place (bilinear implementations differ by a level or two) and apply the same effects.
    import simulators.camera as camera_module

    if camera_module._cv2 is None:
        pytest.skip("OpenCV not installed: only the Pillow path exists here")
    o = world.violations[2]
    model = CameraModel(6.17, 4.55, 4.5, 640, 480)
    pose = pose_over(world, o.x_m + 5.0, o.y_m - 3.0, yaw=70.0, gimbal_pitch=-60.0)
    clean_cv = clean_camera(world, model).render(pose).image.astype(int)
    full_cv = SyntheticCamera(world, model, seed=4).render(pose).image.astype(int)
    monkeypatch.setattr(camera_module, "_cv2", None)
    clean_pil = clean_camera(world, model).render(pose).image.astype(int)
    full_pil = SyntheticCamera(world, model, seed=4).render(pose).image.astype(int)
    assert np.abs(clean_cv - clean_pil).mean() < 2.0
    assert np.abs(full_cv - full_pil).mean() < 6.0
    assert abs(full_cv.mean() - full_pil.mean()) < 2.0


def test_user_errors(world: World) -> None:
    with pytest.raises(CameraError, match="alt_agl_m"):
        clean_camera(world).render(pose_over(world, 0.0, 0.0, alt=0.0))
    # Another origin would misplace every pixel: refused, while the site's own frame is fine.
    SyntheticCamera(world, CameraModel.default(), site_frame=load_site(SITE).frame)
    with pytest.raises(CameraError, match="site_frame"):
        SyntheticCamera(world, CameraModel.default(), site_frame=LocalFrame(120.0, 40.0))


@pytest.mark.slow
def test_render_1280x960_is_fast(world: World) -> None:
    cam = SyntheticCamera(world, CameraModel.default(), seed=2)
    o = world.violations[1]
    poses = [pose_over(world, o.x_m, o.y_m, yaw=10.0 * k, time_s=k) for k in range(6)]
    cam.render(poses[0].model_copy(update={"yaw_deg": 45.0}))  # build the tiles once
    times = []
    for p in poses:
        # CPU time of this process (all its threads): what the render costs, whatever
        # else the machine's cores are busy with during the test run.
        t = time.process_time()
        cam.render(p)
        times.append(time.process_time() - t)
    # The target is < 100 ms wall time on an idle machine (bench/render.py measures it);
    # this bound still fails on anything like a per-pixel Python path.
    assert statistics.median(times) < 0.2
