"""Object detectors behind one interface: ONNX Runtime (default) and Ultralytics.

Both back ends share the same pre- and post-processing (letterbox, YOLOv8 output decoding,
per-class confidence thresholds, class-aware NMS), all in numpy here, so that the same model
gives the same boxes whichever runs it. The ONNX Runtime back end never imports torch: it is
what runs on the vehicle's computer. The Ultralytics back end (the ``train`` extra) runs any
``.pt`` or ``.onnx`` a user brings, through Ultralytics' ``AutoBackend``.
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from vision.classes import VIOLATION_CLASSES
from vision.errors import BackendError, ModelError, VisionError

__all__ = [
    "DEFAULT_IOU",
    "DEFAULT_MODEL_ONNX",
    "DEFAULT_MODEL_PT",
    "BackendError",
    "Box",
    "Detector",
    "Letterbox",
    "OnnxDetector",
    "UltralyticsDetector",
    "decode_yolo",
    "letterbox",
    "load_detector",
    "nms",
]

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL_ONNX = MODELS_DIR / "fieldpatrol-n.onnx"
DEFAULT_MODEL_PT = MODELS_DIR / "fieldpatrol-n.pt"
DEFAULT_IOU = 0.5
# Candidates below this never reach NMS, whatever the class thresholds say: it bounds the
# work NMS does on a frame full of weak activations.
MIN_CANDIDATE_CONF = 0.05
PAD_VALUE = 114  # Ultralytics' letterbox grey, so inference matches training.
MAX_DETECTIONS = 300


@dataclass(frozen=True)
class Box:
    """One detection in pixel coordinates of the original image (x right, y down)."""

    class_name: str
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float
    class_id: int = -1

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def as_list(self) -> list[int]:
        """The box as ``[x1, y1, x2, y2]`` integer pixels (the wire form)."""
        return [round(self.x1), round(self.y1), round(self.x2), round(self.y2)]


@dataclass(frozen=True)
class Letterbox:
    """How an image was scaled and padded into the model input, to map boxes back."""

    scale: float
    pad_x: float
    pad_y: float
    width: int
    height: int


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Resize ``image`` (HxWx3 uint8 RGB) to fit ``size`` (h, w) keeping aspect, pad grey.

    Returns the padded image and the transform. Padding is split evenly on both sides, as
    Ultralytics does, so a model trained there sees the same geometry here.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise VisionError(f"image: expected an HxWx3 RGB array, got shape {image.shape}")
    h, w = image.shape[:2]
    th, tw = size
    scale = min(th / h, tw / w)
    nh, nw = round(h * scale), round(w * scale)
    if (nh, nw) != (h, w):
        resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.BILINEAR))
    else:
        resized = image
    pad_y, pad_x = (th - nh) / 2.0, (tw - nw) / 2.0
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    out = np.full((th, tw, 3), PAD_VALUE, dtype=np.uint8)
    out[top : top + nh, left : left + nw] = resized
    return out, Letterbox(scale=scale, pad_x=left, pad_y=top, width=w, height=h)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best score first."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        rest = order[1:]
        xx1 = np.maximum(x1[i], x1[rest])
        yy1 = np.maximum(y1[i], y1[rest])
        xx2 = np.minimum(x2[i], x2[rest])
        yy2 = np.minimum(y2[i], y2[rest])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        union = areas[i] + areas[rest] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


def decode_yolo(
    output: np.ndarray,
    lb: Letterbox,
    names: list[str],
    thresholds: np.ndarray,
    iou: float = DEFAULT_IOU,
    max_det: int = MAX_DETECTIONS,
) -> list[Box]:
    """Decode a YOLOv8/YOLO11 head output ``(1, 4 + nc, N)`` into boxes on the original image.

    ``thresholds`` holds one confidence threshold per class. NMS is class-aware: boxes of
    different classes never suppress each other (a fire next to a shed is two findings).
    """
    pred = np.asarray(output, dtype=np.float32)
    if pred.ndim == 3:
        pred = pred[0]
    nc = len(names)
    if pred.shape[0] != 4 + nc:
        raise ModelError(
            f"model output: expected {4 + nc} rows (4 box + {nc} classes), got {pred.shape}; "
            "the model's class list does not match its names"
        )
    pred = pred.T  # (N, 4 + nc)
    scores_all = pred[:, 4:]
    cls = scores_all.argmax(axis=1)
    conf = scores_all[np.arange(len(cls)), cls]
    mask = (conf >= MIN_CANDIDATE_CONF) & (conf >= thresholds[cls])
    if not mask.any():
        return []
    pred, cls, conf = pred[mask], cls[mask], conf[mask]
    cx, cy, bw, bh = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    # Offsetting each class far apart makes one NMS pass class-aware.
    offset = cls[:, None].astype(np.float32) * 8192.0
    keep = nms(xyxy + offset, conf, iou)[:max_det]
    xyxy = xyxy[keep]
    xyxy[:, [0, 2]] = (xyxy[:, [0, 2]] - lb.pad_x) / lb.scale
    xyxy[:, [1, 3]] = (xyxy[:, [1, 3]] - lb.pad_y) / lb.scale
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, lb.width)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, lb.height)
    return [
        Box(
            class_name=names[int(c)],
            confidence=float(s),
            x1=float(b[0]),
            y1=float(b[1]),
            x2=float(b[2]),
            y2=float(b[3]),
            class_id=int(c),
        )
        for b, s, c in zip(xyxy, conf[keep], cls[keep], strict=True)
    ]


def _thresholds_for(names: list[str], conf: float | None) -> np.ndarray:
    """Per-class thresholds: ``conf`` for all if given, else each class's default."""
    if conf is not None:
        if not 0.0 <= conf <= 1.0:
            raise VisionError(f"conf: {conf} is outside 0..1; pass a confidence like 0.25")
        return np.full(len(names), conf, dtype=np.float32)
    by_name = {c.name: c.threshold for c in VIOLATION_CLASSES}
    # Classes of a user's own model that we do not know get Ultralytics' usual 0.25.
    return np.asarray([by_name.get(n, 0.25) for n in names], dtype=np.float32)


