"""Training data from the synthetic world and camera, in Ultralytics YOLO layout.

``generate_dataset`` builds worlds (sites x seeds), flies the synthetic camera over them and
writes ``images/{train,val,test}/*.jpg``, ``labels/{split}/*.txt`` (one ``class xc yc w h``
line per visible planted violation, normalised) and ``data.yaml`` with the class names in the
caller's order. Labels come from the ground-truth footprints projected into each frame with
the same camera model the renderer used, clipped to the image; boxes mostly outside the
frame or only a few pixels big are dropped. The test split comes from other seeds AND other
site polygons than training, so it measures generalisation to unseen layouts. A share of the
frames shows no violation at all (only ground and distractors).

Frames are rendered directly at the training size (default 640 x 480) with the field of
view of the default 1/2.3" 4.5 mm camera, which is what a 1280 x 960 flight frame looks like
after the detector's letterbox resize. ``manifest.jsonl`` records each image's world, pose
and boxes; ``ground_truth/*.geojson`` each world's planted objects.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import numpy as np

from simulators.camera import SyntheticCamera, camera_rotation, intrinsics, project_points
from simulators.world import VIOLATION_KINDS, World, generate_world
from simulators.world.objects import PlantedObject

#: Version of what the generator draws; bumped whenever worlds or frames look different, so a
#: model can be matched to the data it was trained on (written to data.yaml and report.json).
#: 2: greenhouses, dry seasons, cloud shadows, mip-banded oblique views, brick-extension and
#: straw-burning variants, duller waste heaps (after the first version of 23:00 UTC).
GENERATOR_VERSION = 2

__all__ = [
    "GENERATOR_VERSION",
    "DatasetError",
    "DatasetReport",
    "generate_dataset",
    "synthetic_site",
    "yolo_boxes",
]

SPLITS = ("train", "val", "test")


class DatasetError(ValueError):
    """Arguments of ``generate_dataset`` that cannot make a dataset."""


@dataclass
class DatasetReport:
    """What was written: counts per split and class, worlds used, time taken."""

    out_dir: Path
    data_yaml: Path
    images: dict[str, int] = field(default_factory=dict)
    empty_images: dict[str, int] = field(default_factory=dict)
    boxes: dict[str, dict[str, int]] = field(default_factory=dict)
    worlds: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "generator_version": GENERATOR_VERSION,
            "out_dir": str(self.out_dir),
            "data_yaml": str(self.data_yaml),
            "images": self.images,
            "empty_images": self.empty_images,
            "boxes": self.boxes,
            "worlds": {k: [list(w) for w in v] for k, v in self.worlds.items()},
            "seconds": round(self.seconds, 2),
        }


def synthetic_site(seed: int, span_m: tuple[float, float] = (220.0, 380.0)) -> Any:
    """A random site polygon somewhere in north-east China farmland (for unseen layouts)."""
    from missions.frame import LocalFrame
    from missions.site import site_from_geojson

    rng = np.random.default_rng([int(seed), 99])
    lon0, lat0 = float(rng.uniform(116.0, 126.0)), float(rng.uniform(36.0, 46.0))
    frame = LocalFrame(lon0, lat0)
    n = int(rng.integers(5, 9))
    # Evenly spread corners (jittered) keep the polygon around its centre, the launch point.
    ang = (np.arange(n) + rng.uniform(-0.3, 0.3, n)) * 2 * math.pi / n
    rx, ry = rng.uniform(*span_m) / 2, rng.uniform(*span_m) / 2
    rad = rng.uniform(0.8, 1.0, n)
    x, y = rx * rad * np.cos(ang), ry * rad * np.sin(ang)
    lon, lat = frame.to_wgs84(x, y)
    ring = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
    ring.append(ring[0])
    data = {
        "type": "FeatureCollection",
        "properties": {"name": f"synthetic {seed}", "id": f"synthetic-{seed}"},
        "features": [
            {
                "type": "Feature",
                "properties": {"role": "keep_in", "min_alt_m": 20, "max_alt_m": 120},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            },
            {
                "type": "Feature",
                "properties": {"role": "launch"},
                "geometry": {"type": "Point", "coordinates": [lon0, lat0]},
            },
        ],
    }
    return site_from_geojson(data)


def _scaled_camera(camera_model: Any, size: tuple[int, int]) -> Any:
    from missions.camera import CameraModel

    base = camera_model if camera_model is not None else CameraModel.default()
    return CameraModel(
        base.sensor_width_mm, base.sensor_height_mm, base.focal_length_mm, size[0], size[1]
    )


def yolo_boxes(
    objects: Sequence[PlantedObject],
    class_index: dict[str, int],
    camera_xy: tuple[float, float],
    height_m: float,
    rotation: np.ndarray,
    k: np.ndarray,
    size: tuple[int, int],
    min_box_px: float = 6.0,
    min_visible: float = 0.4,
) -> list[tuple[int, float, float, float, float]]:
    """Pixel boxes (class, x1, y1, x2, y2) of the objects' footprints seen in a frame.

    A box is kept when at least ``min_visible`` of its area lies in the image and its
    clipped sides are at least ``min_box_px``; objects partly behind the camera are dropped.
    """
    w, h = size
    out: list[tuple[int, float, float, float, float]] = []
    for o in objects:
        if o.class_name not in class_index:
            continue
        uv, depth = project_points(o.footprint_local(), camera_xy, height_m, rotation, k)
        if np.any(depth <= 0.5):
            continue
        x1, y1 = float(uv[:, 0].min()), float(uv[:, 1].min())
        x2, y2 = float(uv[:, 0].max()), float(uv[:, 1].max())
        area = (x2 - x1) * (y2 - y1)
        cx1, cy1, cx2, cy2 = max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)
        if cx2 - cx1 < min_box_px or cy2 - cy1 < min_box_px or area <= 0:
            continue
        if (cx2 - cx1) * (cy2 - cy1) / area < min_visible:
            continue
        out.append((class_index[o.class_name], cx1, cy1, cx2, cy2))
    return out


class _PoseLike:
    """A minimal pose (the CameraPose fields) used while sampling, before validation."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


