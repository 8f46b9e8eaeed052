"""Run in a fresh interpreter by test_offline.py: train, export and infer with the network
blocked from the very first import, then print what was attempted as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

import netguard  # noqa: E402

netguard.install()

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from toydata import make_toy_dataset  # noqa: E402


def main(tmp: Path) -> dict[str, object]:
    from vision import offline

    offline.enable(config_dir=tmp / "ultralytics-config")
    from vision.detector import load_detector
    from vision.train import TrainConfig, train

    data = make_toy_dataset(tmp / "data")
    res = train(
        TrainConfig(
            data=data,
            out_dir=tmp / "out",
            name="tiny",
            scale="p",
            epochs=1,
            imgsz=64,
            batch=4,
            workers=0,
            cache=False,
        )
    )
    image = np.asarray(Image.open(tmp / "data/images/val/0000.png").convert("RGB"))
    counts = {}
    for backend, path in (
        ("onnx", res.onnx_path),
        ("ultralytics", res.pt_path),
        ("ultralytics-onnx", res.onnx_path),
    ):
        det = load_detector(path, backend=backend.split("-")[0], conf=0.0)
        counts[backend] = len(det.detect(image))
    return {
        "attempts": netguard.ATTEMPTS,
        "pt": str(res.pt_path),
        "onnx": str(res.onnx_path),
        "epochs_run": res.epochs_run,
        "counts": counts,
        "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("ultralytics", "torch"))[
            :3
        ],
    }


if __name__ == "__main__":
    out = main(Path(sys.argv[1]))
    print("RESULT " + json.dumps(out))
