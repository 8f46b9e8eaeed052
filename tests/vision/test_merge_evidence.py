"""Merging detections of synthetic tracks into suspects, and building evidence from them."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from missions.camera import CameraModel
from missions.frame import LocalFrame
from telemetry.contract import CameraPose, EvidenceMessage, canonical_json
from vision.detector import Box
from vision.errors import VisionError
from vision.evidence import (
    build_evidence,
    encode_crop_jpeg,
    encode_frame_jpeg,
    read_exif_gps,
    sha256_hex,
)
from vision.georef import box_footprint, pixel_to_ground
from vision.merge import Merger, footprint_iou
from vision.pipeline import MIN_HIT_FRACTION, FramePipeline, survey_merger

CAM = CameraModel(6.17, 4.55, 4.5, 640, 480)
FRAME = LocalFrame(123.43, 41.80)
T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def pose_at(x: float, y: float, t: float, yaw: float = 0.0) -> CameraPose:
    lon, lat = FRAME.to_wgs84(x, y)
    return CameraPose(
        time=T0 + timedelta(seconds=t),
        lat=lat,
        lon=lon,
        alt_agl_m=60.0,
        alt_amsl_m=105.0,
        roll_deg=0.0,
        pitch_deg=0.0,
        yaw_deg=yaw,
    )


def box_for(obj_xy: tuple[float, float], pose: CameraPose, cls: str, conf: float) -> Box | None:
    """The box an ideal detector would give for a 10 m square object at obj_xy."""
    from vision.georef import _intrinsics, camera_rotation

    rot = camera_rotation(pose.roll_deg, pose.pitch_deg, pose.yaw_deg)
    fx, fy, cx, cy = _intrinsics(CAM, None)
    px, py = FRAME.to_local(pose.lon, pose.lat)
    us, vs = [], []
    for dx in (-5, 5):
        for dy in (-5, 5):
            e, n = obj_xy[0] + dx - px, obj_xy[1] + dy - py
            cam = rot.T @ np.array([n, e, 60.0])
            us.append(fx * cam[0] / cam[2] + cx)
            vs.append(fy * cam[1] / cam[2] + cy)
    x1, x2, y1, y2 = min(us), max(us), min(vs), max(vs)
    if x1 < 0 or y1 < 0 or x2 > 640 or y2 > 480:
        return None
    return Box(cls, conf, x1, y1, x2, y2)


def fly(merger: Merger, objects: list[tuple[str, float, float]], passes: int = 3) -> int:
    """Lawnmower passes 30 m apart over the objects, a frame every 12 m; returns frames."""
    n = 0
    rng = np.random.default_rng(1)
    for p in range(passes):
        x = -30.0 + 30.0 * p
        ys = np.arange(-80.0, 81.0, 12.0)
        yaw = 0.0 if p % 2 == 0 else 180.0
        for y in ys if p % 2 == 0 else ys[::-1]:
            pose = pose_at(x, float(y), n * 1.2, yaw)
            found = []
            for cls, ox, oy in objects:
                b = box_for((ox, oy), pose, cls, float(rng.uniform(0.5, 0.95)))
                if b is not None:
                    found.append((b, box_footprint(b, pose, CAM, frame=FRAME)))
            merger.add(f"f{n:03d}", pose, found)
            n += 1
    return n


def test_each_object_seen_in_many_frames_and_passes_is_one_suspect() -> None:
    objects = [
        ("illegal_construction", 0.0, 0.0),
        ("waste_dumping", 30.0, -50.0),
        ("open_burning", -35.0, 60.0),
        # Two objects of different classes side by side stay two suspects.
        ("illegal_excavation", 5.0, 3.0),
    ]
    merger = Merger(distance_m=8.0)
    frames = fly(merger, objects)
    suspects = merger.suspects()
    assert sorted(s.class_name for s in suspects) == sorted(o[0] for o in objects)
    for s in suspects:
        _cls, ox, oy = next(o for o in objects if o[0] == s.class_name)
        x, y = FRAME.to_local(s.lon, s.lat)
        assert math.hypot(x - ox, y - oy) < 0.5  # ideal boxes: the pin is on the object
        assert len(s.frames) >= 4 and set(s.frames) <= {f"f{i:03d}" for i in range(frames)}
        assert s.best_frame in s.frames
        assert s.confidence == max(o.box.confidence for o in s.observations)
    # Two passes saw the building in the middle: both are in its frames.
    building = next(s for s in suspects if s.class_name == "illegal_construction")
    poses_x = {round(FRAME.to_local(o.pose.lon, o.pose.lat)[0]) for o in building.observations}
    assert len(poses_x) >= 2


def test_best_frame_prefers_confident_and_near_nadir() -> None:
    merger = Merger()
    target = (0.0, 0.0)
    near = pose_at(0.0, 0.0, 0)
    far = pose_at(0.0, 25.0, 1)
    b_near = box_for(target, near, "illegal_construction", 0.80)
    b_far = box_for(target, far, "illegal_construction", 0.82)
    assert b_near is not None and b_far is not None
    merger.add("far", far, [(b_far, box_footprint(b_far, far, CAM, frame=FRAME))])
    merger.add("near", near, [(b_near, box_footprint(b_near, near, CAM, frame=FRAME))])
    (s,) = merger.suspects()
    assert s.best_frame == "near"  # nearly as confident, much nearer nadir
    assert s.frames == ["far", "near"]


def test_tiny_detections_below_class_minimum_are_dropped() -> None:
    merger = Merger()
    p = pose_at(0.0, 0.0, 0)
    b = Box("illegal_land_occupation", 0.9, 320, 240, 326, 246)  # ~1 m on the ground
    merger.add("f", p, [(b, box_footprint(b, p, CAM))])
    assert merger.suspects() == [] and merger.dropped_small == 1


def test_flat_tuples_from_callers_are_accepted() -> None:
    merger = Merger()
    p = pose_at(0.0, 0.0, 0)
    b = Box("illegal_construction", 0.9, 280, 200, 360, 280)
    lon, lat, ring, unc = box_footprint(b, p, CAM)
    merger.add("f", p, [(b, lon, lat, ring, unc)])
    assert len(merger.suspects()) == 1


def test_evidence_message_media_and_exif() -> None:
    merger = Merger()
    p = pose_at(10.0, -20.0, 5.5, yaw=37.0)
    image = np.zeros((480, 640, 3), np.uint8)
    image[200:280, 280:360] = (40, 90, 200)
    b = Box("illegal_construction", 0.91, 280, 200, 360, 280)
    merger.add("f1", p, [(b, box_footprint(b, p, CAM))])
    (s,) = merger.suspects()
    frame = encode_frame_jpeg(image, p)
    crop = encode_crop_jpeg(image, b)
    msg, media = build_evidence(
        s,
        frame,
        crop,
        mission_id="M-1",
        sortie_id="S-1",
        vehicle_id="uav-1",
        sequence=7,
        site_id="site-a",
    )
    assert isinstance(msg, EvidenceMessage) and msg.signature is None
    assert msg.sequence == 7 and msg.detection.class_name == "illegal_construction"
    assert msg.detection.box_px == (280, 200, 360, 280)
    assert msg.detection.footprint_geojson["type"] == "Polygon"
    assert (msg.lon, msg.lat) == pytest.approx((s.lon, s.lat))
    assert msg.time == p.time and msg.pose == p
    assert {m.role for m in msg.media} == {"frame", "crop"}
    assert set(media) == {sha256_hex(frame), sha256_hex(crop)} == set(msg.media_sha256)
    assert canonical_json(msg)  # serialisable for signing
    # The frame carries where and when it was taken.
    gps = read_exif_gps(media[sha256_hex(frame)])
    assert gps["lat"] == pytest.approx(p.lat, abs=1e-7)
    assert gps["lon"] == pytest.approx(p.lon, abs=1e-7)
    assert gps["alt_amsl_m"] == pytest.approx(105.0, abs=0.01)
    assert gps["time"] == p.time.replace(microsecond=0)
    with Image.open(io.BytesIO(media[sha256_hex(crop)])) as im:
        assert im.size[0] >= 80 and im.size[1] >= 80  # the box plus context
    # The ground pin lies under the box centre.
    lon, lat = pixel_to_ground(320, 240, p, CAM)
    assert (msg.lon, msg.lat) == pytest.approx((float(lon), float(lat)), abs=1e-9)


def test_large_object_cut_at_the_frame_edge_stays_one_suspect() -> None:
    merger = Merger(distance_m=8.0)
    full = pose_at(0.0, 0.0, 0)
    # A 40 m x 30 m yard seen whole: ~310 x 230 px at 60 m.
    whole = Box("illegal_land_occupation", 0.8, 165, 125, 475, 355)
    merger.add("whole", full, [(whole, box_footprint(whole, full, CAM, frame=FRAME))])
    # A frame 40 m further south: only the yard's southern edge is in view (top rows), its
    # box centre (and pin) lies ~12 m south of the yard's centre, beyond distance_m but on
    # the yard's footprint.
    later = pose_at(0.0, -40.0, 1)
    cut = Box("illegal_land_occupation", 0.6, 165, 0, 475, 45)
    fix = box_footprint(cut, later, CAM, frame=FRAME)
    first = merger.suspects()[0]
    x0, y0 = FRAME.to_local(first.lon, first.lat)
    x1, y1 = FRAME.to_local(fix.lon, fix.lat)
    assert math.hypot(x1 - x0, y1 - y0) > 8.0
    merger.add("cut", later, [(cut, fix)])
    (s,) = merger.suspects()
    assert s.frames == ["whole", "cut"] and s.best_frame == "whole"
    # A different yard 60 m away is another suspect.
    other = pose_at(0.0, 60.0, 2)
    merger.add("other", other, [(whole, box_footprint(whole, other, CAM, frame=FRAME))])
    assert len(merger.suspects()) == 2


def view_of(pose: CameraPose, inset: float = 0.1) -> list[tuple[float, float]]:
    """The ground ring of a frame's inner part (what FramePipeline hands the merger)."""
    us = np.array([640 * inset, 640 * (1 - inset), 640 * (1 - inset), 640 * inset, 640 * inset])
    vs = np.array([480 * inset, 480 * inset, 480 * (1 - inset), 480 * (1 - inset), 480 * inset])
    lon, lat = pixel_to_ground(us, vs, pose, CAM, frame=FRAME)
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