def _sample_pose(
    rng: np.random.Generator,
    world: World,
    cam_model: Any,
    target: PlantedObject | None,
    altitude_range: tuple[float, float],
    oblique_fraction: float,
    when: datetime,
) -> Any:
    from telemetry.contract import CameraPose

    alt = float(rng.uniform(*altitude_range))
    oblique = rng.uniform() < oblique_fraction
    gp = (
        float(rng.uniform(-75.0, -45.0))
        if oblique
        else float(np.clip(rng.normal(-90, 1.5), -90, -86))
    )
    yaw = float(rng.uniform(0, 360))
    roll, pitch = float(rng.normal(0, 2)), float(rng.normal(0, 2))
    probe = _PoseLike(
        roll_deg=roll, pitch_deg=pitch, yaw_deg=yaw, gimbal_pitch_deg=gp, gimbal_yaw_deg=0.0
    )
    rot = camera_rotation(probe)
    k = intrinsics(cam_model)
    w, h = cam_model.image_width_px, cam_model.image_height_px
    if target is not None:
        tx, ty = target.x_m, target.y_m
        u = float(rng.uniform(0.15, 0.85)) * w
        v = float(rng.uniform(0.25 if oblique else 0.15, 0.85)) * h
    else:
        # Ground with no violation in view if possible: the candidate farthest from all of
        # them (violations are dense in small sites, so a few tries, keep the best).
        xmin, ymin, xmax, ymax = world.keep_in_local.bounds
        centres = np.array([[o.x_m, o.y_m] for o in world.violations]).reshape(-1, 2)
        half_diag = (
            alt
            * math.hypot(cam_model.sensor_width_mm, cam_model.sensor_height_mm)
            / (2 * cam_model.focal_length_mm)
        )
        best, best_d = (0.0, 0.0), -1.0
        for _ in range(25):
            px, py = (
                float(rng.uniform(xmin - 40, xmax + 40)),
                float(rng.uniform(ymin - 40, ymax + 40)),
            )
            d = float(np.min(np.hypot(centres[:, 0] - px, centres[:, 1] - py), initial=1e9))
            if d > best_d:
                best, best_d = (px, py), d
            if d > half_diag + 25.0:
                break
        tx, ty = best
        u, v = w / 2, h / 2
    ray = rot @ np.linalg.inv(k) @ np.array([u, v, 1.0])
    t = alt / ray[2]
    cx, cy = tx - t * ray[1], ty - t * ray[0]
    lon, lat = world.frame.to_wgs84(cx, cy)
    return CameraPose(
        time=when,
        lat=float(lat),
        lon=float(lon),
        alt_agl_m=alt,
        alt_amsl_m=alt + 50.0,
        roll_deg=roll,
        pitch_deg=pitch,
        yaw_deg=yaw,
        gimbal_pitch_deg=gp,
        gimbal_yaw_deg=0.0,
    )


