"""INT8 quantisation of an exported detector with ONNX Runtime (static, calibrated).

Calibration frames go through the same letterbox as inference. Whether the INT8 model is
worth shipping is decided by measuring it (``patrol vision eval --model ...int8.onnx``)
against the FP32 model on the held-out split: it ships only if it keeps accuracy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from vision.detector import letterbox
from vision.errors import VisionError

__all__ = ["quantize_int8"]


def quantize_int8(
    model_path: Path, calibration_images: Sequence[Path], out_path: Path | None = None
) -> Path:
    """Write an INT8 (QDQ, per-channel weights) copy of ``model_path``; returns its path."""
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration_images:
        raise VisionError("calibration_images: give some frames (e.g. 50 from the val split)")
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    size = (int(inp.shape[2]), int(inp.shape[3]))
    name = inp.name
    del session

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = self._frames()

        def _frames(self) -> Iterator[dict[str, np.ndarray]]:
            for p in calibration_images:
                with Image.open(p) as im:
                    padded, _ = letterbox(np.asarray(im.convert("RGB")), size)
                x = padded.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
                yield {name: np.ascontiguousarray(x)}

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    out = out_path or model_path.with_name(model_path.stem + ".int8.onnx")
    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(model_path), str(pre))
    try:
        quantize_static(
            str(pre),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            # Only convolutions: the head's final Concat mixes box coordinates (hundreds of
            # pixels) with class scores (0..1); one INT8 scale for both zeroes every score.
            op_types_to_quantize=["Conv"],
        )
    finally:
        pre.unlink(missing_ok=True)
    return out