def _frames_over(
    merger: Merger, ys: list[float], detect_at: set[int], cls: str = "illegal_construction"
) -> None:
    """Frames along x=0 at ``ys``; those with index in ``detect_at`` detect the object at 0,0."""
    for i, y in enumerate(ys):
        pose = pose_at(0.0, y, float(i))
        found = []
        if i in detect_at:
            b = box_for((0.0, 0.0), pose, cls, 0.6)
            assert b is not None
            found.append((b, box_footprint(b, pose, CAM, frame=FRAME)))
        merger.add(f"f{i}", pose, found, view=view_of(pose))


def test_a_detection_other_views_of_the_place_do_not_repeat_is_not_reported() -> None:
    # Frames 12 m apart at 60 m (the ground is ~50 m x 37 m per frame): 0,0 is in view of
    # the frames at y = -12, 0 and 12. Only one of them detects something there.
    for detect_at in ({0}, {1}, {2}):
        merger = Merger(min_frames=2)
        _frames_over(merger, [-12.0, 0.0, 12.0], detect_at)
        assert merger.suspects() == [], detect_at
        assert len(merger.clusters()) == 1
    # Detected twice out of three views: a suspect, with both frames.
    merger = Merger(min_frames=2)
    _frames_over(merger, [-12.0, 0.0, 12.0], {0, 2})
    (s,) = merger.suspects()
    assert s.frames == ["f0", "f2"]


