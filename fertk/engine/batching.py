"""Batch pipeline of the engine: uint8 crops → augmented, normalised network input tensors.

Augmentation runs on whole batches on the training device (one ``affine_grid`` +
``grid_sample`` call does random shift inside the 120×120 crop, flip, rotation and scale
and the resize to the backbone's input size), so data loading never starves the model.
Test-time input is the central ``crop_size`` square, resized and normalised exactly as
:class:`fertk.preprocess.FrameTransform` does at inference.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


class BatchPipeline:
    """Turn uint8 crops ``(B, S, S)`` into ``(B, C, H, W)`` float input for one backbone.

    ``input_spec`` is the backbone's (``input_size``, ``in_chans``, ``crop_size``, ``mean``,
    ``std``); ``augment`` an :class:`~fertk.engine.config.AugmentConfig` (or None).
    """

    def __init__(self, input_spec: dict[str, Any], augment: Any = None,
                 device: torch.device | str = "cpu", channels_last: bool = False):
        from fertk.preprocess import FrameTransform

        self.ft = FrameTransform(dict(input_spec))
        self.spec = self.ft.spec
        self.h, self.w = self.ft.input_size
        self.c = self.ft.in_chans
        self.crop = self.ft.crop_size
        self.augment = augment
        self.device = torch.device(device)
        self.channels_last = channels_last

    # -- helpers ------------------------------------------------------------------------
    def to_tensor(self, crops: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, S, S)`` → float ``(B, 1, S, S)`` in [0, 1] on the device."""
        if isinstance(crops, torch.Tensor):
            t = crops
        else:
            arr = np.ascontiguousarray(crops)
            t = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
        return self.ft.to_float(t.to(self.device, non_blocking=True))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, h, w)`` float in [0, 1] → :meth:`FrameTransform.normalize` (+ channels_last)."""
        x = self.ft.normalize(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    # -- test time ----------------------------------------------------------------------
    def test(self, crops: np.ndarray | torch.Tensor, flip: bool = False) -> torch.Tensor:
        x = self.ft.center(self.to_tensor(crops))
        if flip:
            x = x.flip(-1)
        return self.normalize(x)

    # -- training -----------------------------------------------------------------------
    def train(self, crops: np.ndarray | torch.Tensor, generator: torch.Generator | None = None
              ) -> torch.Tensor:
        """Random ``crop_size`` window (shift), flip, rotation and scale, then normalise."""
        aug = self.augment
        if aug is None or not (aug.shift or aug.flip or aug.rotate or aug.scale):
            return self.test(crops)
        x = self.to_tensor(crops)
        b, s = x.shape[0], x.shape[-1]
        if not (aug.rotate or aug.scale):
            return self._train_shift_flip(x, generator)

        def rand(*shape: int) -> torch.Tensor:
            return torch.rand(*shape, generator=generator).to(self.device)

        c = self.ft.region(s)
        frac = c / s  # window size relative to the crop
        half = (s - c) / s  # max centre offset in normalised coords
        tx = (rand(b) * 2 - 1) * half if aug.shift else torch.zeros(b, device=self.device)
        ty = (rand(b) * 2 - 1) * half if aug.shift else torch.zeros(b, device=self.device)
        ang = (rand(b) * 2 - 1) * math.radians(aug.rotate)
        sc = 1 + (rand(b) * 2 - 1) * aug.scale
        flip = (rand(b) < 0.5) if aug.flip else torch.zeros(b, dtype=torch.bool, device=self.device)
        sx = frac / sc * torch.where(flip, -1.0, 1.0)
        sy = frac / sc
        cos, sin = torch.cos(ang), torch.sin(ang)
        theta = torch.stack([
            torch.stack([cos * sx, -sin * sy, tx], dim=1),
            torch.stack([sin * sx, cos * sy, ty], dim=1),
        ], dim=1)
        grid = F.affine_grid(theta, [b, 1, self.h, self.w], align_corners=False)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return self.normalize(out)

    def _train_shift_flip(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Integer shifts (the paper's random 96×96 window) and flips by exact indexing."""
        aug = self.augment
        b, s = x.shape[0], x.shape[-1]
        c = self.ft.region(s)
        span = s - c + 1
        if aug.shift:
            oy = torch.randint(0, span, (b,), generator=generator).to(self.device)
            ox = torch.randint(0, span, (b,), generator=generator).to(self.device)
        else:
            oy = ox = torch.full((b,), (s - c) // 2, device=self.device)
        ar = torch.arange(c, device=self.device)
        rows = (oy[:, None] + ar[None, :])  # (B, crop)
        cols = (ox[:, None] + ar[None, :])
        if aug.flip:
            flip = (torch.rand(b, generator=generator) < 0.5).to(self.device)
            cols = torch.where(flip[:, None], cols.flip(1), cols)
        x = x[:, 0]
        x = x.gather(1, rows[:, :, None].expand(-1, -1, s))
        x = x.gather(2, cols[:, None, :].expand(-1, c, -1))
        return self.normalize(x.unsqueeze(1))

    def view(self, crops: np.ndarray, index: int) -> torch.Tensor:
        """Deterministic views for the sequence stage, the same for every frame of a sequence.

        0: centre; 1: mirror; ≥ 2: a fixed shifted window (chosen by ``index``), mirrored for
        even indices: the paper's "mirror and random crop" applied consistently over time.
        """
        if index == 0:
            return self.test(crops)
        if index == 1:
            return self.test(crops, flip=True)
        x = self.to_tensor(crops)
        s = x.shape[-1]
        c = self.ft.region(s)
        span = s - c + 1
        oy, ox = (int(v) for v in np.random.default_rng(1000 + index).integers(0, span, 2))
        x = x[..., oy : oy + c, ox : ox + c]
        if index % 2 == 0:
            x = x.flip(-1)
        return self.normalize(x)
