"""`patrol vision`: detect with --json and --pose, eval on a labelled split, user errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from patrol.commands.vision import app

runner = CliRunner()


def _frame(tmp_path: Path) -> tuple[Path, Path, object]:
    from test_model import frames  # rendered frames of an unseen world

    v, pose, image = frames()[0]
    img = tmp_path / "frame.jpg"
    Image.fromarray(image).save(img, quality=95)
    pose_file = tmp_path / "pose.json"
    pose_file.write_text(pose.model_dump_json())
    return img, pose_file, v


def test_detect_json_with_pose_pins_the_violation(tmp_path: Path) -> None:
    from vision.merge import local_distance_m

    img, pose_file, v = _frame(tmp_path)
    res = runner.invoke(app, ["detect", str(img), "--pose", str(pose_file), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["backend"] == "onnx" and doc["images"][0]["image"] == str(img)
    dets = doc["images"][0]["detections"]
    assert all({"class_name", "confidence", "box_px", "lon", "lat"} <= set(d) for d in dets)
    hits = [
        s
        for s in doc["suspects"]
        if s["class_name"] == v.class_name  # type: ignore[attr-defined]
        and local_distance_m(v.lon, v.lat, s["lon"], s["lat"]) < 8.0  # type: ignore[attr-defined]
    ]
    assert len(hits) == 1, doc


def test_user_errors_are_one_line_and_exit_1(tmp_path: Path) -> None:
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(img)
    cases = [
        (["detect", str(img), "--model", str(tmp_path / "nope.onnx")], "model_path"),
        (["detect", str(img), "--backend", "tensorrt"], "backend"),
        (["detect", str(tmp_path / "missing.jpg")], "missing.jpg"),
        (["detect", str(img), "--pose", str(tmp_path / "nope.json")], "--pose"),
        (["eval", "--data", str(tmp_path / "none.yaml")], "data.yaml"),
        (["dataset", str(tmp_path / "ds"), "--distractor-fraction", "1.5"], "distractor_fraction"),
        (["dataset", str(tmp_path / "ds"), "--workers", "0"], "workers"),
    ]
    for args, needle in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 1, (args, res.output)
        lines = [x for x in res.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and needle in lines[0], (args, res.stderr)
    bad_pose = tmp_path / "bad.json"
    bad_pose.write_text(json.dumps({"lat": 1}))
    res = runner.invoke(app, ["detect", str(img), "--pose", str(bad_pose)])
    assert res.exit_code == 1 and "CameraPose" in res.stderr
    two = tmp_path / "two.json"
    pose = {
        "time": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
        "lat": 41.8,
        "lon": 123.4,
        "alt_agl_m": 60,
        "alt_amsl_m": 100,
        "roll_deg": 0,
        "pitch_deg": 0,
        "yaw_deg": 0,
    }
    two.write_text(json.dumps([pose, pose]))
    res = runner.invoke(app, ["detect", str(img), "--pose", str(two)])
    assert res.exit_code == 1 and "one per image" in res.stderr


def test_eval_scores_a_labelled_split(tmp_path: Path) -> None:
    from test_model import frames

    from vision.classes import class_names

    root = tmp_path / "ds"
    (root / "images" / "test").mkdir(parents=True)
    (root / "labels" / "test").mkdir(parents=True)
    names = class_names()
    for i, (v, _pose, image) in enumerate(frames()[:3]):
        Image.fromarray(image).save(root / "images" / "test" / f"{i}.jpg")
        # A deliberately wrong label far from anything: the model cannot score it.
        (root / "labels" / "test" / f"{i}.txt").write_text(
            f"{names.index(v.class_name)} 0.02 0.02 0.01 0.01\n"
        )
    listing = "".join(f"  {i}: {n}\n" for i, n in enumerate(names))
    (root / "data.yaml").write_text(f"path: {root}\ntest: images/test\nnames:\n{listing}")
    res = runner.invoke(app, ["eval", "--data", str(root / "data.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["images"] == 3 and doc["map50"] == 0.0 and doc["recall"] == 0.0
