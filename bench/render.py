"""Benchmark of the synthetic camera; prints one JSON object.

Renders the frames of a nadir survey over the example site's world at 60 m (1280 x 960, the
default 1/2.3" 4.5 mm camera, 70 % front overlap along lawnmower lines), with every effect on
(lighting, haze, blur, noise, JPEG):

* ``frames_per_s``, ``render_ms_p50``, ``render_ms_p95``: the survey as flown, ground tiles
  built on first sight (what a simulated flight pays);
* ``render_cpu_ms_p50`` / ``warm_cpu_ms_p50``: the same as CPU time of this process, which
  stays meaningful when other work shares the cores;
* ``warm_ms_p50``: the same frames again, tiles cached (the cost of the camera itself);
* ``oblique_ms_p50``: frames with the gimbal at -45 deg (far ground from coarser levels);
* ``dataset_640_ms_p50``: 640 x 480 frames as ``generate_dataset`` renders them (warm);
* ``world_generate_s``: ``generate_world`` for the site;
* ``tiles_built``, ``tile_ms_mean``: ground tiles rasterised during the survey.

Usage: ``python bench/render.py [--frames N] [--site PATH] [--seed N]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from missions.camera import CameraModel
from missions.site import load_site
from simulators.camera import SyntheticCamera
from simulators.world import generate_world
from telemetry.contract import CameraPose

ROOT = Path(__file__).resolve().parents[1]


def survey_poses(world: Any, alt: float, n: int, gimbal_pitch: float = -90.0) -> list[CameraPose]:
    """Lawnmower capture points over the keep-in area (north-south legs)."""
    cam = CameraModel.default()
    w_m, h_m = cam.footprint_m(alt)
    step = h_m * 0.3  # 70 % front overlap
    spacing = w_m * 0.4  # 60 % side overlap
    xmin, ymin, xmax, ymax = world.keep_in_local.bounds
    poses: list[CameraPose] = []
    t0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    x, leg = xmin + spacing / 2, 0
    while len(poses) < n and x < xmax:
        ys = [ymin + step / 2 + k * step for k in range(int((ymax - ymin) / step))]
        if leg % 2:
            ys.reverse()
        for y in ys:
            lon, lat = world.frame.to_wgs84(x, y)
            poses.append(
                CameraPose(
                    time=t0 + timedelta(seconds=2 * len(poses)),
                    lat=lat,
                    lon=lon,
                    alt_agl_m=alt,
                    alt_amsl_m=alt + 45.0,
                    roll_deg=1.0,
                    pitch_deg=-3.0,
                    yaw_deg=180.0 if leg % 2 else 0.0,
                    gimbal_pitch_deg=gimbal_pitch,
                )
            )
            if len(poses) >= n:
                break
        x += spacing
        leg += 1
    return poses


CPU_MS: list[float] = []


def timed(camera: SyntheticCamera, poses: list[CameraPose]) -> list[float]:
    """Wall milliseconds per frame; CPU milliseconds (this process, all threads) go to
    CPU_MS, which says what a frame costs even when other work shares the cores."""
    out = []
    CPU_MS.clear()
    for p in poses:
        t, c = time.perf_counter(), time.process_time()
        camera.render(p)
        out.append((time.perf_counter() - t) * 1000.0)
        CPU_MS.append((time.process_time() - c) * 1000.0)
    return out


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, math.ceil(q * len(s)) - 1)], 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--site", default=str(ROOT / "examples/sites/shenyang-hunhe.geojson"))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    site = load_site(args.site)
    t = time.perf_counter()
    world = generate_world(site, args.seed)
    world_s = time.perf_counter() - t
    camera = SyntheticCamera(world, CameraModel.default(), seed=args.seed)
    poses = survey_poses(world, 60.0, args.frames)

    built0 = world.raster.tiles_built
    t = time.perf_counter()
    cold = timed(camera, poses)
    survey_s = time.perf_counter() - t
    cold_cpu = list(CPU_MS)
    tiles = world.raster.tiles_built - built0
    warm = timed(camera, poses)
    warm_cpu = list(CPU_MS)
    tile_ms = (sum(cold) - sum(warm)) / max(1, tiles)

    oblique = survey_poses(world, 60.0, max(4, args.frames // 4), gimbal_pitch=-45.0)
    timed(camera, oblique[:1])
    obl = timed(camera, oblique)
    obl_cpu = list(CPU_MS)

    small = SyntheticCamera(world, CameraModel(6.17, 4.55, 4.5, 640, 480), seed=2)
    timed(small, poses[:2])
    ds = timed(small, poses)
    ds_cpu = list(CPU_MS)

    print(
        json.dumps(
            {
                "frames": len(poses),
                "image_px": [1280, 960],
                "altitude_agl_m": 60.0,
                "frames_per_s": round(len(poses) / survey_s, 1),
                "render_ms_p50": round(statistics.median(cold), 1),
                "render_ms_p95": pct(cold, 0.95),
                "render_cpu_ms_p50": round(statistics.median(cold_cpu), 1),
                "warm_ms_p50": round(statistics.median(warm), 1),
                "warm_cpu_ms_p50": round(statistics.median(warm_cpu), 1),
                "warm_frames_per_s": round(1000.0 / statistics.mean(warm), 1),
                "oblique_ms_p50": round(statistics.median(obl), 1),
                "oblique_cpu_ms_p50": round(statistics.median(obl_cpu), 1),
                "dataset_640_ms_p50": round(statistics.median(ds), 1),
                "dataset_640_cpu_ms_p50": round(statistics.median(ds_cpu), 1),
                "world_generate_s": round(world_s, 2),
                "tiles_built": tiles,
                "tile_ms_mean": round(tile_ms, 1),
                "opencv_warp": camera_uses_opencv(),
                "machine": {
                    "cpus": os.cpu_count(),
                    "arch": platform.machine(),
                    "python": platform.python_version(),
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                },
            }
        )
    )


def camera_uses_opencv() -> bool:
    from simulators import camera

    return camera._cv2 is not None


if __name__ == "__main__":
    main()