def test_a_detection_no_other_frame_could_confirm_is_reported() -> None:
    # The second frame is 60 m on: 0,0 is out of its view, so one detection is all there is.
    merger = Merger(min_frames=2)
    _frames_over(merger, [0.0, 60.0], {0})
    (s,) = merger.suspects()
    assert s.frames == ["f0"] and s.misses == 0
    # Without views the merger cannot know, and min_frames is strict.
    merger = Merger(min_frames=2)
    pose = pose_at(0.0, 0.0, 0.0)
    b = box_for((0.0, 0.0), pose, "illegal_construction", 0.6)
    assert b is not None
    merger.add("f0", pose, [(b, box_footprint(b, pose, CAM, frame=FRAME))])
    assert merger.suspects() == []


# Six frames 4 m apart: the object at 0,0 is well inside every one's view.
SIX = [-10.0, -6.0, -2.0, 2.0, 6.0, 10.0]


def test_a_look_alike_detected_in_few_of_its_views_is_not_reported() -> None:
    # Two of six views detect it: enough for min_frames=2 alone, not for a hit fraction.
    merger = Merger(min_frames=2)
    _frames_over(merger, SIX, {0, 3})
    assert len(merger.suspects()) == 1
    merger = Merger(min_frames=2, min_hit_fraction=0.55)
    _frames_over(merger, SIX, {0, 3})
    assert merger.suspects() == []
    (c,) = merger.clusters()
    assert (c.hits, c.misses) == (2, 4) and c.hit_fraction == pytest.approx(1 / 3)
    # Four of six: a real object missed in a view or two is still reported.
    merger = Merger(min_frames=2, min_hit_fraction=0.55)
    _frames_over(merger, SIX, {0, 1, 3, 5})
    (s,) = merger.suspects()
    assert s.to_dict()["misses"] == 2


