"""Detection accuracy on a labelled YOLO dataset: precision, recall, mAP50 and mAP50-95.

Computed here in numpy from the same detector interface the vehicle runs (so the figures are
those of the shipped post-processing, not of a training framework's own validator): per class,
detections are matched greedily to ground truth by IoU, best confidence first, and average
precision is the the mean of the interpolated precision at 101 recall points (as COCO).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from vision.detector import Box, Detector
from vision.errors import VisionError

__all__ = ["EvalReport", "average_precision", "evaluate", "iou_matrix", "read_labels"]

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4 xyxy) with every box in ``b`` (M, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9))


def average_precision(tp: np.ndarray, conf: np.ndarray, n_gt: int) -> float:
    """COCO-style AP from per-detection true-positive flags and confidences."""
    if n_gt == 0:
        return float("nan")
    if len(tp) == 0:
        return 0.0
    order = np.argsort(-conf, kind="stable")
    tp = tp[order].astype(np.float64)
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1.0 - tp)
    recall = ctp / n_gt
    precision = ctp / np.maximum(ctp + cfp, 1e-9)
    # COCO: the precision envelope (best precision at this recall or more), read at 101
    # recall points; recall levels never reached count as zero precision.
    envelope = np.flip(np.maximum.accumulate(np.flip(precision)))
    x = np.linspace(0, 1, 101)
    idx = np.searchsorted(recall, x, side="left")
    q = np.zeros_like(x)
    ok = idx < len(recall)
    q[ok] = envelope[idx[ok]]
    return float(q.mean())


def read_labels(path: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A YOLO label file as (class ids, xyxy pixel boxes); missing file = no objects."""
    if not path.is_file():
        return np.zeros(0, dtype=int), np.zeros((0, 4))
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        return np.zeros(0, dtype=int), np.zeros((0, 4))
    arr = np.asarray(rows, dtype=np.float64)
    cls = arr[:, 0].astype(int)
    cx, cy, w, h = arr[:, 1] * width, arr[:, 2] * height, arr[:, 3] * width, arr[:, 4] * height
    return cls, np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


@dataclass
class EvalReport:
    """Accuracy of one detector on one split."""

    split: str
    images: int
    names: list[str]
    map50: float
    map50_95: float
    per_class: dict[str, dict[str, float]]
    precision: float
    recall: float
    seconds: float
    ms_per_image: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def r(v: float) -> float | None:
            return None if v != v else round(float(v), 4)  # NaN (class absent) -> null

        return {
            "split": self.split,
            "images": self.images,
            "map50": r(self.map50),
            "map50_95": r(self.map50_95),
            "precision": r(self.precision),
            "recall": r(self.recall),
            "per_class": {n: {k: r(v) for k, v in d.items()} for n, d in self.per_class.items()},
            "ms_per_image": round(self.ms_per_image, 1),
            "seconds": round(self.seconds, 1),
            **self.extra,
        }


def _label_dir(image_dir: Path) -> Path:
    """YOLO layout: labels sit where the last ``images`` component of the path is."""
    parts = list(image_dir.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts)
    return image_dir


def _split_dir(data_yaml: Path, split: str) -> tuple[Path, list[str]]:
    if not data_yaml.is_file():
        raise VisionError(
            f"data: no data.yaml at {data_yaml}; make one with 'patrol vision dataset'"
        )
    spec = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    if split not in spec:
        raise VisionError(f"split: {data_yaml} has no {split!r} split; use one of train, val, test")
    root = Path(spec.get("path") or data_yaml.parent)
    if not root.is_absolute():
        root = data_yaml.parent / root
    raw = spec["names"]
    names = [raw[k] for k in sorted(raw)] if isinstance(raw, dict) else list(raw)
    return root / spec[split], [str(n) for n in names]


