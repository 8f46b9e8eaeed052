"""YOLO dataset generation: layout, class order, labels that match the ground truth, a test
split from unseen seeds and sites, frames without violations, and repeatability."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
import yaml
from shapely.geometry import Point

from missions.frame import LocalFrame
from simulators.dataset import DatasetError, DatasetReport, generate_dataset

NAMES = [
    "open_burning",
    "illegal_construction",
    "waste_dumping",
    "illegal_land_occupation",
    "illegal_excavation",
]
FAST = {
    "image_size": (320, 240),
    "violations_per_world": 6,
    "distractors_per_world": 6,
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> DatasetReport:
    out = tmp_path_factory.mktemp("ds") / "yolo"
    return generate_dataset(
        out, seeds=[3], images=24, class_names=NAMES, test_fraction=0.25, val_fraction=0.125,
        empty_fraction=0.2, **FAST,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.slow
def test_layout_and_data_yaml(dataset: DatasetReport) -> None:
    out = dataset.out_dir
    data = yaml.safe_load((out / "data.yaml").read_text("utf-8"))
    # Class order is the caller's (the model's output index).
    assert data["names"] == dict(enumerate(NAMES))
    assert data["nc"] == 5
    assert Path(data["path"]) == out.resolve()
    assert dataset.images == {"train": 15, "val": 3, "test": 6}
    for split, n in dataset.images.items():
        images = sorted((out / data[split]).glob("*.jpg"))
        labels = sorted((out / "labels" / split).glob("*.txt"))
        assert len(images) == n == len(labels)
        assert [p.stem for p in images] == [p.stem for p in labels]
        for p in labels:
            for line in p.read_text("utf-8").splitlines():
                c, *box = line.split()
                assert 0 <= int(c) < 5
                xc, yc, w, h = map(float, box)
                eps = 1e-5  # six decimals in the file
                assert -eps <= xc - w / 2 and xc + w / 2 <= 1 + eps
                assert -eps <= yc - h / 2 and yc + h / 2 <= 1 + eps
    assert sum(dataset.empty_images.values()) >= 1
    assert sum(sum(b.values()) for b in dataset.boxes.values()) > 20


def test_test_split_uses_unseen_seeds_and_sites(dataset: DatasetReport) -> None:
    train = set(dataset.worlds["train"]) | set(dataset.worlds["val"])
    test = set(dataset.worlds["test"])
    assert test and train
    assert not {s for _, s in train} & {s for _, s in test}
    assert not {site for site, _ in train} & {site for site, _ in test}


def _ray_to_ground(pose: dict, u: float, v: float, size: tuple[int, int]) -> tuple[float, float]:
    """Independent pinhole back-projection (stabilised gimbal) to east/north metres from the
    camera: used to check labels against the ground truth without the generator's code."""
    w, h = size
    fx = 4.5 / 6.17 * w
    fy = 4.5 / 4.55 * h
    d = np.array([(u - w / 2) / fx, (v - h / 2) / fy, 1.0])  # camera: right, down, forward
    gp, yaw = math.radians(pose["gimbal_pitch_deg"]), math.radians(pose["yaw_deg"])
    # camera -> gimbal (forward, right, down)
    g = np.array([d[2], d[0], d[1]])
    # pitch about the right axis (nose up positive), then yaw about down.
    f = g[0] * math.cos(gp) + g[2] * math.sin(gp)
    dn_ = -g[0] * math.sin(gp) + g[2] * math.cos(gp)
    r = g[1]
    north = f * math.cos(yaw) - r * math.sin(yaw)
    east = f * math.sin(yaw) + r * math.cos(yaw)
    t = pose["alt_agl_m"] / dn_
    return east * t, north * t


def test_labels_match_the_ground_truth(dataset: DatasetReport) -> None:
    out = dataset.out_dir
    truth: dict[tuple[str, int], list[dict]] = {}
    for p in (out / "ground_truth").glob("*.geojson"):
        g = json.loads(p.read_text("utf-8"))
        truth[(g["properties"]["site_id"], g["properties"]["seed"])] = g["features"]
    checked = 0
    for line in (out / "manifest.jsonl").read_text("utf-8").splitlines():
        rec = json.loads(line)
        label_path = out / rec["image"].replace("images/", "labels/").replace(".jpg", ".txt")
        labels = [ln.split() for ln in label_path.read_text("utf-8").splitlines()]
        assert len(labels) == len(rec["boxes"])
        feats = truth[(rec["site_id"], rec["seed"])]
        pose = rec["pose"]
        frame = LocalFrame(pose["lon"], pose["lat"])
        for (c, xc, yc, bw, bh), box in zip(labels, rec["boxes"], strict=True):
            name = NAMES[int(c)]
            assert box[0] == name
            xc, yc, bw, bh = (float(v) for v in (xc, yc, bw, bh))
            if min(xc - bw / 2, yc - bh / 2) < 0.01 or max(xc + bw / 2, yc + bh / 2) > 0.99:
                continue  # clipped by the image edge: the centre moved
            east, north = _ray_to_ground(pose, xc * 320, yc * 240, (320, 240))
            lon, lat = frame.to_wgs84(east, north)
            hits = [
                f
                for f in feats
                if f["properties"]["class_name"] == name
                and f["properties"]["role"] == "violation"
                and shapely.geometry.shape(f["geometry"]).contains(Point(lon, lat))
            ]
            assert len(hits) == 1, (rec["image"], name)
            checked += 1
        # Every violation whose footprint centre lies well inside the frame is labelled.
        for f in feats:
            if f["properties"]["role"] != "violation":
                continue
            x, y = frame.to_local(f["properties"]["lon"], f["properties"]["lat"])
            if pose["gimbal_pitch_deg"] < -85 and abs(x) < 5 and abs(y) < 5:
                assert f["properties"]["class_name"] in [b[0] for b in rec["boxes"]]
    assert checked >= 10


@pytest.mark.slow
def test_repeatable_and_argument_errors(tmp_path: Path) -> None:
    args = {"seeds": [4], "images": 4, "val_fraction": 0.0, "test_fraction": 0.25, **FAST}
    a = generate_dataset(tmp_path / "a", **args)  # type: ignore[arg-type]
    # Two worlds (train, test) rendered by two worker processes: the same bytes.
    b = generate_dataset(tmp_path / "b", workers=2, **args)  # type: ignore[arg-type]
    for split in ("train", "test"):
        fa = sorted((a.out_dir / "images" / split).glob("*.jpg"))
        fb = sorted((b.out_dir / "images" / split).glob("*.jpg"))
        assert [p.name for p in fa] == [p.name for p in fb] and fa
        assert all(x.read_bytes() == y.read_bytes() for x, y in zip(fa, fb, strict=True))
    manifest_a = (a.out_dir / "manifest.jsonl").read_text("utf-8")
    assert manifest_a == (b.out_dir / "manifest.jsonl").read_text("utf-8")
    assert a.images == b.images and a.boxes == b.boxes
    with pytest.raises(DatasetError, match="out_dir"):
        generate_dataset(tmp_path / "a", **args)  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match="class_names"):
        generate_dataset(tmp_path / "c", class_names=["graffiti"], **args)  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match="altitude_range"):
        generate_dataset(tmp_path / "e", altitude_range=(90.0, 40.0), **args)  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match="test_seeds"):
        generate_dataset(tmp_path / "d", test_seeds=[4], **args)  # type: ignore[arg-type]
