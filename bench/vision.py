"""Vision benchmark: accuracy on unseen synthetic data, a simulated survey, and speed.

Prints one JSON object:

* ``map50``, ``map50_95`` (and per class) of the shipped ONNX model on a held-out test split
  rendered from world seeds and site layouts never used in training;
* a full simulated survey of several unseen worlds (the planned lawnmower path at 60 m,
  frames rendered by the synthetic camera at each camera trigger, detection, georeferencing
  with a noisy pose, merging with ``vision.pipeline.survey_merger`` as ``FramePipeline``
  does: a suspect needs ``--min-frames`` (default 2) detecting frames when that many had its
  place in view, a minimum hit fraction, one class per place): ``recall`` per planted
  violation (found = one suspect of the right class within ``match_m``), ``false_per_km2``
  (suspects matching no planted violation, per km^2 surveyed), ``duplicates``,
  ``geo_err_median_m`` / ``geo_err_p95_m``;
* ``onnx_fps`` and ``torch_fps``: detector frames per second on 640x480 frames, ONNX
  Runtime versus Ultralytics-PyTorch on the same model, in the same run.

No MAVLink here: the survey renders frames along the planned path directly. Run:
``.venv/bin/python bench/vision.py [--data DATA_YAML] [--worlds N] [--quick]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from missions.camera import CameraModel  # noqa: E402
from telemetry.contract import CameraPose  # noqa: E402
from vision.detector import DEFAULT_MODEL_ONNX, DEFAULT_MODEL_PT, load_detector  # noqa: E402
from vision.merge import local_distance_m  # noqa: E402
from vision.pipeline import FramePipeline, survey_merger  # noqa: E402

ALTITUDE_M = 60.0
FRAME_SIZE = (640, 480)


def survey_camera() -> CameraModel:
    """The default optics at the detector's frame size (what the vehicle feeds the model)."""
    return dataclasses.replace(
        CameraModel.default(), image_width_px=FRAME_SIZE[0], image_height_px=FRAME_SIZE[1]
    )


def _path_samples(path_lonlat: list[tuple[float, float]], frame: Any, step_m: float) -> list:
    """(x, y, heading_deg) every ``step_m`` along the polyline (local metres)."""
    pts = np.array([frame.to_local(lon, lat) for lon, lat in path_lonlat], dtype=float)
    out = []
    carry = 0.0
    for a, b in itertools.pairwise(pts):
        seg = b - a
        length = float(np.hypot(*seg))
        if length < 1e-6:
            continue
        heading = math.degrees(math.atan2(seg[0], seg[1])) % 360.0
        s = carry
        while s <= length:
            p = a + seg * (s / length)
            out.append((float(p[0]), float(p[1]), heading))
            s += step_m
        carry = s - length
    return out


def fly_survey(
    world: Any,
    site: Any,
    detector: Any,
    *,
    seed: int = 0,
    altitude_m: float = ALTITUDE_M,
    pose_noise: bool = True,
    merge_m: float = 8.0,
    min_frames: int = 2,
) -> dict[str, Any]:
    """Fly the planned survey over ``world``; return suspects matched against ground truth."""
    from missions.survey import plan_survey
    from simulators.camera import SyntheticCamera

    cam = survey_camera()
    plan = plan_survey(site, cam, altitude_agl_m=altitude_m)
    frame = world.frame
    samples = _path_samples(plan.path_lonlat, frame, plan.trigger_distance_m)
    camera = SyntheticCamera(world, cam, seed=seed)
    merger = survey_merger(min_frames=min_frames, distance_m=merge_m)
    pipeline = FramePipeline(detector, cam, merger, frame=frame)
    rng = np.random.default_rng(seed)
    t0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    render_s = detect_s = 0.0
    for i, (x, y, heading) in enumerate(samples):
        lon, lat = frame.to_wgs84(x, y)
        roll, pitch = float(rng.normal(0, 1.5)), float(rng.normal(0, 1.5))
        true_pose = CameraPose(
            time=t0 + timedelta(seconds=1.8 * i),
            lat=float(lat),
            lon=float(lon),
            alt_agl_m=altitude_m,
            alt_amsl_m=altitude_m + 50.0,
            roll_deg=roll,
            pitch_deg=pitch,
            yaw_deg=heading,
        )
        t = time.perf_counter()
        image = camera.render(true_pose).image
        render_s += time.perf_counter() - t
        pose = true_pose
        if pose_noise:
            # What the vehicle believes: GNSS ~0.7 m, baro ~0.5 m, yaw ~1 deg, gimbal ~0.5 deg.
            nlon, nlat = frame.to_wgs84(x + rng.normal(0, 0.7), y + rng.normal(0, 0.7))
            pose = true_pose.model_copy(
                update={
                    "lon": float(nlon),
                    "lat": float(nlat),
                    "alt_agl_m": altitude_m + float(rng.normal(0, 0.5)),
                    "yaw_deg": heading + float(rng.normal(0, 1.0)),
                    "gimbal_pitch_deg": -90.0 + float(rng.normal(0, 0.5)),
                }
            )
        t = time.perf_counter()
        pipeline.process(f"w{seed}-f{i:04d}", image, pose)
        detect_s += time.perf_counter() - t
    return _score(world, pipeline.suspects(), site, frame) | {
        "frames": len(samples),
        "render_s": round(render_s, 1),
        "detect_s": round(detect_s, 1),
    }


