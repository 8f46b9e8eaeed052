"""`patrol vision`: detect violations in images, evaluate, train and build datasets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from patrol.output import console, emit_json, fail

app = typer.Typer(
    help="视觉识别 (Detect suspected violations in images, evaluate, train, build datasets).",
    no_args_is_help=True,
)

ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", help="Model file (.onnx, or .pt/.onnx with --backend ultralytics)."),
]
BackendOpt = Annotated[
    str, typer.Option("--backend", help="onnx (ONNX Runtime, default) or ultralytics.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _user_errors() -> tuple[type[Exception], ...]:
    from telemetry.contract import ContractError
    from vision.errors import VisionError

    errors: list[type[Exception]] = [VisionError, ContractError]
    try:
        from simulators.dataset import DatasetError

        errors.append(DatasetError)
    except ImportError:
        pass
    return tuple(errors)


def _load_poses(path: Path, count: int) -> list[Any]:
    """Poses from a JSON file: one CameraPose object (all images) or a list, one per image."""
    from pydantic import ValidationError

    from telemetry.contract import CameraPose

    if not path.is_file():
        fail(f"--pose: no file at {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data if isinstance(data, list) else [data] * count
        poses = [CameraPose.model_validate(p) for p in items]
    except (ValueError, ValidationError) as exc:
        fail(f"--pose: {path} is not a CameraPose JSON object or list ({str(exc).splitlines()[0]})")
    if len(poses) != count:
        fail(f"--pose: {path} has {len(poses)} poses for {count} images; give one per image")
    return poses


def _camera(width: int, height: int, sensor: str, focal_mm: float) -> Any:
    from missions.camera import CameraModel

    try:
        sw, sh = (float(v) for v in sensor.lower().split("x"))
    except ValueError:
        fail(f"--sensor: {sensor!r} is not WIDTHxHEIGHT in mm, e.g. 6.17x4.55")
    return CameraModel(sw, sh, focal_mm, width, height)


@app.command("detect")
def detect(
    images: Annotated[list[Path], typer.Argument(help="Image files (JPEG/PNG).")],
    model: ModelOpt = None,
    backend: BackendOpt = "onnx",
    conf: Annotated[
        float | None, typer.Option("--conf", help="One threshold for all classes.")
    ] = None,
    pose: Annotated[
        Path | None,
        typer.Option("--pose", help="CameraPose JSON (object or list per image): georeference."),
    ] = None,
    sensor: Annotated[str, typer.Option(help="Sensor size WIDTHxHEIGHT mm.")] = "6.17x4.55",
    focal_mm: Annotated[float, typer.Option(help="Focal length, mm.")] = 4.5,
    merge_m: Annotated[float, typer.Option(help="Merge same-class finds this close, m.")] = 8.0,
    as_json: JsonOpt = False,
) -> None:
    """Find suspected violations in IMAGES; with --pose, pin them on the ground and merge."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        from vision.detector import load_detector
        from vision.georef import box_footprint, footprint_geojson
        from vision.merge import Merger

        det = load_detector(model, backend=backend, conf=conf)
        poses = _load_poses(pose, len(images)) if pose is not None else None
        merger = Merger(distance_m=merge_m)
        results = []
        for i, path in enumerate(images):
            try:
                with Image.open(path) as im:
                    image = np.asarray(im.convert("RGB"))
            except (OSError, UnidentifiedImageError):
                fail(f"IMAGES: {path} is not a readable image file")
            boxes = det.detect(image)
            item: dict[str, Any] = {"image": str(path), "detections": []}
            grounded = []
            for b in boxes:
                d: dict[str, Any] = {
                    "class_name": b.class_name,
                    "confidence": round(b.confidence, 4),
                    "box_px": b.as_list(),
                }
                if poses is not None:
                    h, w = image.shape[:2]
                    cam = _camera(w, h, sensor, focal_mm)
                    fix = box_footprint(b, poses[i], cam, image_size=(w, h))
                    d.update(
                        lon=fix.lon,
                        lat=fix.lat,
                        uncertainty_m=round(fix.uncertainty_m, 2),
                        footprint_geojson=footprint_geojson(fix.footprint),
                    )
                    grounded.append((b, fix))
                item["detections"].append(d)
            if poses is not None:
                merger.add(str(path), poses[i], grounded)
            results.append(item)
    except _user_errors() as exc:
        fail(str(exc))
    doc: dict[str, Any] = {"model": str(getattr(det, "model_path", "")), "backend": backend}
    doc["images"] = results
    if poses is not None:
        doc["suspects"] = [s.to_dict() for s in merger.suspects()]
    if as_json:
        emit_json(doc)
        return
    for item in results:
        console.print(f"[bold]{item['image']}[/bold]: {len(item['detections'])} finding(s)")
        for d in item["detections"]:
            where = f" at {d['lat']:.6f},{d['lon']:.6f}" if "lat" in d else ""
            console.print(f"  {d['class_name']} {d['confidence']:.2f} {d['box_px']}{where}")


