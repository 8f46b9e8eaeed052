"""Training and export: a FieldPatrol detector from scratch with Ultralytics, fully offline.

The architecture is ``vision/data/fieldpatrol.yaml`` (YOLOv8, scales ``n`` and a narrower
``p``), built with random weights: nothing pretrained is downloaded, and
:func:`vision.offline.enable` keeps every Ultralytics network call away. The best checkpoint
is exported to ONNX for the ONNX Runtime back end. Needs the ``train`` extra.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vision.classes import class_names
from vision.errors import VisionError

__all__ = ["TrainConfig", "TrainResult", "export_onnx", "model_yaml", "train"]

ARCH_YAML = Path(__file__).resolve().parent / "data" / "fieldpatrol.yaml"


class TrainError(VisionError):
    """Training input a user can fix: a missing data.yaml, a bad scale, ..."""


@dataclass
class TrainConfig:
    """What a training run does; every field is a ``patrol vision train`` option."""

    data: Path
    out_dir: Path
    name: str = "fieldpatrol-n"
    scale: str = "p"
    epochs: int = 30
    imgsz: int = 320
    batch: int = 16
    workers: int = 1
    seed: int = 0
    patience: int = 50
    time_hours: float | None = None  # a wall-clock budget; Ultralytics fits epochs to it
    threads: int | None = None
    mosaic: float = 1.0
    close_mosaic: int = 2
    # A short from-scratch run needs a short warm-up and a brisk learning rate: Ultralytics'
    # defaults (3 warm-up epochs, lr ~0.001) spend most of a 1-hour CPU budget warming up.
    optimizer: str = "AdamW"
    lr0: float = 0.003
    warmup_epochs: float = 0.5
    cache: bool = True
    val: bool = True
    export: bool = True
    # Start from these weights (fine-tuning, e.g. on a department's own labelled imagery)
    # instead of from scratch.
    weights: Path | None = None
    # Learning rate of the biases at the start of the warm-up (it falls to lr0). Ultralytics'
    # 0.1 suits random weights; from trained weights it throws the detection head off, so
    # None means 0.1 from scratch and lr0 when fine-tuning (no spike).
    warmup_bias_lr: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainResult:
    """Where the trained model went and how it scored on the validation split."""

    pt_path: Path
    onnx_path: Path | None
    epochs_run: int
    seconds: float
    metrics: dict[str, float]
    config: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pt_path": str(self.pt_path),
            "onnx_path": str(self.onnx_path) if self.onnx_path else None,
            "epochs_run": self.epochs_run,
            "seconds": round(self.seconds, 1),
            "metrics": self.metrics,
            "config": self.config,
        }


def model_yaml(out_dir: Path, scale: str, nc: int) -> Path:
    """Write the architecture for ``scale`` and ``nc`` classes into ``out_dir``."""
    arch = yaml.safe_load(ARCH_YAML.read_text(encoding="utf-8"))
    if scale not in arch["scales"]:
        raise TrainError(f"scale: {scale!r} is not one of {', '.join(arch['scales'])}")
    # Ultralytics overwrites ``scale`` with a guess from the file name and falls back to the
    # first entry of ``scales``: keeping only the chosen one makes the choice stick.
    arch["scales"] = {scale: arch["scales"][scale]}
    arch["scale"] = scale
    arch["nc"] = nc
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"fieldpatrol-{scale}.yaml"
    path.write_text(yaml.safe_dump(arch, sort_keys=False), encoding="utf-8")
    return path


def _check_data(data: Path) -> list[str]:
    if not data.is_file():
        raise TrainError(
            f"data: no data.yaml at {data}; make one with 'patrol vision dataset OUT_DIR'"
        )
    spec = yaml.safe_load(data.read_text(encoding="utf-8"))
    raw = spec.get("names")
    names = [raw[k] for k in sorted(raw)] if isinstance(raw, dict) else list(raw or [])
    if not names:
        raise TrainError(f"data: {data} has no class names ('names:')")
    return [str(n) for n in names]


def train(config: TrainConfig, log: Any = None) -> TrainResult:
    """Train as ``config`` says (from scratch, or from ``config.weights``).

    Returns the best checkpoint (and its ONNX).
    """
    from vision import offline

    cfg_dir = offline.enable()
    import torch
    from ultralytics import YOLO

    if config.threads:
        torch.set_num_threads(config.threads)
    names = _check_data(config.data)
    if names != class_names()[: len(names)] and log is not None:
        log(f"note: data classes {names} differ from vision.classes; training them as given")
    run_dir = config.out_dir / "runs"
    arch = model_yaml(config.out_dir, config.scale, len(names))
    t0 = time.monotonic()
    if config.weights is not None:
        if not Path(config.weights).is_file():
            raise TrainError(f"weights: {config.weights} is not a file; give a .pt checkpoint")
        model = YOLO(str(config.weights), task="detect")
    else:
        model = YOLO(str(arch), task="detect")
    args: dict[str, Any] = {
        "data": str(config.data),
        "epochs": config.epochs,
        "imgsz": config.imgsz,
        "batch": config.batch,
        "workers": config.workers,
        "device": "cpu",
        "seed": config.seed,
        "deterministic": False,
        "patience": config.patience,
        # Ultralytics reads pretrained=False as "rebuild from the architecture" and drops the
        # weights of a loaded checkpoint: a fine-tune must say True to keep them.
        "pretrained": config.weights is not None,
        "amp": False,
        "plots": False,
        "project": str(run_dir),
        "name": config.name,
        "exist_ok": True,
        "mosaic": config.mosaic,
        "close_mosaic": config.close_mosaic,
        "lr0": config.lr0,
        "optimizer": config.optimizer,
        "warmup_epochs": config.warmup_epochs,
        "warmup_bias_lr": (
            config.warmup_bias_lr
            if config.warmup_bias_lr is not None
            else (config.lr0 if config.weights is not None else 0.1)
        ),
        "cache": "ram" if config.cache else False,
        "val": config.val,
        "verbose": False,
        # Aerial views have no "up": flipping both ways is free augmentation.
        "flipud": 0.5,
        "fliplr": 0.5,
    }
    if config.time_hours:
        args["time"] = config.time_hours
    args.update(config.extra)
    model.train(**args)
    seconds = time.monotonic() - t0
    trainer: Any = model.trainer
    weights = Path(trainer.save_dir) / "weights"
    best = weights / "best.pt"
    if not best.is_file():
        best = weights / "last.pt"
    if not best.is_file():
        raise TrainError(f"training wrote no checkpoint under {weights}; see the log above")
    pt_path = config.out_dir / f"{config.name}.pt"
    shutil.copyfile(best, pt_path)
    metrics = {k: float(v) for k, v in (getattr(trainer, "metrics", None) or {}).items()}
    onnx_path = export_onnx(pt_path, config.imgsz) if config.export else None
    result = TrainResult(
        pt_path=pt_path,
        onnx_path=onnx_path,
        epochs_run=int(getattr(trainer, "epoch", config.epochs - 1)) + 1,
        seconds=seconds,
        metrics=metrics,
        config={k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
    )
    (config.out_dir / f"{config.name}.train.json").write_text(
        json.dumps(result.to_dict(), indent=2, default=str), encoding="utf-8"
    )
    del cfg_dir
    return result


def export_onnx(pt_path: Path, imgsz: int, opset: int = 17) -> Path:
    """Export a ``.pt`` checkpoint to ONNX beside it (static ``imgsz`` input, simplified)."""
    from vision import offline

    offline.enable()
    from ultralytics import YOLO

    model = YOLO(str(pt_path), task="detect")
    out = model.export(
        format="onnx", imgsz=imgsz, opset=opset, simplify=True, dynamic=False, device="cpu"
    )
    return Path(out)