def _score(world: Any, suspects: list[Any], site: Any, frame: Any) -> dict[str, Any]:
    import shapely

    planted = list(world.violations)
    used: set[int] = set()
    errors: list[float] = []
    found: dict[str, bool] = {}
    false: list[dict[str, Any]] = []
    duplicates = 0
    # The survey's frames reach past the site boundary; what lies there is not the site's
    # business (and the world plants nothing there), so those suspects are counted apart.
    keep_in = site.keep_in
    outside = [s for s in suspects if not shapely.contains_xy(keep_in, s.lon, s.lat)]
    suspects = [s for s in suspects if shapely.contains_xy(keep_in, s.lon, s.lat)]
    for s in sorted(suspects, key=lambda s: -s.confidence):
        best, best_d = None, math.inf
        for k, v in enumerate(planted):
            if v.class_name != s.class_name:
                continue
            d = local_distance_m(v.lon, v.lat, s.lon, s.lat)
            reach = max(8.0, 0.5 * math.hypot(v.length_m, v.width_m))
            if d <= reach and d < best_d:
                best, best_d = k, d
        if best is None:
            false.append({"class_name": s.class_name, "confidence": round(s.confidence, 3)})
        elif best in used:
            duplicates += 1
        else:
            used.add(best)
            errors.append(best_d)
    for k, v in enumerate(planted):
        found[v.id] = k in used
    area_km2 = shapely.area(shapely.transform(site.keep_in, lambda xy: np.column_stack(
        frame.to_local(xy[:, 0], xy[:, 1])))) / 1e6  # fmt: skip
    missed = [
        {"id": v.id, "class_name": v.class_name, "length_m": round(v.length_m, 1)}
        for v in planted
        if not found[v.id]
    ]
    return {
        "planted": len(planted),
        "found": len(used),
        "suspects": len(suspects),
        "false": false,
        "duplicates": duplicates,
        "outside_site": len(outside),
        "missed": missed,
        "geo_errors_m": errors,
        "area_km2": area_km2,
    }


def survey_worlds(n_worlds: int) -> list[tuple[Any, Any, int]]:
    """The example site plus synthetic sites, all with world seeds never used in training."""
    from missions.site import load_site
    from simulators.dataset import synthetic_site
    from simulators.world import generate_world

    out = []
    example = ROOT / "examples" / "sites" / "shenyang-hunhe.geojson"
    if example.is_file():
        site = load_site(example)
        out.append((site, generate_world(site, 50000, violations=8, distractors=12), 50000))
    seed = 50001
    while len(out) < n_worlds:
        site = synthetic_site(seed)
        out.append((site, generate_world(site, seed, violations=8, distractors=12), seed))
        seed += 1
    return out