def _load_sites(paths: Sequence[str | Path] | None, what: str) -> list[Any]:
    from missions.site import load_site

    sites = []
    for p in paths or []:
        if not Path(p).is_file():
            raise DatasetError(f"{what}: site file {str(p)!r} does not exist")
        sites.append(load_site(p))
    return sites


@dataclass(frozen=True)
class _Settings:
    """What every world job needs (picklable, for worker processes)."""

    out: Path
    names: list[str]
    size: tuple[int, int]
    cam_model: Any
    empty_fraction: float
    distractor_fraction: float
    oblique_fraction: float
    altitude_range: tuple[float, float]
    violations: int
    distractors: int
    min_box_px: float


@dataclass
class _JobResult:
    worlds: list[tuple[str, str, int]] = field(default_factory=list)  # split, site, seed
    records: list[dict[str, Any]] = field(default_factory=list)


def _run_job(item: tuple[_Settings, Any, int, list[tuple[str, int]]]) -> _JobResult:
    """Generate one world and write its share of frames of each split."""
    cfg, site, sd, shares = item
    w_px, h_px = cfg.size
    names = cfg.names
    class_index = {n: i for i, n in enumerate(names)}
    if site is None:
        # Synthetic polygons: training and test sites differ by their seeds.
        site = synthetic_site(sd)
    world = generate_world(
        site, sd, classes=names, violations=cfg.violations, distractors=cfg.distractors
    )
    result = _JobResult()
    for split, share in shares:
        if share == 0:
            continue
        split_no = SPLITS.index(split)
        result.worlds.append((split, world.site_id, sd))
        world.save(cfg.out / "ground_truth" / f"{split}_{world.site_id}_{sd}.geojson")
        camera = SyntheticCamera(world, cfg.cam_model, seed=sd * 10 + split_no)
        rng = np.random.default_rng([sd, split_no, 77])
        start = datetime(2026, 5, 1, 2, 0, tzinfo=UTC) + timedelta(days=sd % 200)
        # Hard negatives: distractors and the greenhouse tunnels of the scenery.
        lookalikes = [
            *world.distractors,
            *(o for o in world.scenery if o.class_name == "greenhouse"),
        ]
        by_class: dict[str, list[PlantedObject]] = {}
        for o in world.violations:
            by_class.setdefault(o.class_name, []).append(o)
        for i in range(share):
            r = rng.uniform()
            target: PlantedObject | None
            if r < cfg.empty_fraction or not by_class:
                target = None
            elif r < cfg.empty_fraction + cfg.distractor_fraction and lookalikes:
                target = lookalikes[int(rng.integers(len(lookalikes)))]
            else:
                cls = sorted(by_class)[int(rng.integers(len(by_class)))]
                target = by_class[cls][int(rng.integers(len(by_class[cls])))]
            pose = _sample_pose(
                rng,
                world,
                cfg.cam_model,
                target,
                cfg.altitude_range,
                cfg.oblique_fraction,
                start + timedelta(seconds=2 * i),
            )
            frame = camera.render(pose)
            xy, height, rot = camera.geometry(pose)
            boxes = yolo_boxes(
                world.violations,
                class_index,
                xy,
                height,
                rot,
                camera.k,
                (w_px, h_px),
                min_box_px=cfg.min_box_px,
            )
            stem = f"{split}_{world.site_id}_{sd}_{i:05d}"
            (cfg.out / "images" / split / f"{stem}.jpg").write_bytes(frame.jpeg or b"")
            lines = [
                f"{c} {(x1 + x2) / 2 / w_px:.6f} {(y1 + y2) / 2 / h_px:.6f} "
                f"{(x2 - x1) / w_px:.6f} {(y2 - y1) / h_px:.6f}"
                for c, x1, y1, x2, y2 in boxes
            ]
            (cfg.out / "labels" / split / f"{stem}.txt").write_text(
                "\n".join(lines) + ("\n" if lines else ""), "utf-8"
            )
            result.records.append(
                {
                    "image": f"images/{split}/{stem}.jpg",
                    "split": split,
                    "site_id": world.site_id,
                    "seed": sd,
                    "pose": pose.model_dump(mode="json"),
                    "boxes": [
                        [names[c], round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)]
                        for c, x1, y1, x2, y2 in boxes
                    ],
                }
            )
    return result


