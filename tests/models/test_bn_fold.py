"""compact's ``batch_norm: fold``: trained with batch norm, saved as the paper's layers."""

from __future__ import annotations

import pytest
import torch

import fertk


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def randomise(model: torch.nn.Module) -> None:
    """Batch-norm statistics and affine parameters far from their initial values."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.normal_(0, 0.5, generator=gen)
            m.running_var.uniform_(0.2, 3.0, generator=gen)
            m.weight.data.uniform_(0.5, 1.5, generator=gen)
            m.bias.data.normal_(0, 0.3, generator=gen)


@pytest.mark.parametrize(("name", "size", "params"), [
    ("compact", 48, 903_559), ("compact_tiny", 48, 344_887),
    ("compact", 96, 2_673_031), ("compact_tiny", 96, 1_229_623)])
def test_folded_model_equals_unfolded_and_is_the_papers_layers(name, size, params):
    torch.manual_seed(0)
    net = fertk.create("backbones", name, num_classes=7, input_size=size, batch_norm="fold")
    randomise(net)
    net.eval()
    plain, options = net.deploy()
    assert options == {"batch_norm": False}
    assert n_params(plain) == params
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in plain.modules())
    rebuilt = fertk.create("backbones", name, num_classes=7, input_size=size, **options)
    rebuilt.load_state_dict(plain.state_dict())  # the saved form loads into the paper's model
    x = torch.randn(4, 1, size, size)
    with torch.no_grad():
        ref = net(x)
        assert torch.allclose(plain(x), ref, atol=1e-5, rtol=1e-5)
        assert torch.allclose(rebuilt.eval()(x), ref, atol=1e-5, rtol=1e-5)


def test_deploy_of_other_models_is_the_model_itself():
    net = fertk.create("backbones", "compact_bn", num_classes=7, input_size=48)
    assert net.deploy() == (net, {})
    with pytest.raises(fertk.FertkError, match="batch_norm"):
        fertk.create("backbones", "compact", batch_norm="maybe")


def test_training_with_fold_saves_the_papers_compact(tmp_path, bars):
    """``fertk train`` with ``batch_norm: fold`` writes a checkpoint of the paper's layers
    that rebuilds from its metadata and predicts what the trained model predicted."""
    import json

    import numpy as np

    from fertk.checkpoint import build_from_checkpoint, load_checkpoint
    from fertk.preprocess import FrameTransform
    from fertk.training.config import build_config
    from fertk.training.train import Trainer

    cfg = build_config({
        "name": "fold", "protocol": {"kind": "standard"},
        "model": {"backbone": "compact_tiny", "temporal": None,
                  "backbone_options": {"input_size": 16, "batch_norm": "fold", "drop": 0.1}},
        "frame": {"epochs": 3, "batch_size": 16, "lr": 0.003, "warmup_epochs": 0,
                  "augment": {"illumination": "none", "test_illumination": "none", "rotate": 0.0,
                              "scale": 0.0}},
        "run": {"progress": False, "seed": 0},
    })
    ds = bars()
    Trainer(cfg, out=tmp_path / "run", data=ds).run()
    fold = tmp_path / "run" / "folds" / "standard"
    ckpt = load_checkpoint(fold / "frame")
    assert ckpt.metadata["backbone"]["name"] == "compact_tiny"
    assert ckpt.metadata["backbone"]["options"]["batch_norm"] is False
    assert not any("running_mean" in k for k in ckpt.state_dicts["backbone"])
    net, _ = build_from_checkpoint(ckpt)
    test = np.flatnonzero(np.char.startswith(ds.subjects.astype(str), "PrivateTest"))
    with torch.no_grad():
        pred = net(FrameTransform(ckpt.metadata["input_spec"])(ds.crops[test])).argmax(1).numpy()
    result = json.loads((fold / "result.json").read_text())
    assert result["frame"]["predictions"]["predicted"] == pred.tolist()
