"""Fixtures of the weights tests: an isolated user cache and a tiny real backbone plugin."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fertk import hookimpl


class TinyNet(nn.Module):
    """A real (tiny) backbone honouring the backbone contract."""

    def __init__(self, num_classes: int = 3, in_chans: int = 1, width: int = 4):
        super().__init__()
        self.input_size = (16, 16)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.feature_dim = width
        self.input_spec = {"input_size": [16, 16], "in_chans": in_chans, "crop_size": 96,
                           "mean": [0.5], "std": [0.5]}
        self.conv = nn.Conv2d(in_chans, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width, num_classes)

    def forward_features(self, x):
        return torch.relu(self.bn(self.conv(x))).mean((2, 3))

    def forward_head(self, f):
        return self.fc(f)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


class TinyHead(nn.Module):
    def __init__(self, num_classes: int, input_dim: int, input_kind: str = "probs", seq_len: int = 9):
        super().__init__()
        self.num_classes, self.input_kind = num_classes, input_kind
        self.rnn = nn.GRU(input_dim, 5, batch_first=True)
        self.fc = nn.Linear(5, num_classes)

    def forward(self, x):
        return self.fc(self.rnn(x)[0][:, -1])


class TinyPlugin:
    @hookimpl
    def register_backbones(self, register):
        register("tinynet", TinyNet, description="test backbone")

    @hookimpl
    def register_temporal_heads(self, register):
        register("tinyhead", TinyHead, description="test head")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """FERTK_CACHE_DIR pointing at an empty temporary folder."""
    root = tmp_path / "cache"
    monkeypatch.setenv("FERTK_CACHE_DIR", str(root))
    return root


@pytest.fixture
def tiny_plugins(fresh_plugins, cache_dir):
    """Fresh plugin state with ``tinynet``/``tinyhead``; ``tiny_plugins.reload()`` re-reads
    every hook (e.g. after files appeared in the user cache)."""

    def reload():
        fresh_plugins.reset()
        fresh_plugins.register_plugin(TinyPlugin(), name="tiny-test")

    reload()
    fresh_plugins.reload = reload
    yield fresh_plugins
    del fresh_plugins.reload


def tiny_metadata(classes=("anger", "happy", "neutral"), temporal=None, **extra):
    meta = {
        "classes": list(classes),
        "backbone": {"name": "tinynet", "options": {"width": 4}},
        "temporal": temporal,
        "crop": {"name": "box", "options": {"margin": 0.2}},
        "detector": "dlib",
        "input_spec": {"input_size": [16, 16], "in_chans": 1, "crop_size": 96,
                       "mean": [0.5], "std": [0.5]},
        "illumination": None,
        "train": {"seed": 0},
        "licence": "MIT",
        "source": "unit test",
    }
    meta.update(extra)
    return meta


@pytest.fixture
def make_meta():
    """``make_meta(classes=..., temporal=..., **extra)``: valid metadata for ``tinynet``."""
    return tiny_metadata