def _parse_names(raw: Any) -> list[str]:
    """Class names from Ultralytics model metadata (a dict or its ``str()``)."""
    if isinstance(raw, str):
        raw = ast.literal_eval(raw)
    if isinstance(raw, dict):
        return [str(raw[k]) for k in sorted(raw, key=int)]
    if isinstance(raw, list | tuple):
        return [str(n) for n in raw]
    raise ModelError(f"model metadata: cannot read class names from {raw!r}")


class Detector(Protocol):
    """What every back end offers."""

    names: list[str]
    input_size: tuple[int, int]
    backend: str

    def detect(self, image: np.ndarray) -> list[Box]:
        """Boxes found in one HxWx3 uint8 RGB image."""
        ...


@dataclass
class _Base:
    names: list[str]
    input_size: tuple[int, int]
    conf: float | None = None
    iou: float = DEFAULT_IOU
    thresholds: np.ndarray = field(init=False)
    last_inference_s: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.thresholds = _thresholds_for(self.names, self.conf)

    def _prepare(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        img = np.asarray(image)
        if img.dtype != np.uint8:
            raise VisionError(f"image: expected uint8 pixels, got {img.dtype}")
        padded, lb = letterbox(img, self.input_size)
        tensor = padded.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        return np.ascontiguousarray(tensor), lb


class OnnxDetector(_Base):
    """YOLO detector on ONNX Runtime; torch is never imported."""

    backend = "onnx"

    def __init__(
        self,
        model_path: str | Path = DEFAULT_MODEL_ONNX,
        conf: float | None = None,
        iou: float = DEFAULT_IOU,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort

        path = Path(model_path)
        if not path.is_file():
            raise ModelError(f"model_path: no model file at {path}; train one or pass --model")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"model_path: {path} is not a readable ONNX model ({exc})") from exc
        meta = self.session.get_modelmeta().custom_metadata_map
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = inp.shape
        if "imgsz" in meta:
            size = _parse_names(meta["imgsz"])
            hw = (int(size[0]), int(size[1]))
        elif isinstance(shape[2], int) and isinstance(shape[3], int):
            hw = (int(shape[2]), int(shape[3]))
        else:
            hw = (640, 640)
        if "names" not in meta:
            names = [c.name for c in VIOLATION_CLASSES]
        else:
            names = _parse_names(meta["names"])
        self.model_path = path
        super().__init__(names=names, input_size=hw, conf=conf, iou=iou)

    def detect(self, image: np.ndarray) -> list[Box]:
        tensor, lb = self._prepare(image)
        t0 = time.perf_counter()
        (out, *_) = self.session.run(None, {self.input_name: tensor})
        self.last_inference_s = time.perf_counter() - t0
        return decode_yolo(out, lb, self.names, self.thresholds, self.iou)


class UltralyticsDetector(_Base):
    """Any Ultralytics ``.pt`` or ``.onnx`` model, run by Ultralytics' ``AutoBackend``.

    Post-processing is ours (the same as :class:`OnnxDetector`), so the two back ends differ
    only in what computes the network's raw output.
    """

    backend = "ultralytics"

    def __init__(
        self,
        model_path: str | Path = DEFAULT_MODEL_PT,
        conf: float | None = None,
        iou: float = DEFAULT_IOU,
        imgsz: int | tuple[int, int] | None = None,
        threads: int | None = None,
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise ModelError(f"model_path: no model file at {path}; train one or pass --model")
        from vision import offline

        offline.enable()
        try:
            import torch
            from ultralytics.nn.autobackend import AutoBackend
        except ImportError as exc:  # the train extra is not installed
            raise BackendError(
                "backend: 'ultralytics' needs the train extra; pip install 'fieldpatrol[train]'"
            ) from exc
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        try:
            self.model = AutoBackend(str(path), device=torch.device("cpu"), fp16=False)
        except Exception as exc:  # Ultralytics raises many kinds on a bad file
            raise ModelError(f"model_path: {path} is not a readable YOLO model ({exc})") from exc
        self.model.eval()
        names = _parse_names(self.model.names)
        if imgsz is None:
            imgsz = _onnx_imgsz(path) if path.suffix == ".onnx" else _model_imgsz(self.model, path)
        hw = (imgsz, imgsz) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[1]))
        self.model_path = path
        super().__init__(names=names, input_size=hw, conf=conf, iou=iou)

    def detect(self, image: np.ndarray) -> list[Box]:
        tensor, lb = self._prepare(image)
        t0 = time.perf_counter()
        with self._torch.inference_mode():
            out = self.model(self._torch.from_numpy(tensor))
        self.last_inference_s = time.perf_counter() - t0
        if isinstance(out, list | tuple):
            out = out[0]
        if hasattr(out, "numpy"):
            out = out.detach().cpu().numpy()
        return decode_yolo(np.asarray(out), lb, self.names, self.thresholds, self.iou)