def test_hit_fraction_can_be_set_per_class() -> None:
    rule = {"*": 0.55, "open_burning": 0.7}
    for cls, detect_at, reported in (
        ("open_burning", {0, 1, 3, 5}, False),  # 4/6 = 0.67 < 0.7
        ("open_burning", {0, 1, 2, 3, 5}, True),  # 5/6
        ("illegal_construction", {0, 1, 3, 5}, True),  # 0.67 >= 0.55
    ):
        merger = Merger(min_frames=2, min_hit_fraction=rule)
        _frames_over(merger, SIX, detect_at, cls=cls)
        assert (len(merger.suspects()) == 1) is reported, (cls, detect_at)
    with pytest.raises(VisionError, match="unknown class"):
        Merger(min_hit_fraction={"tractor": 0.5})
    with pytest.raises(VisionError, match=r"must be in \[0, 1\]"):
        Merger(min_hit_fraction=1.5)


def _two_readings(merger: Merger, second: tuple[float, float], second_frames: set[int]) -> None:
    """Construction at 0,0 in every frame; waste dumping at ``second`` in some frames."""
    for i, y in enumerate(SIX):
        pose = pose_at(0.0, y, float(i))
        found = []
        b = box_for((0.0, 0.0), pose, "illegal_construction", 0.7)
        assert b is not None
        found.append((b, box_footprint(b, pose, CAM, frame=FRAME)))
        if i in second_frames:
            b2 = box_for(second, pose, "waste_dumping", 0.6)
            assert b2 is not None
            found.append((b2, box_footprint(b2, pose, CAM, frame=FRAME)))
        merger.add(f"f{i}", pose, found, view=view_of(pose))


def test_one_object_read_as_two_classes_is_reported_once() -> None:
    # The same footprint called waste dumping in two views: both classes pass min_frames.
    merger = Merger(min_frames=2)
    _two_readings(merger, (0.0, 0.0), {1, 4})
    assert len(merger.suspects()) == 2
    merger = Merger(min_frames=2, one_class_per_place=True)
    _two_readings(merger, (0.0, 0.0), {1, 4})
    (s,) = merger.suspects()
    assert s.class_name == "illegal_construction"  # more evidence: 6 x 0.7 against 2 x 0.6
    # Side by side (footprints 14 m apart, no overlap), two classes are two objects.
    merger = Merger(min_frames=2, one_class_per_place=True)
    _two_readings(merger, (14.0, 0.0), set(range(6)))
    assert sorted(s.class_name for s in merger.suspects()) == [
        "illegal_construction",
        "waste_dumping",
    ]


def test_footprint_iou() -> None:
    sq = [FRAME.to_wgs84(x, y) for x, y in ((0, 0), (10, 0), (10, 10), (0, 10), (0, 0))]
    half = [FRAME.to_wgs84(x, y) for x, y in ((5, 0), (15, 0), (15, 10), (5, 10), (5, 0))]
    assert footprint_iou(sq, sq) == pytest.approx(1.0, abs=1e-6)
    assert footprint_iou(sq, half) == pytest.approx(1 / 3, abs=1e-3)
    assert footprint_iou(sq, []) == 0.0


def test_the_pipeline_confirms_with_the_survey_rules_by_default() -> None:
    pipe = FramePipeline(object(), CAM)  # type: ignore[arg-type]  # the detector is not called
    assert pipe.merger.min_frames == 2
    assert pipe.merger.min_hit_fraction == MIN_HIT_FRACTION
    assert pipe.merger.one_class_per_place
    bare = survey_merger(min_frames=1)
    assert bare.min_frames == 1 and bare.min_hit_fraction == {"*": 0.0}
    assert not bare.one_class_per_place
