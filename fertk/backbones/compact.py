"""The paper's compact frame CNN (Kuo, Lai & Sarkis 2018, Fig. 2), its tiny and BN variants.

Layout (``filters=(64, 64, 64, 64)``, 96×96 gray input)::

    conv1 5×5 → act → conv2 5×5 → act → maxpool 2 → conv3 5×5 → act → conv4 5×5 → act
    → maxpool 2 (64×24×24) → fc1 64 → act → dropout 0.6 → fc2 64 → act → dropout 0.6 → fc K

Convolutions have stride 1 and "same" padding (2). With K = 7 this has exactly 2,673,031
parameters; ``filters=(16, 16, 32, 32)`` ("tiny") has 1,229,623. ``activation="prelu"`` uses
channel-wise PReLU as the figure draws (adds 384 parameters for compact: 64 per conv and fc
layer); the paper's text says ReLU, the default. ``batch_norm=True`` (registered as
``compact_bn``) adds BatchNorm after each conv and drops the conv biases: that is *not* the
paper's model.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from fertk.backbones.base import ConvFCBackbone, make_activation, make_input_spec, xavier_init
from fertk.errors import FertkError


class CompactCNN(ConvFCBackbone):
    """Four 5×5 conv layers in two blocks, two FC layers of 64 and a K-way classifier."""

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        filters: tuple[int, int, int, int] | list[int] = (64, 64, 64, 64),
        fc: tuple[int, int] | list[int] = (64, 64),
        activation: str = "relu",
        drop: float = 0.6,
        batch_norm: bool = False,
        input_size: int | tuple[int, int] | list[int] = 96,
        crop_size: int = 96,
        mean: list[float] | None = None,
        std: list[float] | None = None,
    ):
        super().__init__()
        if len(filters) != 4:
            raise FertkError(f"compact: filters needs 4 values, got {list(filters)}")
        if len(fc) != 2:
            raise FertkError(f"compact: fc needs 2 values, got {list(fc)}")
        if num_classes < 1:
            raise FertkError(f"compact: num_classes must be >= 1, got {num_classes}")
        if isinstance(input_size, int):
            input_size = (input_size, input_size)
        h, w = (int(v) for v in input_size)
        if h % 4 or w % 4:
            raise FertkError(f"compact: input_size must be a multiple of 4, got {h}x{w}")
        self.num_classes = int(num_classes)
        self.in_chans = int(in_chans)
        self.input_size = (h, w)
        self.activation = activation
        self.batch_norm = bool(batch_norm)
        self.input_spec = make_input_spec((h, w), self.in_chans, crop_size, mean, std)

        def block(cin: int, cout: int) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, 5, stride=1, padding=2, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(make_activation(activation, cout))
            return layers

        f1, f2, f3, f4 = (int(v) for v in filters)
        self.features = nn.Sequential(
            *block(self.in_chans, f1),
            *block(f1, f2),
            nn.MaxPool2d(2, 2),
            *block(f2, f3),
            *block(f3, f4),
            nn.MaxPool2d(2, 2),
            nn.Flatten(1),
        )
        flat = f4 * (h // 4) * (w // 4)
        fc1, fc2 = (int(v) for v in fc)
        self.fc = nn.Sequential(
            nn.Linear(flat, fc1),
            make_activation(activation, fc1),
            nn.Dropout(drop),
            nn.Linear(fc1, fc2),
            make_activation(activation, fc2),
            nn.Dropout(drop),
        )
        self.feature_dim = fc2
        self.classifier = nn.Linear(fc2, self.num_classes)
        xavier_init(self)


def build_compact(num_classes: int = 7, in_chans: int = 1, **options: Any) -> CompactCNN:
    """The paper's compact CNN (filters 64, 64, 64, 64): 2,673,031 parameters for 7 classes."""
    return CompactCNN(num_classes=num_classes, in_chans=in_chans, **options)


def build_compact_tiny(num_classes: int = 7, in_chans: int = 1, **options: Any) -> CompactCNN:
    """The paper's tiny variant (filters 16, 16, 32, 32): 1,229,623 parameters for 7 classes."""
    options.setdefault("filters", (16, 16, 32, 32))
    return CompactCNN(num_classes=num_classes, in_chans=in_chans, **options)


def build_compact_bn(num_classes: int = 7, in_chans: int = 1, **options: Any) -> CompactCNN:
    """Compact with BatchNorm after every conv (not the paper's model; trains faster)."""
    options["batch_norm"] = True
    return CompactCNN(num_classes=num_classes, in_chans=in_chans, **options)
