"""A tiny hand-drawn YOLO dataset (coloured rectangles on grass) for training-loop tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from vision.classes import class_names

COLOURS = [(40, 90, 200), (120, 100, 80), (240, 120, 20), (160, 130, 90), (200, 200, 200)]


def make_toy_dataset(root: Path, n_train: int = 8, n_val: int = 4, size: int = 96) -> Path:
    """Write images/ and labels/ for train and val plus data.yaml; returns data.yaml."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = np.full((size, size, 3), (70, 110, 60), np.uint8)
            lines = []
            for _ in range(int(rng.integers(1, 3))):
                c = int(rng.integers(0, len(COLOURS)))
                bw, bh = (int(v) for v in rng.integers(size // 6, size // 3, 2))
                x, y = int(rng.integers(0, size - bw)), int(rng.integers(0, size - bh))
                img[y : y + bh, x : x + bw] = COLOURS[c]
                cx, cy = (x + bw / 2) / size, (y + bh / 2) / size
                lines.append(f"{c} {cx:.5f} {cy:.5f} {bw / size:.5f} {bh / size:.5f}")
            Image.fromarray(img).save(root / "images" / split / f"{i:04d}.png")
            (root / "labels" / split / f"{i:04d}.txt").write_text("\n".join(lines) + "\n")
    names = "".join(f"  {i}: {n}\n" for i, n in enumerate(class_names()))
    data = root / "data.yaml"
    data.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n{names}")
    return data
