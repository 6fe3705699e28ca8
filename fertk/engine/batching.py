"""Batch pipeline of the engine: uint8 crops → augmented, normalised network input tensors.

A thin adapter, no image logic of its own: training batches go through
:class:`fertk.augment.geometric.BatchAugment` (the engine's ``frame.augment`` options: random
``crop_size`` window inside the 120×120 crop, flip, rotation, scale and the resize to the
backbone's input size, one batched op on the training device, driven by a per-epoch
``torch.Generator`` so a resumed run replays the same draws), then
:meth:`fertk.preprocess.FrameTransform.normalize`. Test-time input is exactly
:class:`~fertk.preprocess.FrameTransform` (central ``crop_size`` square, resize, normalise).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fertk.augment.geometric import BatchAugment, crop_windows


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
        self.augment = augment
        self.device = torch.device(device)
        self.channels_last = channels_last
        self._augmenters: dict[int, BatchAugment | None] = {}

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

    def augmenter(self, side: int) -> BatchAugment | None:
        """The :class:`BatchAugment` for ``side``×``side`` crops (None: no augmentation)."""
        if side not in self._augmenters:
            aug = self.augment
            if aug is None or not (aug.shift or aug.flip or aug.rotate or aug.scale):
                self._augmenters[side] = None
            else:
                self._augmenters[side] = BatchAugment(
                    crop=self.ft.region(side), size=self.ft.input_size, shift=bool(aug.shift),
                    flip=0.5 if aug.flip else 0.0, rotate=float(aug.rotate),
                    scale=(1.0 - float(aug.scale), 1.0 + float(aug.scale)))
        return self._augmenters[side]

    # -- test time ----------------------------------------------------------------------
    def test(self, crops: np.ndarray | torch.Tensor, flip: bool = False) -> torch.Tensor:
        x = self.ft.center(self.to_tensor(crops))
        return self.normalize(x.flip(-1) if flip else x)

    # -- training -----------------------------------------------------------------------
    def train(self, crops: np.ndarray | torch.Tensor, generator: torch.Generator | None = None
              ) -> torch.Tensor:
        """Random ``crop_size`` window (shift), flip, rotation and scale, then normalise."""
        x = self.to_tensor(crops)
        augment = self.augmenter(x.shape[-1])
        if augment is None:
            return self.normalize(self.ft.center(x))
        return self.normalize(augment(x, generator))

    def view(self, crops: np.ndarray, index: int) -> torch.Tensor:
        """Deterministic views for the sequence stage, the same for every frame of a sequence.

        0: centre; 1: mirror; ≥ 2: a fixed shifted window (chosen by ``index``), mirrored for
        even indices: the paper's "mirror and random crop" applied consistently over time.
        """
        if index in (0, 1):
            return self.test(crops, flip=index == 1)
        x = self.to_tensor(crops)
        s = x.shape[-1]
        c = self.ft.region(s)
        oy, ox = (int(v) for v in np.random.default_rng(1000 + index).integers(0, s - c + 1, 2))
        return self.normalize(crop_windows(x, oy, ox, c, flip=index % 2 == 0))
