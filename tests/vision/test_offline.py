"""Training, export and inference with Ultralytics never touch the network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ultralytics", reason="the train extra is installed in CI (make test)")

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
def test_train_export_infer_with_network_blocked(tmp_path: Path) -> None:
    # A fresh interpreter, so that even Ultralytics' import-time online check is covered.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "ULTRALYTICS_"))}
    env["OMP_NUM_THREADS"] = "2"
    proc = subprocess.run(
        [sys.executable, str(HERE / "offline_script.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["attempts"] == [], f"network look-ups attempted: {result['attempts']}"
    assert Path(result["pt"]).is_file() and Path(result["onnx"]).is_file()
    assert result["epochs_run"] == 1
    assert set(result["counts"]) == {"onnx", "ultralytics", "ultralytics-onnx"}
    # Nothing was downloaded into the private Ultralytics config dir but settings and the
    # local fonts FieldPatrol put there itself.
    cfg = tmp_path / "ultralytics-config"
    assert sorted(p.name for p in cfg.iterdir()) <= [
        "Arial.Unicode.ttf",
        "Arial.ttf",
        "settings.json",
    ]