@app.command("eval")
def evaluate_cmd(
    data: Annotated[Path, typer.Option(help="YOLO data.yaml of a labelled dataset.")],
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    model: ModelOpt = None,
    backend: BackendOpt = "onnx",
    limit: Annotated[int | None, typer.Option(help="Score only the first N images.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a model on a labelled split: mAP50, mAP50-95, precision, recall per class."""
    try:
        from vision.detector import load_detector
        from vision.metrics import evaluate

        det = load_detector(model, backend=backend, conf=0.001)
        report = evaluate(det, data, split=split, limit=limit)
    except _user_errors() as exc:
        fail(str(exc))
    doc = report.to_dict() | {"model": str(getattr(det, "model_path", "")), "backend": backend}
    if as_json:
        emit_json(doc)
        return
    console.print(
        f"{report.images} images ({split}): mAP50 {report.map50:.3f}  "
        f"mAP50-95 {report.map50_95:.3f}  P {report.precision:.3f}  R {report.recall:.3f}"
    )
    for name, d in doc["per_class"].items():
        console.print(f"  {name:26s} mAP50 {d['map50']}  mAP50-95 {d['map50_95']}")


@app.command("train")
def train_cmd(
    data: Annotated[Path, typer.Option(help="YOLO data.yaml (patrol vision dataset).")],
    out: Annotated[Path, typer.Option(help="Where the .pt, .onnx and run go.")],
    name: Annotated[str, typer.Option(help="Model name (file stem).")] = "fieldpatrol-n",
    scale: Annotated[str, typer.Option(help="Architecture scale: n or p.")] = "p",
    epochs: Annotated[int, typer.Option(help="Epochs (upper bound with --hours).")] = 30,
    hours: Annotated[float | None, typer.Option(help="Wall-clock budget, hours.")] = None,
    imgsz: Annotated[int, typer.Option(help="Training image size, px.")] = 320,
    batch: Annotated[int, typer.Option(help="Batch size.")] = 16,
    workers: Annotated[int, typer.Option(help="Data loader processes.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    weights: Annotated[
        Path | None,
        typer.Option(help="Fine-tune from this .pt (e.g. the shipped model) instead of scratch."),
    ] = None,
    lr0: Annotated[
        float | None,
        typer.Option(help="Initial learning rate [default: 0.003; 0.0003 with --weights]."),
    ] = None,
    warmup_epochs: Annotated[
        float | None,
        typer.Option(help="Warm-up epochs [default: 0.5; 1 with --weights]."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a detector (from scratch, or fine-tune --weights; fully offline); export ONNX."""
    try:
        from vision.train import TrainConfig, train
    except ImportError:
        fail("train: needs the train extra; pip install 'fieldpatrol[train]'")
    try:
        result = train(
            TrainConfig(
                data=data,
                out_dir=out,
                name=name,
                scale=scale,
                epochs=epochs,
                time_hours=hours,
                imgsz=imgsz,
                batch=batch,
                workers=workers,
                seed=seed,
                weights=weights,
                # Trained weights need a gentler start than random ones: a tenth of the
                # learning rate, warmed up over a whole epoch.
                lr0=lr0 if lr0 is not None else (0.0003 if weights is not None else 0.003),
                warmup_epochs=(
                    warmup_epochs
                    if warmup_epochs is not None
                    else (1.0 if weights is not None else 0.5)
                ),
            ),
            log=lambda m: print(m, file=sys.stderr),
        )
    except _user_errors() as exc:
        fail(str(exc))
    if as_json:
        emit_json(result.to_dict())
    else:
        console.print(f"trained {result.epochs_run} epochs in {result.seconds:.0f} s")
        console.print(f"  {result.pt_path}\n  {result.onnx_path}")


@app.command("dataset")
def dataset_cmd(
    out: Annotated[Path, typer.Argument(help="Output directory (YOLO layout + data.yaml).")],
    images: Annotated[int, typer.Option(help="Images over all splits.")] = 600,
    seeds: Annotated[str, typer.Option(help="Training world seeds, e.g. 0-23 or 1,2,3.")] = "0-5",
    site: Annotated[
        list[Path] | None, typer.Option(help="Site file(s) for training worlds (repeat).")
    ] = None,
    test_site: Annotated[
        list[Path] | None, typer.Option(help="Site file(s) for the test split (repeat).")
    ] = None,
    val_fraction: Annotated[float, typer.Option(help="Share of images for val.")] = 0.15,
    test_fraction: Annotated[float, typer.Option(help="Share of images for test.")] = 0.15,
    distractor_fraction: Annotated[
        float,
        typer.Option(help="Share of frames aimed at look-alikes (distractors, greenhouses)."),
    ] = 0.2,
    workers: Annotated[int, typer.Option(help="Worlds rendered in parallel processes.")] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty OUT.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Render a synthetic labelled dataset; the test split uses unseen seeds and sites."""
    from simulators.dataset import generate_dataset
    from vision.classes import class_names

    try:
        if "-" in seeds:
            lo, hi = (int(v) for v in seeds.split("-", 1))
            seed_list = list(range(lo, hi + 1))
        else:
            seed_list = [int(v) for v in seeds.split(",") if v.strip()]
    except ValueError:
        fail(f"--seeds: {seeds!r} is not a range like 0-23 or a list like 1,2,3")
    try:
        report = generate_dataset(
            out,
            site_paths=site,
            seeds=seed_list,
            images=images,
            class_names=class_names(),
            test_site_paths=test_site,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            distractor_fraction=distractor_fraction,
            workers=workers,
            overwrite=overwrite,
        )
    except _user_errors() as exc:
        fail(str(exc))
    doc = report.to_dict()
    if as_json:
        emit_json(doc)
    else:
        console.print(f"wrote {sum(doc['images'].values())} images to {out} ({doc['images']})")
