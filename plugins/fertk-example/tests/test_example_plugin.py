"""The example plugin is found through its entry point and its components work."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from fertk import plugins


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.delenv("FERTK_LOAD_PLUGINS", raising=False)
    plugins.reset()
    yield
    plugins.reset()


def test_entry_point_registers_components():
    regs = plugins.registries()
    assert regs["backbones"].get("example_convnet").plugin == "example"
    assert regs["temporal"].get("example_attention").plugin == "example"
    info = {i.name: i for i in plugins.plugin_infos()}["example"]
    assert info.distribution == "fertk-example"
    assert set(info.hooks) == {"register_backbones", "register_temporal_heads"}


def test_disabled_by_empty_load_list(monkeypatch):
    monkeypatch.setenv("FERTK_LOAD_PLUGINS", "")
    plugins.reset()
    assert "example_convnet" not in plugins.registries()["backbones"]


def test_cli_lists_backbone_unless_disabled():
    env_cmd = [sys.executable, "-m", "fertk.cli", "list", "backbones", "--json"]
    names = {d["name"] for d in json.loads(subprocess.check_output(env_cmd, text=True))}
    assert "example_convnet" in names
    import os

    env = dict(os.environ, FERTK_LOAD_PLUGINS="")
    names = {d["name"] for d in json.loads(subprocess.check_output(env_cmd, text=True, env=env))}
    assert "example_convnet" not in names


def test_backbone_forward_backward():
    model = plugins.registries()["backbones"].create("example_convnet", num_classes=6)
    x = torch.randn(4, 1, 96, 96, requires_grad=True)
    out = model(x)
    assert out.shape == (4, 6)
    assert model.forward_features(x).shape == (4, model.feature_dim)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_attention_head_weights_time_steps():
    head = plugins.registries()["temporal"].create("example_attention", num_classes=7, input_dim=7)
    x = torch.softmax(torch.randn(3, 9, 7), dim=-1)
    out = head(x)
    assert out.shape == (3, 7)
    # permuting time steps does not change attention pooling (it is order-free by design)
    perm = x[:, torch.randperm(9)]
    head.eval()
    assert torch.allclose(head(x), head(perm), atol=1e-5)