def _collect(
    result: _JobResult,
    report: DatasetReport,
    manifest: IO[str],
    done: int,
    total: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    for split, site_id, sd in result.worlds:
        report.worlds[split].append((site_id, sd))
    for rec in result.records:
        split = rec["split"]
        report.images[split] += 1
        if not rec["boxes"]:
            report.empty_images[split] += 1
        for box in rec["boxes"]:
            report.boxes[split][box[0]] += 1
        manifest.write(json.dumps(rec) + "\n")
        done += 1
        if progress is not None:
            progress(done, total)
    return done


def generate_dataset(
    out_dir: str | Path,
    site_paths: Sequence[str | Path] | None = None,
    seeds: Sequence[int] = (0, 1, 2, 3, 4, 5),
    images: int = 600,
    class_names: Sequence[str] | None = None,
    *,
    test_site_paths: Sequence[str | Path] | None = None,
    test_seeds: Sequence[int] | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    image_size: tuple[int, int] = (640, 480),
    empty_fraction: float = 0.1,
    distractor_fraction: float = 0.2,
    oblique_fraction: float = 0.2,
    altitude_range: tuple[float, float] = (40.0, 90.0),
    violations_per_world: int = 10,
    distractors_per_world: int = 14,
    camera_model: Any | None = None,
    min_box_px: float = 6.0,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> DatasetReport:
    """Write a YOLO dataset of ``images`` frames (all splits) to ``out_dir``.

    Training and validation frames come from ``site_paths`` (site files; default: one
    synthetic site per seed) x ``seeds``. Test frames come from ``test_site_paths`` (default:
    synthetic sites of their own) x ``test_seeds`` (default: each training seed + 10000),
    which must not overlap ``seeds``. ``class_names`` gives the class order of the labels
    (default: all five violation classes); only those classes are planted. Of the frames,
    ``empty_fraction`` are aimed away from violations, ``distractor_fraction`` at look-alikes
    (distractors, greenhouses), the rest at a violation of a uniformly drawn class;
    ``oblique_fraction`` look obliquely (gimbal -45 to -75 deg). ``workers`` > 1 renders
    worlds in that many processes; the output is the same whatever the number.
    """
    t_start = time.perf_counter()
    names = list(VIOLATION_KINDS if class_names is None else class_names)
    for n in names:
        if n not in VIOLATION_KINDS:
            raise DatasetError(
                f"class_names: {n!r} is not a class the synthetic world can plant; use some of "
                f"{', '.join(VIOLATION_KINDS)}"
            )
    if len(set(names)) != len(names) or not names:
        raise DatasetError(f"class_names={names!r}: give each class once, at least one")
    if workers < 1:
        raise DatasetError(f"workers={workers}: use 1 or more processes")
    if images < 1:
        raise DatasetError(f"images={images}: ask for at least one image")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise DatasetError("seeds: give at least one seed")
    t_seeds = [s + 10000 for s in seeds] if test_seeds is None else [int(s) for s in test_seeds]
    if set(t_seeds) & set(seeds):
        raise DatasetError(
            f"test_seeds={t_seeds!r} overlap seeds={seeds!r}; the test split must use other seeds"
        )
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DatasetError(f"{name}={value}: use a fraction in [0, 1)")
    for name, value in (
        ("empty_fraction", empty_fraction),
        ("distractor_fraction", distractor_fraction),
        ("oblique_fraction", oblique_fraction),
    ):
        if not 0.0 <= value <= 1.0:
            raise DatasetError(f"{name}={value}: use a fraction in [0, 1]")
    if empty_fraction + distractor_fraction > 1.0:
        raise DatasetError("empty_fraction + distractor_fraction must be at most 1")
    lo_alt, hi_alt = altitude_range
    if not 2.0 <= lo_alt <= hi_alt <= 1000.0:
        raise DatasetError(
            f"altitude_range={altitude_range!r}: give (low, high) metres, 2 <= low <= high <= 1000"
        )
    if val_fraction + test_fraction >= 1.0:
        raise DatasetError("val_fraction + test_fraction must leave images for training")
    w_px, h_px = int(image_size[0]), int(image_size[1])
    if w_px < 64 or h_px < 64:
        raise DatasetError(f"image_size={image_size!r}: at least 64 x 64 pixels")

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise DatasetError(
                f"out_dir={str(out)!r} is not empty; choose another directory or pass overwrite"
            )
        shutil.rmtree(out)
    for split in SPLITS:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    (out / "ground_truth").mkdir(parents=True, exist_ok=True)

    train_sites = _load_sites(site_paths, "site_paths")
    test_sites = _load_sites(test_site_paths, "test_site_paths")
    train_ids = {s.id for s in train_sites}
    if test_sites and train_ids & {s.id for s in test_sites}:
        raise DatasetError("test_site_paths: the test split needs sites not used for training")

    def worlds_for(sites: list[Any], seed_list: list[int]) -> list[tuple[Any, int]]:
        if sites:
            return [(site, sd) for site in sites for sd in seed_list]
        return [(None, sd) for sd in seed_list]

    n_test = round(images * test_fraction)
    n_val = round(images * val_fraction)
    counts = {"train": images - n_test - n_val, "val": n_val, "test": n_test}
    # Each world is generated once and serves its share of every split it belongs to.
    jobs: list[tuple[Any, int, list[tuple[str, int]]]] = []
    for group, splits in (
        (worlds_for(train_sites, seeds), ("train", "val")),
        (worlds_for(test_sites, t_seeds), ("test",)),
    ):
        for wi, (site, sd) in enumerate(group):
            shares = []
            for split in splits:
                total = counts[split]
                shares.append((split, total // len(group) + (1 if wi < total % len(group) else 0)))
            if any(n for _, n in shares):
                jobs.append((site, sd, shares))

    cam_model = _scaled_camera(camera_model, (w_px, h_px))
    settings = _Settings(
        out=out,
        names=names,
        size=(w_px, h_px),
        cam_model=cam_model,
        empty_fraction=empty_fraction,
        distractor_fraction=distractor_fraction,
        oblique_fraction=oblique_fraction,
        altitude_range=(float(lo_alt), float(hi_alt)),
        violations=violations_per_world,
        distractors=distractors_per_world,
        min_box_px=min_box_px,
    )
    report = DatasetReport(out_dir=out, data_yaml=out / "data.yaml")
    for split in SPLITS:
        report.images[split] = 0
        report.empty_images[split] = 0
        report.boxes[split] = {n: 0 for n in names}
        report.worlds[split] = []
    work = [(settings, site, sd, shares) for site, sd, shares in jobs]
    done = 0
    with (out / "manifest.jsonl").open("w", encoding="utf-8") as manifest:
        if workers > 1 and len(work) > 1:
            # Worlds are independent: render them in parallel, collect in job order so the
            # output does not depend on the number of workers.
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                results: Iterable[_JobResult] = pool.map(_run_job, work)
                for result in results:
                    done = _collect(result, report, manifest, done, images, progress)
        else:
            for item in work:
                done = _collect(_run_job(item), report, manifest, done, images, progress)

    names_yaml = "\n".join(f"  {i}: {n}" for i, n in enumerate(names))
    report.data_yaml.write_text(
        "# Synthetic FieldPatrol dataset (simulators.dataset.generate_dataset)\n"
        f"# generator_version: {GENERATOR_VERSION}\n"
        f"path: {out.resolve()}\n"
        "train: images/train\n"
        "val: images/val\n"
        "test: images/test\n"
        f"nc: {len(names)}\n"
        f"names:\n{names_yaml}\n",
        "utf-8",
    )
    report.seconds = time.perf_counter() - t_start
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=1), "utf-8")
    return report