def _onnx_imgsz(path: Path) -> tuple[int, int]:
    """The fixed input size of an ONNX model (from its metadata or its input shape)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    if "imgsz" in meta:
        size = _parse_names(meta["imgsz"])
        return (int(size[0]), int(size[1]))
    shape = session.get_inputs()[0].shape
    if isinstance(shape[2], int) and isinstance(shape[3], int):
        return (int(shape[2]), int(shape[3]))
    return (640, 640)


def _model_imgsz(model: Any, path: Path) -> int | tuple[int, int]:
    """The input size a model was trained or exported at (640 if it does not say)."""
    meta = getattr(model, "metadata", None) or {}
    if "imgsz" in meta:
        size = meta["imgsz"]
        return (int(size[0]), int(size[1]))
    inner = getattr(model, "model", None)
    args = getattr(inner, "args", None)
    if isinstance(args, dict) and "imgsz" in args:
        v = args["imgsz"]
        return int(v) if isinstance(v, int) else (int(v[0]), int(v[1]))
    return 640


def load_detector(
    model_path: str | Path | None = None,
    backend: str = "onnx",
    conf: float | None = None,
    iou: float = DEFAULT_IOU,
    threads: int | None = None,
) -> Detector:
    """A detector for ``model_path`` (default: the shipped model) on ``backend``.

    ``backend`` is ``"onnx"`` (ONNX Runtime; default, no torch) or ``"ultralytics"`` (any
    ``.pt`` or ``.onnx``; needs the ``train`` extra). ``conf`` overrides every class's default
    threshold.
    """
    if backend == "onnx":
        path = Path(model_path) if model_path is not None else DEFAULT_MODEL_ONNX
        if path.suffix != ".onnx":
            raise BackendError(
                f"model_path: {path} is not an .onnx file; use --backend ultralytics for .pt"
            )
        return OnnxDetector(path, conf=conf, iou=iou, threads=threads)
    if backend in ("ultralytics", "torch"):
        path = Path(model_path) if model_path is not None else DEFAULT_MODEL_PT
        return UltralyticsDetector(path, conf=conf, iou=iou, threads=threads)
    raise BackendError(f"backend: unknown back end {backend!r}; use 'onnx' or 'ultralytics'")
