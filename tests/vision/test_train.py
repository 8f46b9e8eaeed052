"""Fine-tuning (``patrol vision train --weights``) really starts from the given weights."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("ultralytics", reason="the train extra is installed in CI (make test)")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toydata import make_toy_dataset


def _conv_weights(pt: Path) -> dict[str, object]:
    import torch

    ckpt = torch.load(pt, map_location="cpu", weights_only=False)
    model = ckpt.get("ema") or ckpt["model"]
    return {k: v.float() for k, v in model.state_dict().items() if k.endswith("conv.weight")}


@pytest.mark.slow
def test_fine_tune_starts_from_the_given_weights(tmp_path: Path) -> None:
    import torch

    from vision import offline
    from vision.detector import DEFAULT_MODEL_PT
    from vision.train import TrainConfig, train

    offline.enable(config_dir=tmp_path / "ultralytics-config")
    data = make_toy_dataset(tmp_path / "data", n_train=4, n_val=2)
    # A learning rate of zero: whatever the run writes must be the weights it started from.
    # (Ultralytics rebuilds the network from its yaml when told pretrained=False, silently
    # dropping loaded weights: such a "fine-tune" would be random weights here.)
    res = train(
        TrainConfig(
            data=data,
            out_dir=tmp_path / "out",
            name="tuned",
            epochs=1,
            imgsz=64,
            batch=4,
            workers=0,
            cache=False,
            export=False,
            weights=DEFAULT_MODEL_PT,
            lr0=0.0,
            warmup_epochs=0.0,
            extra={"weight_decay": 0.0},
        )
    )
    start, tuned = _conv_weights(DEFAULT_MODEL_PT), _conv_weights(res.pt_path)
    assert start.keys() == tuned.keys() and len(start) > 20
    differ = [k for k in start if not torch.allclose(start[k], tuned[k], atol=1e-6)]
    assert differ == [], f"{len(differ)} layers differ from the given weights, e.g. {differ[:3]}"
