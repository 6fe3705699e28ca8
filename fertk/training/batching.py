"""Batch pipeline of the engine: uint8 crops → augmented, normalised network input tensors.

A thin adapter, no image logic of its own: training batches go through the registered
geometric augmentation that ``frame.augment.geometric`` names (built-in: ``geometric``, a
:class:`fertk.augment.geometric.BatchAugment`: random ``crop_size`` window inside the
120×120 crop, flip, rotation, scale and the resize to the backbone's input size, one batched
op on the training device; a plugin's is built the same way), driven by a per-epoch
``torch.Generator`` so a resumed run replays the same draws, then the
camera augmentation that ``frame.augment.camera`` names (:mod:`fertk.augment.camera`; none
by default), then :meth:`fertk.preprocess.FrameTransform.normalize`. Test-time input is exactly
:class:`~fertk.preprocess.FrameTransform` (central ``crop_size`` square, resize, normalise).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fertk.augment.geometric import crop_windows


def build_geometric(aug: Any, crop: int, size: tuple[int, int], context: Any = None) -> Any:
    """The registered geometric augmentation ``aug.geometric`` (an
    :class:`~fertk.training.config.AugmentConfig`) for a ``crop`` window resized to ``size``.

    It is given ``crop`` and ``size``, those of ``shift``, ``flip`` (probability 0.5 or 0),
    ``rotate`` (± degrees) and ``scale`` (``(1 - s, 1 + s)``) that it declares in its
    registered ``options``, and ``aug.geometric_options``. It must be callable as
    ``augment(x, generator)`` on float ``(B, 1, S, S)`` batches in [0, 1], returning
    ``(B, 1, *size)``; looked up in ``context`` (default: the default plugin context). None (the centre crop, no augmentation) for ``geometric: none`` or
    when every one of shift, flip, rotate and scale is off and no options are given.
    """
    if aug is None or aug.geometric == "none":
        return None
    if not (aug.shift or aug.flip or aug.rotate or aug.scale or aug.geometric_options):
        return None
    from fertk.plugins import get_registry

    reg = get_registry("augmentations", context)
    declared = set(reg.get(aug.geometric).metadata.get("options") or ())
    mapped = {"shift": bool(aug.shift), "flip": 0.5 if aug.flip else 0.0, "rotate": float(aug.rotate),
              "scale": (1.0 - float(aug.scale), 1.0 + float(aug.scale))}
    options = {"crop": crop, "size": size, **{k: v for k, v in mapped.items() if k in declared}}
    return reg.create(aug.geometric, **{**options, **aug.geometric_options})


def build_camera(aug: Any, context: Any = None) -> Any:
    """The registered camera augmentation ``aug.camera`` with ``aug.camera_options`` (None for
    ``none``): callable as ``augment(x, generator)`` on float ``(B, C, H, W)`` in [0, 1]."""
    name = getattr(aug, "camera", "none") if aug is not None else "none"
    if name == "none":
        return None
    from fertk.plugins import get_registry

    return get_registry("augmentations", context).create(name, **(aug.camera_options or {}))


class BatchPipeline:
    """Turn uint8 crops ``(B, S, S)`` into ``(B, C, H, W)`` float input for one backbone.

    ``input_spec`` is the backbone's (``input_size``, ``in_chans``, ``crop_size``, ``mean``,
    ``std``); ``augment`` an :class:`~fertk.training.config.AugmentConfig` (or None), whose
    geometric augmentation is looked up in ``context`` (default: the default plugin context).
    """

    def __init__(self, input_spec: dict[str, Any], augment: Any = None,
                 device: torch.device | str = "cpu", channels_last: bool = False,
                 context: Any = None):
        from fertk.preprocess import FrameTransform

        self.ft = FrameTransform(dict(input_spec))
        self.spec = self.ft.spec
        self.augment = augment
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.context = context
        self._augmenters: dict[int, Any] = {}
        self.camera = build_camera(augment, context)

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

    def augmenter(self, side: int) -> Any:
        """The geometric augmentation for ``side``×``side`` crops (None: the centre crop)."""
        if side not in self._augmenters:
            self._augmenters[side] = build_geometric(self.augment, self.ft.region(side),
                                                     self.ft.input_size, self.context)
        return self._augmenters[side]

    # -- test time ----------------------------------------------------------------------
    def test(self, crops: np.ndarray | torch.Tensor, flip: bool = False) -> torch.Tensor:
        x = self.ft.center(self.to_tensor(crops))
        return self.normalize(x.flip(-1) if flip else x)

    # -- training -----------------------------------------------------------------------
    def train(self, crops: np.ndarray | torch.Tensor, generator: torch.Generator | None = None
              ) -> torch.Tensor:
        """Random ``crop_size`` window (shift), flip, rotation and scale, the camera
        augmentation (if any), then normalise."""
        x = self.to_tensor(crops)
        augment = self.augmenter(x.shape[-1])
        x = self.ft.center(x) if augment is None else augment(x, generator)
        if self.camera is not None:
            x = self.camera(x, generator)
        return self.normalize(x)

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
