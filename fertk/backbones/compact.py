"""The paper's compact frame CNN (Kuo, Lai & Sarkis 2018, Fig. 2), its tiny and BN variants.

Layout (``filters=(64, 64, 64, 64)``, 96×96 gray input)::

    conv1 5×5 → act → conv2 5×5 → act → maxpool 2 → conv3 5×5 → act → conv4 5×5 → act
    → maxpool 2 (64×24×24) → fc1 64 → act → dropout 0.6 → fc2 64 → act → dropout 0.6 → fc K

Convolutions have stride 1 and "same" padding (2). With K = 7 this has exactly 2,673,031
parameters; ``filters=(16, 16, 32, 32)`` ("tiny") has 1,229,623. ``activation="prelu"`` uses
channel-wise PReLU as the figure draws (adds 384 parameters for compact: 64 per conv and fc
layer); the paper's text says ReLU, the default. ``batch_norm=True`` (registered as
``compact_bn``) adds BatchNorm after each conv and drops the conv biases: that is *not* the
paper's model. ``batch_norm="fold"`` trains with that BatchNorm (it converges much faster) and
gives the paper's exact layers for inference (BatchNorm after each conv and each fc layer
while training): :meth:`CompactCNN.deploy` folds each BatchNorm into the weights and bias of
the layer before it, so a saved model has the paper's
layers and parameter count and the same outputs (to float rounding).

``input_size`` may be any multiple of 4: ``48`` is the paper's layer structure at FER2013's
native resolution (903,559 parameters for compact, 344,887 for tiny, 7 classes).
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
        batch_norm: bool | str = False,
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
        if batch_norm not in (False, True, "fold"):
            raise FertkError(f"compact: batch_norm must be false, true or fold, got {batch_norm!r}")
        self.batch_norm = batch_norm
        self.options = {"filters": [int(v) for v in filters], "fc": [int(v) for v in fc],
                        "activation": activation, "drop": float(drop), "input_size": [h, w],
                        "crop_size": int(crop_size), "mean": mean, "std": std}
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
        fold = batch_norm == "fold"  # also a BatchNorm after each fc layer, folded likewise

        def dense(cin: int, cout: int) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Linear(cin, cout, bias=not fold)]
            if fold:
                layers.append(nn.BatchNorm1d(cout))
            return [*layers, make_activation(activation, cout), nn.Dropout(drop)]

        self.fc = nn.Sequential(*dense(flat, fc1), *dense(fc1, fc2))
        self.feature_dim = fc2
        self.classifier = nn.Linear(fc2, self.num_classes)
        xavier_init(self)

    def deploy(self) -> tuple[CompactCNN, dict[str, Any]]:
        """The inference form and the options it is rebuilt with: for ``batch_norm="fold"``
        the paper's layers (no BatchNorm) with every BatchNorm folded into its convolution,
        in eval mode; otherwise this model itself (``{}``: its options are unchanged)."""
        if self.batch_norm != "fold":
            return self, {}
        import torch

        plain = CompactCNN(num_classes=self.num_classes, in_chans=self.in_chans,
                           batch_norm=False, **{k: v for k, v in self.options.items() if v is not None})
        plain.to(next(self.parameters()).device)
        src = [*self.features, *self.fc]
        dst = [*plain.features, *plain.fc]
        layers = (nn.Conv2d, nn.Linear)
        pairs = [(i, m) for i, m in enumerate(src) if isinstance(m, layers)]
        targets = [m for m in dst if isinstance(m, layers)]
        with torch.no_grad():
            for (i, layer), out in zip(pairs, targets, strict=True):
                bn = src[i + 1]
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                out.weight.copy_(layer.weight * scale.view(-1, *[1] * (layer.weight.dim() - 1)))
                bias = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
                out.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
            acts_src = [m for m in src if isinstance(m, nn.PReLU)]
            acts_dst = [m for m in dst if isinstance(m, nn.PReLU)]
            for a, b in zip(acts_src, acts_dst, strict=True):
                b.weight.copy_(a.weight)
            plain.classifier.load_state_dict(self.classifier.state_dict())
        return plain.eval(), {"batch_norm": False}


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
