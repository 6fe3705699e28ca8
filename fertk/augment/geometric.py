"""Batch geometric augmentation on torch tensors: random crop, flip, rotation and scale in one warp.

:class:`BatchAugment` draws, per image, a shift of the crop window (the paper's random
96×96 crop inside the 120×120 face), a horizontal flip, a small rotation and a scale, folds
them into one 2×3 matrix per image and samples the whole batch with a single
``affine_grid`` + ``grid_sample`` call (on whatever device the batch lives), so
augmentation costs one vectorised op per batch instead of a Python loop per image.

Input: uint8 or float crops ``(B, H, W)`` or ``(B, C, H, W)`` (uint8 is scaled to 0..1);
output: float ``(B, C, size, size)`` in 0..1. With everything switched off it is an exact
central crop (:func:`center_crop`), which is what the network sees at test time.
"""

from __future__ import annotations

import math
from typing import Any

from fertk.errors import FertkError


class BatchAugment:
    """Random crop (``crop`` of the source side), ``flip`` probability, ``rotate`` (± degrees),
    ``scale`` (min, max zoom), output side ``size`` (default ``crop``); ``seed`` makes the
    draws reproducible (a per-object ``torch.Generator``)."""

    def __init__(self, *, crop: int = 96, size: int | None = None, shift: bool = True,
                 flip: float = 0.5, rotate: float = 10.0, scale: tuple[float, float] = (0.9, 1.1),
                 mode: str = "bilinear", padding: str = "border", seed: int | None = None) -> None:
        if crop <= 0:
            raise FertkError(f"augmentation: crop must be positive, got {crop}")
        if not 0.0 <= flip <= 1.0:
            raise FertkError(f"augmentation: flip is a probability, got {flip}")
        lo, hi = (float(scale), float(scale)) if isinstance(scale, (int, float)) else map(float, scale)
        if not 0 < lo <= hi:
            raise FertkError(f"augmentation: scale must be 0 < min <= max, got {scale}")
        self.crop, self.size = int(crop), int(size or crop)
        self.shift, self.flip, self.rotate = bool(shift), float(flip), float(rotate)
        self.scale = (lo, hi)
        self.mode, self.padding = mode, padding
        self.seed = seed
        self._gen = None

    def options(self) -> dict[str, Any]:
        return {"crop": self.crop, "size": self.size, "shift": self.shift, "flip": self.flip,
                "rotate": self.rotate, "scale": list(self.scale)}

    def _generator(self, device):
        import torch

        if self.seed is None:
            return None
        if self._gen is None:
            self._gen = torch.Generator(device="cpu").manual_seed(int(self.seed))
        return self._gen

    @staticmethod
    def _as_float(x):
        import torch

        if x.ndim == 3:
            x = x.unsqueeze(1)
        if x.ndim != 4:
            raise FertkError(f"augmentation needs a (B, H, W) or (B, C, H, W) batch, got {tuple(x.shape)}")
        if x.dtype == torch.uint8:
            return x.float().div_(255.0)
        return x.float()

    def matrices(self, batch: int, src: tuple[int, int], generator=None):
        """The ``(B, 2, 3)`` ``affine_grid`` matrices (output → input, normalised coordinates)."""
        import torch

        h, w = src
        if self.crop > min(h, w):
            raise FertkError(f"augmentation: crop {self.crop} is larger than the images ({h}x{w})")
        u = torch.rand(batch, 5, generator=generator)
        ang = (u[:, 0] * 2 - 1) * math.radians(self.rotate)
        s = self.scale[0] + u[:, 1] * (self.scale[1] - self.scale[0])
        flip = torch.where(u[:, 2] < self.flip, -1.0, 1.0)
        if self.shift:
            tx = (u[:, 3] * 2 - 1) * (w - self.crop) / w
            ty = (u[:, 4] * 2 - 1) * (h - self.crop) / h
        else:
            tx = ty = torch.zeros(batch)
        cx, cy = self.crop / w, self.crop / h
        cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
        theta = torch.zeros(batch, 2, 3)
        theta[:, 0, 0] = cx * cos * flip
        theta[:, 0, 1] = -sin * cx
        theta[:, 1, 0] = sin * cy * flip
        theta[:, 1, 1] = cy * cos
        theta[:, 0, 2] = tx
        theta[:, 1, 2] = ty
        return theta

    def __call__(self, x, generator=None):
        import torch
        import torch.nn.functional as F

        x = self._as_float(torch.as_tensor(x))
        b, c, h, w = x.shape
        gen = generator if generator is not None else self._generator(x.device)
        theta = self.matrices(b, (h, w), gen).to(x.device, x.dtype)
        grid = F.affine_grid(theta, [b, c, self.size, self.size], align_corners=False)
        return F.grid_sample(x, grid, mode=self.mode, padding_mode=self.padding, align_corners=False)


def center_crop(x, crop: int = 96):
    """The central ``crop``×``crop`` of a batch, as float 0..1 ``(B, C, crop, crop)``."""
    import torch

    x = BatchAugment._as_float(torch.as_tensor(x))
    h, w = x.shape[-2:]
    top, left = (h - crop) // 2, (w - crop) // 2
    return x[..., top : top + crop, left : left + crop]


def build_geometric(**options: Any) -> BatchAugment:
    """The paper's training augmentation plus small rotation/scale (all options overridable)."""
    return BatchAugment(**options)


def build_random_crop(**options: Any) -> BatchAugment:
    """Only the paper's random shifting: a random ``crop`` window, no flip/rotation/scale."""
    options = {"flip": 0.0, "rotate": 0.0, "scale": (1.0, 1.0), **options}
    return BatchAugment(**options)


def build_hflip(**options: Any) -> BatchAugment:
    """Central crop with a random horizontal flip (``flip`` probability, default 0.5)."""
    options = {"shift": False, "rotate": 0.0, "scale": (1.0, 1.0), **options}
    return BatchAugment(**options)


def build_paper(**options: Any) -> BatchAugment:
    """The paper's geometric augmentation: random 96×96 crop of 120×120 and mirror."""
    options = {"rotate": 0.0, "scale": (1.0, 1.0), **options}
    return BatchAugment(**options)
