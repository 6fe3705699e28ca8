"""Torch's intra-op thread count, set only inside a scoped block and given back afterwards:
the one place fertk changes it (inference classifiers, the training loop on CPU, latency
measurements)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` torch intra-op threads in this thread, and give back the count
    it had (``None`` or 0: leave it as it is)."""
    if not n:
        yield
        return
    import torch

    old = torch.get_num_threads()
    if old == int(n):
        yield
        return
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


__all__ = ["torch_threads"]
