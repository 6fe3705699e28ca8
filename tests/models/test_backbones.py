"""Every registered backbone: shapes, gradients, features, determinism, input spec; paper counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import fertk
from fertk.errors import FertkError
from fertk.preprocess import FrameTransform

from .conftest import BACKBONES, input_batch


def test_builtins_and_plugin_are_enumerated():
    for name in ("compact", "compact_tiny", "compact_bn", "dtan", "timm:resnet18"):
        assert name in BACKBONES
    assert "example_convnet" in BACKBONES  # fertk-example, installed editable


@pytest.mark.parametrize("name", BACKBONES)
def test_forward_backward_shapes_finite(name):
    model = fertk.create("backbones", name, num_classes=5)
    model.train()
    x = input_batch(model, 3).requires_grad_(True)
    out = model(x)
    assert out.shape == (3, 5)
    assert torch.isfinite(out).all()
    out.logsumexp(-1).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


@pytest.mark.parametrize("name", BACKBONES)
def test_features_and_head_compose(name):
    model = fertk.create("backbones", name, num_classes=4).eval()
    x = input_batch(model, 2)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert feats.shape == (2, model.feature_dim)
        assert torch.isfinite(feats).all()
        if hasattr(model, "forward_head"):
            assert torch.allclose(model.forward_head(feats), model(x), atol=1e-5)


@pytest.mark.parametrize("name", BACKBONES)
def test_eval_is_deterministic(name):
    model = fertk.create("backbones", name, num_classes=7).eval()
    x = input_batch(model, 2)
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", BACKBONES)
def test_input_spec_feeds_the_model(name):
    model = fertk.create("backbones", name, num_classes=7).eval()
    transform = FrameTransform(model)
    crops = np.random.default_rng(0).integers(0, 256, (3, 120, 120), dtype=np.uint8)
    x = transform(crops)
    assert x.shape == (3, transform.in_chans, *model.input_size)
    if hasattr(model, "input_spec"):
        spec = model.input_spec
        assert spec["input_size"] == list(model.input_size)
        assert spec["in_chans"] == model.in_chans
        assert len(spec["mean"]) == len(spec["std"]) == spec["in_chans"]
        assert 0 < spec["crop_size"] <= 120
    with torch.no_grad():
        assert model(x).shape == (3, 7)


def _compact_params(filters, k, fc=64, cin=1, side=24):
    conv = 0
    for f in filters:
        conv += cin * f * 25 + f
        cin = f
    return conv + (filters[-1] * side * side * fc + fc) + (fc * fc + fc) + (fc * k + k)


def test_compact_parameter_counts_equal_the_paper():
    assert _compact_params((64, 64, 64, 64), 7) == 2_673_031  # arithmetic of Fig. 2
    assert _compact_params((16, 16, 32, 32), 7) == 1_229_623
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(fertk.create("backbones", "compact", num_classes=7)) == 2_673_031
    assert count(fertk.create("backbones", "compact_tiny", num_classes=7)) == 1_229_623
    assert count(fertk.create("backbones", "compact", num_classes=6)) == _compact_params((64,) * 4, 6)
    # the figure's PReLU: one slope per channel of the 4 conv and 2 fc layers
    prelu = fertk.create("backbones", "compact", activation="prelu")
    assert count(prelu) == 2_673_031 + 6 * 64
    assert sum(isinstance(m, nn.PReLU) for m in prelu.modules()) == 6


def test_compact_layout_follows_fig2():
    model = fertk.create("backbones", "compact").eval()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (1, 64, (5, 5), (1, 1), (2, 2))] + [(64, 64, (5, 5), (1, 1), (2, 2))] * 3
    flat = model.features(torch.zeros(1, 1, 96, 96))
    assert flat.shape == (1, 64 * 24 * 24)
    drops = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert drops == [0.6, 0.6]
    assert model.feature_dim == 64
    assert model.input_spec["crop_size"] == 96 and model.input_size == (96, 96)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in fertk.create("backbones", "compact_bn").modules()) == 4


def test_compact_xavier_initialisation():
    model = fertk.create("backbones", "compact")
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.weight
            fan_in = w.shape[1] * (w[0, 0].numel() if w.dim() > 2 else 1)
            fan_out = w.shape[0] * (w[0, 0].numel() if w.dim() > 2 else 1)
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            assert w.abs().max() <= bound + 1e-6
            assert w.std() > 0.4 * bound  # uniform(-b, b) has std b/sqrt(3) ≈ 0.58 b
            assert torch.count_nonzero(m.bias) == 0


def test_compact_dropout_only_in_training():
    model = fertk.create("backbones", "compact_tiny")
    x = torch.randn(4, 1, 96, 96)
    model.train()
    assert not torch.equal(model(x), model(x))


def test_compact_rejects_bad_options():
    with pytest.raises(FertkError, match="filters"):
        fertk.create("backbones", "compact", filters=(8, 8, 8))
    with pytest.raises(FertkError, match="activation"):
        fertk.create("backbones", "compact", activation="gelu")
    with pytest.raises(FertkError, match="multiple of 4"):
        fertk.create("backbones", "compact", input_size=98)


def test_dtan_layout():
    model = fertk.create("backbones", "dtan", num_classes=7)
    assert model.input_size == (64, 64) and model.feature_dim == 500
    assert model.features(torch.zeros(1, 1, 64, 64)).shape == (1, 64 * 13 * 13)
    expected = (25 * 64 + 64) + (64 * 64 * 25 + 64) + (64 * 13 * 13 * 500 + 500) + (500 * 500 + 500) + (500 * 7 + 7)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.5, 0.5]


def test_timm_resnet18_on_gray_96():
    model = fertk.create("backbones", "timm:resnet18", num_classes=7).eval()
    assert model.model.conv1.in_channels == 1 and model.in_chans == 1
    x = torch.randn(4, 1, 96, 96)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (4, 7) and torch.isfinite(out).all()
    assert model.feature_dim == 512 and model.model.fc.out_features == 7


def test_timm_replicate_mode_accepts_gray():
    model = fertk.create("backbones", "timm:resnet18", num_classes=3, gray="replicate").eval()
    assert model.in_chans == 3 and model.input_spec["in_chans"] == 3
    x = torch.randn(2, 1, 96, 96)
    with torch.no_grad():
        assert torch.allclose(model(x), model(x.expand(-1, 3, -1, -1)))
    assert FrameTransform(model)(np.zeros((2, 120, 120), np.uint8)).shape == (2, 3, 96, 96)


def test_timm_pretrained_path_is_a_local_file(tmp_path):
    import timm
    from safetensors.torch import save_file

    src = timm.create_model("resnet18", pretrained=False)  # an "ImageNet" RGB 1000-class net
    path = tmp_path / "resnet18.safetensors"
    save_file(src.state_dict(), str(path))
    model = fertk.create("backbones", "timm:resnet18", num_classes=7, pretrained=str(path))
    # RGB stem summed into one gray channel; body copied; classifier re-sized, not loaded
    assert torch.allclose(model.model.conv1.weight, src.conv1.weight.sum(1, keepdim=True), atol=1e-5)
    assert torch.equal(model.model.layer2[0].conv1.weight, src.layer2[0].conv1.weight)
    assert model.model.fc.weight.shape == (7, 512)
    assert len(model.input_spec["mean"]) == 1
    with pytest.raises(FertkError, match="missing.pth' is not a file"):
        fertk.create("backbones", "timm:resnet18", pretrained=str(tmp_path / "missing.pth"))


def test_timm_unknown_model_is_a_user_error():
    with pytest.raises(FertkError, match="resnet18"):
        fertk.create("backbones", "timm:resnet18x")
