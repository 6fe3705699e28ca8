"""Every registered backbone trains from scratch: evaluation mode agrees with training mode.

A small learnable generated set (the ``bars`` fixture: a bright bar whose position is the
class, under random brightness and contrast) is trained for a few epochs by the frame stage of ``fertk train``;
the saved model must then be about as accurate on its own training images in evaluation mode
(running batch-norm statistics) as with batch statistics. Without ``frame.precise_bn`` the
mini-Xception port (Keras' momentum 0.99) collapses in evaluation mode, and the guard says so.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fertk.training.batchnorm import GAP_WARN, bn_layers, mode_gap, recompute_stats
from fertk.training.config import build_config
from fertk.training.train import Trainer

#: Every built-in backbone and a timm model, at small input sizes to keep the test fast.
BACKBONES = [
    ("compact", {"input_size": 16, "drop": 0.1}),
    ("compact_tiny", {"input_size": 16, "drop": 0.1}),
    ("compact_tiny", {"input_size": 16, "drop": 0.1, "batch_norm": "fold"}),
    ("compact_bn", {"input_size": 16, "drop": 0.1}),
    ("dtan", {"input_size": 16}),
    ("minixception", {"input_size": 32}),
    ("timm:mobilenetv3_small_050", {"input_size": 32}),
]


def train(tmp_path, data, backbone, options, precise_bn=32, epochs=4):
    cfg = build_config({
        "name": "bn", "protocol": {"kind": "standard"},
        "model": {"backbone": backbone, "backbone_options": options, "temporal": None},
        "frame": {"epochs": epochs, "batch_size": 16, "lr": 0.003, "warmup_epochs": 0,
                  "precise_bn": precise_bn, "patience": 100,
                  "augment": {"illumination": "none", "test_illumination": "none", "rotate": 0.0,
                              "scale": 0.0, "flip": False, "shift": False}},
        "run": {"progress": False, "seed": 0},
    })
    torch.set_num_threads(1)  # tiny models: one thread is fastest (conftest restores the count)
    summary = Trainer(cfg, out=tmp_path / "run", data=data).run()
    return summary, tmp_path / "run" / "folds" / "standard"


def saved_model_gap(fold_dir, ds):
    """(evaluation-mode, batch-statistics) accuracy of the saved model on its training images."""
    from fertk.checkpoint import build_from_checkpoint, load_checkpoint
    from fertk.preprocess import FrameTransform

    ckpt = load_checkpoint(fold_dir / "frame")
    model, _ = build_from_checkpoint(ckpt)
    rows = np.flatnonzero(np.char.startswith(ds.subjects.astype(str), "Training"))
    x = FrameTransform(ckpt.metadata["input_spec"])(ds.crops[rows])
    return mode_gap(model, x, torch.as_tensor(ds.labels[rows]))


@pytest.mark.parametrize(("backbone", "options"), BACKBONES,
                         ids=[f"{b}{'-fold' if o.get('batch_norm') else ''}" for b, o in BACKBONES])
def test_evaluation_mode_matches_training_mode(tmp_path, bars, backbone, options):
    ds = bars()
    summary, fold = train(tmp_path, ds, backbone, options)
    import json

    result = json.loads((fold / "result.json").read_text())
    train_acc = result["frame"]["history"][-1]["train_acc"]
    eval_acc, batch_acc = saved_model_gap(fold, ds)
    assert train_acc > 0.6, f"{backbone} did not learn the bars ({train_acc:.2f})"
    assert eval_acc >= batch_acc - 0.1, (backbone, eval_acc, batch_acc)
    assert summary["stages"]["frame"]["pooled"]["accuracy"] > 0.5
    assert result["frame"]["warnings"] == []


def test_minixception_collapses_without_precise_bn_and_the_guard_says_so(tmp_path, bars, capsys):
    summary, fold = train(tmp_path, bars(), "minixception", {"input_size": 32}, precise_bn=0)
    import json

    result = json.loads((fold / "result.json").read_text())
    check = result["frame"]["history"][-1]["bn_check"]
    assert check["batch_stats_acc"] - check["eval_acc"] >= GAP_WARN
    (line,) = result["frame"]["warnings"]
    assert "minixception" in line and "batch norm" in line and "frame.precise_bn" in line
    assert "minixception" in capsys.readouterr().err


def test_recompute_stats_is_the_plain_average_and_restores_momentum():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3, momentum=0.01))
    batches = [torch.randn(8, 1, 10, 10) * (i + 1) + i for i in range(4)]
    net.eval()
    assert recompute_stats(net, batches) == 4
    assert not net.training and net[1].momentum == 0.01
    with torch.no_grad():
        outs = [net[0](b) for b in batches]
    means = torch.stack([o.mean(dim=(0, 2, 3)) for o in outs]).mean(0)
    assert torch.allclose(net[1].running_mean, means, atol=1e-5)
    assert recompute_stats(torch.nn.Linear(2, 2), batches) == 0
    assert bn_layers(torch.nn.Linear(2, 2)) == []
