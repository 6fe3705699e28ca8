"""Batch geometric augmentation on torch tensors: random crop, flip, rotation and scale in one warp.

:class:`BatchAugment` draws, per image, a shift of the crop window (the paper's random
96×96 crop inside the 120×120 face), a horizontal flip, a small rotation and a scale, folds
them into one 2×3 matrix per image and samples the whole batch with a single
``affine_grid`` + ``grid_sample`` call (on whatever device the batch lives), so
augmentation costs one vectorised op per batch instead of a Python loop per image.

Input: uint8 or float crops ``(B, H, W)`` or ``(B, C, H, W)`` (uint8 is scaled to 0..1);
output: float ``(B, C, size, size)`` in 0..1 (``size`` may be ``(H, W)``, e.g. a backbone's
input size, so the resize happens in the same ``grid_sample``). Without rotation and scaling
the windows are cut exactly (whole-pixel shifts, :func:`crop_windows`, no interpolation) and
resized like :class:`fertk.preprocess.FrameTransform` does, so with everything switched off
it is exactly the central crop (:func:`center_crop`) the network sees at test time.
Draws come from a ``torch.Generator`` (``seed`` or the ``generator`` argument) on the CPU, so
they are the same on every device: a resumed training run replays them bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fertk.errors import FertkError


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, (int, float)):
        return int(value), int(value)
    h, w = (int(v) for v in value)
    return h, w


class BatchAugment:
    """Random crop (``crop`` of the source side), ``flip`` probability, ``rotate`` (± degrees),
    ``scale`` (min, max zoom), output ``size`` (side or ``(H, W)``, default ``crop``); ``seed``
    makes the draws reproducible (a per-object ``torch.Generator``)."""

    def __init__(self, *, crop: int = 96, size: int | Sequence[int] | None = None, shift: bool = True,
                 flip: float = 0.5, rotate: float = 10.0, scale: tuple[float, float] = (0.9, 1.1),
                 mode: str = "bilinear", padding: str = "border", seed: int | None = None) -> None:
        if crop <= 0:
            raise FertkError(f"augmentation: crop must be positive, got {crop}")
        if not 0.0 <= flip <= 1.0:
            raise FertkError(f"augmentation: flip is a probability, got {flip}")
        lo, hi = (float(scale), float(scale)) if isinstance(scale, (int, float)) else map(float, scale)
        if not 0 < lo <= hi:
            raise FertkError(f"augmentation: scale must be 0 < min <= max, got {scale}")
        self.crop, self.size = int(crop), _pair(size or crop)
        if min(self.size) <= 0:
            raise FertkError(f"augmentation: size must be positive, got {size}")
        self.shift, self.flip, self.rotate = bool(shift), float(flip), float(rotate)
        self.scale = (lo, hi)
        self.mode, self.padding = mode, padding
        self.seed = seed
        self._gen = None

    def options(self) -> dict[str, Any]:
        size = self.size[0] if self.size[0] == self.size[1] else list(self.size)
        return {"crop": self.crop, "size": size, "shift": self.shift, "flip": self.flip,
                "rotate": self.rotate, "scale": list(self.scale)}

    @property
    def exact(self) -> bool:
        """No rotation or scaling: windows are cut exactly (whole-pixel shifts)."""
        return self.rotate == 0 and self.scale == (1.0, 1.0)

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

    def draws(self, batch: int, generator=None):
        """``(B, 5)`` uniform draws on the CPU: angle, scale, flip, x shift, y shift."""
        import torch

        return torch.rand(batch, 5, generator=generator)

    def _check(self, h: int, w: int) -> None:
        if self.crop > min(h, w):
            raise FertkError(f"augmentation: crop {self.crop} is larger than the images ({h}x{w})")

    def matrices(self, batch: int, src: tuple[int, int], generator=None, u=None):
        """The ``(B, 2, 3)`` ``affine_grid`` matrices (output → input, normalised coordinates)."""
        import torch

        h, w = src
        self._check(h, w)
        u = self.draws(batch, generator) if u is None else u
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

    def offsets(self, u, src: tuple[int, int]):
        """Whole-pixel window corners ``(top, left)`` and flips ``(B,)`` of the exact path."""
        import torch

        h, w = src
        self._check(h, w)
        b = u.shape[0]
        if self.shift:
            top = (u[:, 4] * (h - self.crop + 1)).long().clamp_(max=h - self.crop)
            left = (u[:, 3] * (w - self.crop + 1)).long().clamp_(max=w - self.crop)
        else:
            top = torch.full((b,), (h - self.crop) // 2, dtype=torch.long)
            left = torch.full((b,), (w - self.crop) // 2, dtype=torch.long)
        return top, left, u[:, 2] < self.flip

    def __call__(self, x, generator=None):
        import torch
        import torch.nn.functional as F

        x = self._as_float(torch.as_tensor(x))
        b, c, h, w = x.shape
        gen = generator if generator is not None else self._generator(x.device)
        u = self.draws(b, gen)
        if self.exact:
            top, left, flip = self.offsets(u, (h, w))
            out = crop_windows(x, top, left, self.crop, flip)
            return resize(out, self.size)
        theta = self.matrices(b, (h, w), u=u).to(x.device, x.dtype)
        grid = F.affine_grid(theta, [b, c, *self.size], align_corners=False)
        return F.grid_sample(x, grid, mode=self.mode, padding_mode=self.padding, align_corners=False)


def crop_windows(x, top, left, size: int | Sequence[int], flip=None):
    """Windows of ``size`` cut exactly from a ``(B, C, H, W)`` batch at ``(top, left)``.

    ``top``/``left``: ints (one window for the whole batch, a view) or ``(B,)`` tensors (one
    per image, gathered on the batch's device); ``flip``: a bool or ``(B,)`` bool tensor of
    horizontal mirrors.
    """
    import torch

    sh, sw = _pair(size)
    if isinstance(top, int) and isinstance(left, int) and (flip is None or isinstance(flip, bool)):
        out = x[..., top : top + sh, left : left + sw]
        return out.flip(-1) if flip else out
    b, c, h, w = x.shape
    dev = x.device
    top = torch.as_tensor(top).to(dev).expand(b)
    left = torch.as_tensor(left).to(dev).expand(b)
    rows = top[:, None] + torch.arange(sh, device=dev)
    cols = left[:, None] + torch.arange(sw, device=dev)
    if flip is not None:
        cols = torch.where(torch.as_tensor(flip).to(dev).expand(b)[:, None], cols.flip(1), cols)
    x = x.gather(2, rows[:, None, :, None].expand(b, c, sh, w))
    return x.gather(3, cols[:, None, None, :].expand(b, c, sh, sw))


def resize(x, size: int | Sequence[int]):
    """Bilinear, antialiased resize of a float batch to ``size`` (no-op when it already fits);
    the same resampling as :meth:`fertk.preprocess.FrameTransform.normalize`."""
    import torch.nn.functional as F

    size = _pair(size)
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def center_crop(x, crop: int | Sequence[int] = 96):
    """The central ``crop`` (side or ``(h, w)``) of a batch, as float 0..1 ``(B, C, h, w)``."""
    import torch

    x = BatchAugment._as_float(torch.as_tensor(x))
    h, w = x.shape[-2:]
    ch, cw = _pair(crop)
    return crop_windows(x, (h - ch) // 2, (w - cw) // 2, (ch, cw))


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