def evaluate(
    detector: Detector,
    data_yaml: Path,
    split: str = "test",
    limit: int | None = None,
    operating_conf: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    """Run ``detector`` over a split and score it against the labels.

    The detector should be loaded with a low confidence threshold (e.g. ``conf=0.001``) so the
    whole precision-recall curve is seen; precision and recall are then reported at
    ``operating_conf`` (default: each class's own threshold from ``vision.classes``).
    """
    from vision.classes import VIOLATION_CLASSES

    image_dir, names = _split_dir(Path(data_yaml), split)
    images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if limit:
        images = images[:limit]
    if not images:
        raise VisionError(f"split: no images in {image_dir}")
    label_dir = _label_dir(image_dir)
    model_index = {n: i for i, n in enumerate(detector.names)}
    thresholds = {c.name: c.threshold for c in VIOLATION_CLASSES}
    recs: dict[int, list[tuple[float, np.ndarray]]] = {i: [] for i in range(len(names))}
    n_gt = np.zeros(len(names), dtype=int)
    t0 = time.perf_counter()
    for k, path in enumerate(images):
        with Image.open(path) as im:
            image = np.asarray(im.convert("RGB"))
        h, w = image.shape[:2]
        gt_cls, gt_box = read_labels(label_dir / (path.stem + ".txt"), w, h)
        boxes: list[Box] = detector.detect(image)
        for c in range(len(names)):
            g = gt_box[gt_cls == c]
            n_gt[c] += len(g)
            mine = [b for b in boxes if model_index.get(b.class_name, -1) == c]
            mine.sort(key=lambda b: -b.confidence)
            if not mine:
                continue
            d = np.array([[b.x1, b.y1, b.x2, b.y2] for b in mine])
            ious = iou_matrix(d, g)
            matched = np.zeros((len(IOU_THRESHOLDS), len(g)), dtype=bool)
            for i, b in enumerate(mine):
                tp = np.zeros(len(IOU_THRESHOLDS), dtype=bool)
                if len(g):
                    for t, thr in enumerate(IOU_THRESHOLDS):
                        cand = np.where(~matched[t] & (ious[i] >= thr))[0]
                        if len(cand):
                            j = cand[np.argmax(ious[i][cand])]
                            matched[t, j] = True
                            tp[t] = True
                recs[c].append((b.confidence, tp))
        if progress is not None:
            progress(k + 1, len(images))
    seconds = time.perf_counter() - t0
    per_class: dict[str, dict[str, float]] = {}
    ap50s, ap_all = [], []
    tp_total = fp_total = 0
    for c, name in enumerate(names):
        conf = np.array([r[0] for r in recs[c]])
        tps = np.array([r[1] for r in recs[c]]).reshape(-1, len(IOU_THRESHOLDS))
        aps = [average_precision(tps[:, t], conf, int(n_gt[c])) for t in range(len(IOU_THRESHOLDS))]
        thr = operating_conf if operating_conf is not None else thresholds.get(name, 0.25)
        at = conf >= thr
        tp_c = int(tps[at, 0].sum()) if len(conf) else 0
        fp_c = int(at.sum()) - tp_c
        tp_total, fp_total = tp_total + tp_c, fp_total + fp_c
        per_class[name] = {
            "map50": aps[0],
            "map50_95": float(np.mean(aps)) if n_gt[c] else float("nan"),
            "precision": tp_c / max(tp_c + fp_c, 1),
            "recall": tp_c / n_gt[c] if n_gt[c] else float("nan"),
            "instances": float(n_gt[c]),
        }
        if n_gt[c]:
            ap50s.append(aps[0])
            ap_all.append(float(np.mean(aps)))
    return EvalReport(
        split=split,
        images=len(images),
        names=names,
        map50=float(np.mean(ap50s)) if ap50s else float("nan"),
        map50_95=float(np.mean(ap_all)) if ap_all else float("nan"),
        per_class=per_class,
        precision=tp_total / max(tp_total + fp_total, 1),
        recall=tp_total / max(int(n_gt.sum()), 1),
        seconds=seconds,
        ms_per_image=1000.0 * seconds / len(images),
    )
