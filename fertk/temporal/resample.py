"""Uniform temporal resampling of a sequence to a fixed length (paper §3.3: 9 frames).

Light module (numpy only): works on numpy arrays and torch tensors alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def uniform_indices(length: int, seq_len: int) -> np.ndarray:
    """``seq_len`` frame indices spread uniformly over ``0..length-1``, first and last included.

    Shorter sequences repeat frames (nearest index); ``seq_len == 1`` takes the last (peak) frame.
    """
    if length < 1:
        raise ValueError("cannot resample an empty sequence")
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if seq_len == 1:
        return np.array([length - 1], dtype=np.int64)
    pos = np.linspace(0.0, length - 1, seq_len)
    return np.floor(pos + 0.5).astype(np.int64)  # round half up, deterministic


def resample_uniform(seq: Any, seq_len: int = 9, dim: int = 0) -> Any:
    """Pick ``seq_len`` uniformly spaced items of ``seq`` along ``dim`` (onset → apex kept).

    ``seq`` is a numpy array, a torch tensor or a list; the same type comes back.
    """
    if isinstance(seq, (list, tuple)):
        return [seq[i] for i in uniform_indices(len(seq), seq_len)]
    idx = uniform_indices(int(seq.shape[dim]), seq_len)
    if isinstance(seq, np.ndarray):
        return np.take(seq, idx, axis=dim)
    import torch

    return torch.index_select(seq, dim, torch.as_tensor(idx, device=seq.device))
