"""DTAN, the appearance network of Jung et al. (ICCV 2015), as the paper's baseline.

Layout (64×64 gray input)::

    conv1 5×5, 64 → ReLU → maxpool 2 → conv2 5×5, 64 → ReLU → maxpool 2 (64×13×13)
    → fc1 500 → ReLU → dropout 0.5 → fc2 500 → ReLU → dropout 0.5 → fc K

Choices the available descriptions leave open (Jung et al.'s text was not available; see
``docs/models.md``):

- **Padding: none ("valid").** 64 → 60 → 30 → 26 → 13. It gives an FC1 receptive field of
  16×16, as reported, and a parameter count (5,766,635 for K = 7, one input frame) that,
  with the DTGN landmark MLP (≈94K for 49 points × 3 frames), lands near the reported 5,950K
  of DTAGN; "same" padding would give 8.5M for DTAN alone.
- **FC sizes 500, 500 and dropout 0.5** after each FC: from public reimplementations.
- **ReLU** activations, 2×2 max-pooling with stride 2, Xavier initialisation (as for compact).
- **Input frames.** The original stacks a few frames of the sequence as input channels;
  fertk's frame contract is one gray frame, so ``in_chans=1`` by default (``in_chans=3``
  builds the stacked variant; stacking is then the caller's job).
- **Crop.** The central 96×96 of the 120×120 landmark crop (the region compact sees) resized
  to 64×64, so both models see the same part of the face.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from fertk.backbones.base import ConvFCBackbone, make_input_spec, xavier_init
from fertk.errors import FertkError


class DTAN(ConvFCBackbone):
    """Two 5×5 conv/pool stages and two FC layers of 500 units."""

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        filters: tuple[int, int] | list[int] = (64, 64),
        fc: tuple[int, int] | list[int] = (500, 500),
        drop: float = 0.5,
        input_size: int = 64,
        crop_size: int = 96,
        mean: list[float] | None = None,
        std: list[float] | None = None,
    ):
        super().__init__()
        if input_size < 16 or (input_size - 4) % 2 or ((input_size - 4) // 2 - 4) % 2:
            raise FertkError(f"dtan: input_size {input_size} does not tile the conv/pool stages")
        self.num_classes = int(num_classes)
        self.in_chans = int(in_chans)
        self.input_size = (int(input_size), int(input_size))
        self.input_spec = make_input_spec(self.input_size, self.in_chans, crop_size, mean, std)
        f1, f2 = (int(v) for v in filters)
        self.features = nn.Sequential(
            nn.Conv2d(self.in_chans, f1, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(f1, f2, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Flatten(1),
        )
        side = ((input_size - 4) // 2 - 4) // 2
        fc1, fc2 = (int(v) for v in fc)
        self.fc = nn.Sequential(
            nn.Linear(f2 * side * side, fc1),
            nn.ReLU(inplace=True),
            nn.Dropout(drop),
            nn.Linear(fc1, fc2),
            nn.ReLU(inplace=True),
            nn.Dropout(drop),
        )
        self.feature_dim = fc2
        self.classifier = nn.Linear(fc2, self.num_classes)
        xavier_init(self)


def build_dtan(num_classes: int = 7, in_chans: int = 1, **options: Any) -> DTAN:
    """DTAN appearance network (Jung et al. 2015), 64×64 gray input."""
    return DTAN(num_classes=num_classes, in_chans=in_chans, **options)
