"""Test-time frame preprocessing: uint8 face crops → the float tensor a backbone expects.

:class:`FrameTransform` follows a backbone's ``input_spec`` (``input_size``, ``in_chans``,
``crop_size``, ``mean``, ``std``): take the central ``crop_size`` region of the 120×120 crop
(scaled proportionally for other crop sizes), resize to ``input_size`` (bilinear with
antialias; skipped when sizes match), replicate gray to ``in_chans`` and normalise.
Training-time geometric augmentation (random 96-of-120 crops, flips) happens on float batches
in [0, 1] first and then goes through :meth:`FrameTransform.normalize`, the same resize and
normalisation step: there is no second copy of this logic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fertk.augment.geometric import center_crop, resize
from fertk.backbones.base import BASE_CROP, input_spec_of
from fertk.errors import FertkError


class FrameTransform:
    """Callable: crops (N, S, S) / (S, S) uint8 (numpy or torch) → (N, C, H, W) float32."""

    def __init__(self, input_spec: dict[str, Any] | Any):
        spec = input_spec if isinstance(input_spec, dict) else input_spec_of(input_spec)
        try:
            h, w = (int(v) for v in spec["input_size"])
            self.in_chans = int(spec.get("in_chans", 1))
            self.crop_size = int(spec.get("crop_size", 96))
            mean = [float(v) for v in spec.get("mean", [0.5])]
            std = [float(v) for v in spec.get("std", [0.5])]
        except (KeyError, TypeError, ValueError) as exc:
            raise FertkError(f"input_spec is malformed ({exc}): {spec!r}") from exc
        if self.in_chans not in (1, 3):
            raise FertkError(f"input_spec in_chans must be 1 or 3, got {self.in_chans}")
        if len(mean) == 1:
            mean = mean * self.in_chans
        if len(std) == 1:
            std = std * self.in_chans
        if len(mean) != self.in_chans or len(std) != self.in_chans or min(std) <= 0:
            raise FertkError(f"input_spec mean/std do not fit in_chans={self.in_chans}: {mean} / {std}")
        self.input_size = (h, w)
        self.spec = {"input_size": [h, w], "in_chans": self.in_chans, "crop_size": self.crop_size,
                     "mean": mean, "std": std}
        self._mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def __repr__(self) -> str:
        return f"FrameTransform({self.spec})"

    def region(self, side: int) -> int:
        """Side of the central region taken from a ``side``×``side`` crop."""
        return max(1, min(side, int(round(self.crop_size * side / BASE_CROP))))

    def to_float(self, crops: Any) -> torch.Tensor:
        """uint8 crops (N, S, S) or (S, S) or (N, 1, S, S) → float (N, 1, S, S) in [0, 1]."""
        t = torch.from_numpy(np.ascontiguousarray(crops)) if isinstance(crops, np.ndarray) else crops
        if not isinstance(t, torch.Tensor):
            raise FertkError(f"FrameTransform expects a uint8 array or tensor, got {type(crops).__name__}")
        if t.dim() == 2:
            t = t.unsqueeze(0)
        if t.dim() == 3:
            t = t.unsqueeze(1)
        if t.dim() != 4 or t.shape[1] != 1:
            raise FertkError(f"FrameTransform expects gray crops (N, S, S), got shape {tuple(t.shape)}")
        if t.dtype == torch.uint8:
            return t.float().div_(255.0)
        return t.float()

    def center(self, batch: torch.Tensor) -> torch.Tensor:
        """The central region (``crop_size`` of 120) of a (N, 1, S, S) batch."""
        side_h, side_w = batch.shape[-2:]
        return center_crop(batch, (self.region(side_h), self.region(side_w)))

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        """Float batch in [0, 1] (N, 1, h, w) or (N, h, w) → resized, replicated, normalised."""
        if batch.dim() == 3:
            batch = batch.unsqueeze(1)
        batch = resize(batch.float(), self.input_size)
        if self.in_chans == 3 and batch.shape[1] == 1:
            batch = batch.expand(-1, 3, -1, -1)
        return ((batch - self._mean.to(batch.device)) / self._std.to(batch.device)).contiguous()

    def __call__(self, crops: Any) -> torch.Tensor:
        return self.normalize(self.center(self.to_float(crops)))