def speed(onnx_model: Path, pt_model: Path, frames: list[np.ndarray]) -> dict[str, float]:
    """Detector frames per second on the same frames: ONNX Runtime, then Ultralytics-PyTorch."""
    threads = os.cpu_count() or 2
    result: dict[str, float] = {}
    for key, backend, model in (
        ("onnx_fps", "onnx", onnx_model),
        ("torch_fps", "ultralytics", pt_model),
    ):
        try:
            det = load_detector(model, backend=backend, threads=threads)
        except Exception as exc:  # the train extra may be missing: report, do not fail
            result[key] = float("nan")
            result[key.replace("fps", "error")] = str(exc)  # type: ignore[assignment]
            continue
        det.detect(frames[0])  # warm-up
        t = time.perf_counter()
        for f in frames:
            det.detect(f)
        result[key] = round(len(frames) / (time.perf_counter() - t), 1)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="data.yaml with a held-out test split")
    ap.add_argument("--test-images", type=int, default=150, help="when --data is not given")
    ap.add_argument("--worlds", type=int, default=4, help="worlds to survey")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL_ONNX)
    ap.add_argument("--pt", type=Path, default=DEFAULT_MODEL_PT)
    ap.add_argument(
        "--min-frames",
        type=int,
        default=2,
        help="frames that must detect a suspect when that many had it in view "
        "(1: every detection, no confirmation rules)",
    )
    ap.add_argument("--quick", action="store_true", help="small run for a smoke test")
    args = ap.parse_args()
    if args.quick:
        args.test_images, args.worlds = 30, 1
    t_all = time.perf_counter()
    cpu_all = time.process_time()
    out: dict[str, Any] = {"model": str(args.model)}

    from vision.metrics import evaluate

    data = args.data
    tmp = None
    if data is None:
        from simulators.dataset import generate_dataset

        tmp = tempfile.TemporaryDirectory(prefix="fp-bench-")
        # Only the test split matters: worlds and sites of seeds 60000+, never trained on.
        generate_dataset(
            Path(tmp.name) / "ds",
            seeds=[59999],
            test_seeds=list(range(60000, 60006)),
            images=args.test_images + 2,
            val_fraction=0.0,
            test_fraction=args.test_images / (args.test_images + 2),
        )
        data = Path(tmp.name) / "ds" / "data.yaml"
    det_eval = load_detector(args.model, conf=0.001)
    rep = evaluate(det_eval, data, split="test")
    out["test_images"] = rep.images
    out["map50"] = round(rep.map50, 4)
    out["map50_95"] = round(rep.map50_95, 4)
    out["precision_at_threshold"] = round(rep.precision, 4)
    out["recall_at_threshold"] = round(rep.recall, 4)
    out["per_class"] = rep.to_dict()["per_class"]

    det = load_detector(args.model)
    planted = found = n_false = dups = frames = 0
    area = 0.0
    errors: list[float] = []
    worlds_out = []
    frames_for_speed: list[np.ndarray] = []
    for site, world, seed in survey_worlds(args.worlds):
        r = fly_survey(world, site, det, seed=seed, min_frames=args.min_frames)
        planted += r["planted"]
        found += r["found"]
        n_false += len(r["false"])
        dups += r["duplicates"]
        area += r["area_km2"]
        frames += r["frames"]
        errors += r["geo_errors_m"]
        worlds_out.append(
            {k: v for k, v in r.items() if k != "geo_errors_m"} | {"site": site.id, "seed": seed}
        )
        if not frames_for_speed:
            from simulators.camera import SyntheticCamera

            cam = SyntheticCamera(world, survey_camera(), seed=seed)
            for v in list(world.violations)[:20]:
                pose = CameraPose(
                    time=datetime(2026, 11, 27, 2, 0, tzinfo=UTC),
                    lat=v.lat,
                    lon=v.lon,
                    alt_agl_m=ALTITUDE_M,
                    alt_amsl_m=ALTITUDE_M + 50,
                    roll_deg=0.0,
                    pitch_deg=0.0,
                    yaw_deg=0.0,
                )
                frames_for_speed.append(cam.render(pose).image)
    out["survey_worlds"] = len(worlds_out)
    out["survey_frames"] = frames
    out["planted"] = planted
    out["recall"] = round(found / planted, 4) if planted else None
    out["false_suspects"] = n_false
    out["duplicate_suspects"] = dups
    out["area_km2"] = round(area, 4)
    out["false_per_km2"] = round(n_false / area, 2) if area else None
    out["geo_err_median_m"] = round(float(np.median(errors)), 2) if errors else None
    out["geo_err_p95_m"] = round(float(np.percentile(errors, 95)), 2) if errors else None
    out["altitude_agl_m"] = ALTITUDE_M
    out["min_frames"] = args.min_frames
    frames_for_speed = (frames_for_speed * 3)[:24]
    out |= speed(args.model, args.pt, frames_for_speed)
    out["speed_frame_px"] = list(FRAME_SIZE)
    out["cpu_count"] = os.cpu_count()
    out["worlds"] = worlds_out
    out["seconds"] = round(time.perf_counter() - t_all, 1)
    out["cpu_seconds"] = round(time.process_time() - cpu_all, 1)
    if tmp is not None:
        tmp.cleanup()
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
