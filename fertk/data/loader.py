"""Training batches from prepared crops: illumination (uint8, per image) then one batched warp.

:class:`BatchLoader` indexes the memory-mapped crops of a :class:`~fertk.data.PreparedSet`
(or any object with ``crops`` and ``labels`` arrays), applies an illumination normalisation
or the paper's "Aug" scheme on the uint8 crops, then the geometric augmentation (or the
central crop at test time) on the whole batch at once with one ``grid_sample``, and finally
an optional ``normalize`` callable (e.g. ``fertk.preprocess.FrameTransform(spec).normalize``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from fertk.errors import FertkError


class BatchLoader:
    """Iterate ``(x float (B, 1, S, S), y int64 (B,))`` over ``rows`` of ``data``.

    ``illumination``: ``None``, a name (``he``/``lm``/``ws``/``none``/``aug``) or a callable
    on uint8 batches; ``augment``: ``None`` (central ``crop``), a name registered in the
    ``augmentations`` registry (``geometric``, ``paper`` …) or a callable on torch batches;
    ``seed`` fixes the shuffling, the "Aug" draws and (for named augmentations) the warps.
    """

    def __init__(self, data: Any, rows: np.ndarray | None = None, *, batch_size: int = 64,
                 shuffle: bool = True, seed: int = 0, illumination: str | Callable | None = None,
                 augment: str | Callable | None = None, crop: int = 96,
                 normalize: Callable | None = None, drop_last: bool = False, device: str = "cpu") -> None:
        self.data = data
        self.rows = np.arange(len(data.labels)) if rows is None else np.asarray(rows, dtype=np.int64)
        if batch_size < 1:
            raise FertkError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), bool(shuffle), bool(drop_last)
        self.rng = np.random.default_rng(seed)
        self.crop, self.normalize, self.device = int(crop), normalize, device
        self.illumination = self._illumination(illumination)
        self.augment = self._augment(augment, seed)

    @staticmethod
    def _illumination(spec):
        if spec is None or callable(spec):
            return spec
        import fertk

        return fertk.create("augmentations", spec)

    def _augment(self, spec, seed):
        if spec is None or callable(spec):
            return spec
        import fertk

        return fertk.create("augmentations", spec, crop=self.crop, seed=seed)

    def __len__(self) -> int:
        n = len(self.rows)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batch(self, rows: np.ndarray):
        """One batch for explicit ``rows`` (sorted reads from the memmap, original order kept)."""
        import torch

        from fertk.augment.geometric import center_crop
        from fertk.augment.illumination import IlluminationAug

        order = np.argsort(rows, kind="stable")
        imgs = np.empty((len(rows),) + tuple(self.data.crops.shape[1:]), np.uint8)
        imgs[order] = np.asarray(self.data.crops[rows[order]])
        if self.illumination is not None:
            if isinstance(self.illumination, IlluminationAug):
                imgs = self.illumination(imgs, rng=self.rng)
            else:
                imgs = self.illumination(imgs)
        x = torch.from_numpy(np.ascontiguousarray(imgs)).to(self.device)
        x = self.augment(x) if self.augment is not None else center_crop(x, self.crop)
        if self.normalize is not None:
            x = self.normalize(x)
        y = torch.as_tensor(np.asarray(self.data.labels)[rows], dtype=torch.long, device=self.device)
        return x, y

    def __iter__(self) -> Iterator:
        rows = self.rng.permutation(self.rows) if self.shuffle else self.rows
        for i in range(0, len(rows), self.batch_size):
            chunk = rows[i : i + self.batch_size]
            if self.drop_last and len(chunk) < self.batch_size:
                break
            yield self.batch(chunk)
