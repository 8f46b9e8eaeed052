"""Shared pre/post-processing: letterbox, YOLO output decoding, class thresholds, NMS; classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vision.classes import (
    DISTRACTOR_KINDS,
    VIOLATION_CLASSES,
    UnknownClassError,
    class_by_code,
    class_by_name,
    class_names,
)
from vision.detector import BackendError, Letterbox, decode_yolo, letterbox, load_detector, nms
from vision.errors import ModelError, VisionError
from vision.metrics import average_precision, iou_matrix

NAMES = class_names()


def test_classes_are_complete_and_consistent() -> None:
    assert NAMES == [
        "illegal_construction",
        "waste_dumping",
        "open_burning",
        "illegal_excavation",
        "illegal_land_occupation",
    ]
    codes = [c.violation_code for c in VIOLATION_CLASSES]
    assert len(set(codes)) == len(codes)
    for c in VIOLATION_CLASSES:
        assert c.name_zh and c.name_en and c.legal_basis
        assert 0 < c.threshold < 1 and c.min_size_m > 0
        assert class_by_code(c.violation_code) is c
    assert class_by_name("open_burning").violation_code == "HB-OPEN-BURNING"
    assert {"legal_building", "parked_car", "haystack", "water", "shadow"} <= set(DISTRACTOR_KINDS)
    with pytest.raises(UnknownClassError, match="use one of"):
        class_by_name("jaywalking")


def test_world_renders_exactly_our_classes() -> None:
    kinds = pytest.importorskip("simulators.world.kinds")
    assert list(kinds.VIOLATION_KINDS) == NAMES
    assert set(kinds.DISTRACTOR_KINDS) == set(DISTRACTOR_KINDS)


def test_letterbox_keeps_aspect_and_centres() -> None:
    img = np.zeros((480, 640, 3), np.uint8)
    img[:] = 200
    out, lb = letterbox(img, (416, 416))
    assert out.shape == (416, 416, 3)
    assert lb.scale == pytest.approx(0.65)
    assert lb.pad_x == 0 and lb.pad_y == 52
    assert (out[:52] == 114).all() and (out[-52:] == 114).all()
    assert (out[52:-52] == 200).all()


def _raw(boxes: list[tuple[float, float, float, float, int, float]], n: int = 50) -> np.ndarray:
    """A fake YOLOv8 head output (1, 4 + nc, n) holding the given (cx, cy, w, h, cls, conf)."""
    out = np.zeros((1, 4 + len(NAMES), n), np.float32)
    for i, (cx, cy, w, h, c, s) in enumerate(boxes):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4 + c, i] = s
    return out


def test_decode_maps_back_to_original_pixels_and_applies_class_thresholds() -> None:
    lb = Letterbox(scale=0.65, pad_x=0, pad_y=52, width=640, height=480)
    thr = np.array([c.threshold for c in VIOLATION_CLASSES], np.float32)
    raw = _raw(
        [
            (208, 208, 65, 65, 0, 0.9),  # centre of the image, 100 px box
            (100, 100, 20, 20, 1, 0.30),  # below waste_dumping's 0.35
            (60, 300, 20, 20, 0, 0.42),  # below illegal_construction's 0.45 ...
            (300, 150, 30, 30, 2, 0.41),  # ... while above open_burning's 0.40
        ]
    )
    boxes = decode_yolo(raw, lb, NAMES, thr)
    assert [b.class_name for b in boxes] == ["illegal_construction", "open_burning"]
    b = boxes[0]
    assert (b.x1, b.y1, b.x2, b.y2) == pytest.approx((270, 190, 370, 290), abs=1e-3)
    assert b.confidence == pytest.approx(0.9)


def test_nms_is_class_aware() -> None:
    lb = Letterbox(1.0, 0, 0, 640, 480)
    thr = np.full(len(NAMES), 0.25, np.float32)
    raw = _raw(
        [
            (100, 100, 50, 50, 0, 0.9),
            (102, 101, 50, 50, 0, 0.8),  # same class, overlapping: suppressed
            (101, 100, 50, 50, 2, 0.7),  # other class, same place: kept
            (400, 300, 50, 50, 0, 0.6),  # same class, elsewhere: kept
        ]
    )
    boxes = decode_yolo(raw, lb, NAMES, thr, iou=0.5)
    assert sorted((b.class_name, round(b.confidence, 2)) for b in boxes) == [
        ("illegal_construction", 0.6),
        ("illegal_construction", 0.9),
        ("open_burning", 0.7),
    ]


def test_nms_plain() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    keep = nms(boxes, np.array([0.5, 0.9, 0.7]), 0.5)
    assert keep.tolist() == [1, 2]


def test_decode_refuses_output_of_another_class_list() -> None:
    raw = np.zeros((1, 4 + 3, 10), np.float32)
    with pytest.raises(ModelError, match="expected 9 rows"):
        decode_yolo(raw, Letterbox(1, 0, 0, 64, 64), NAMES, np.zeros(5, np.float32))


def test_user_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model_path"):
        load_detector(tmp_path / "missing.onnx")
    with pytest.raises(BackendError, match="backend"):
        load_detector(backend="tensorrt")
    with pytest.raises(BackendError, match=r"\.onnx"):
        load_detector(tmp_path / "x.pt", backend="onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        load_detector(bad)
    assert issubclass(ModelError, VisionError) and issubclass(VisionError, ValueError)


def test_metrics_primitives() -> None:
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    assert iou_matrix(a, b).round(3).tolist() == [[1.0, 0.333, 0.0]]
    # Two of three objects found, both ranked above the one false positive.
    ap = average_precision(np.array([1, 1, 0]), np.array([0.9, 0.8, 0.7]), 3)
    assert ap == pytest.approx(2 / 3, abs=0.01)
    assert average_precision(np.array([1]), np.array([0.9]), 1) == pytest.approx(1.0)


def test_classes_file_is_valid_json() -> None:
    path = Path(__file__).resolve().parents[2] / "vision" / "data" / "classes.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert [c["id"] for c in data["violation_classes"]] == list(range(len(NAMES)))
