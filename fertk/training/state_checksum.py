"""The checksum of a trainer state (:func:`fertk.training.stages.save_state` stores it, and
:func:`~fertk.training.stages.load_state` refuses a file whose contents no longer match it)."""

from __future__ import annotations

import hashlib
from typing import Any

import torch


def state_digest(obj: Any, h: Any = None) -> str:
    """sha256 over a trainer state: every tensor's dtype, shape and bytes, every other value's
    repr, mapping keys in order; lists and tuples alike (a round trip may turn one into the
    other)."""
    h = hashlib.sha256() if h is None else h
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        h.update(b"{")
        for key, value in obj.items():
            h.update(repr(key).encode() + b":")
            state_digest(value, h)
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(b"[")
        for value in obj:
            state_digest(value, h)
        h.update(b"]")
    else:
        h.update(repr(obj).encode() + b";")
    return h.hexdigest()


__all__ = ["state_digest"]
