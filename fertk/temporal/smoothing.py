"""Per-track smoothing of expression probabilities over time, so labels do not flicker.

:class:`TrackSmoother` keeps one exponential moving average (EMA) of the probabilities per
track. Its weight follows the time between the frames of the track (``1 - exp(-dt / tau)``),
so the smoothing lasts ``tau`` seconds whatever the frame rate, the ``--stride`` or gaps in a
variable-frame-rate video. It is what ``fertk run`` applies to videos by default when the
model has no temporal head (a temporal head is itself the smoothing over its window).

:func:`label_changes_per_second` is the flicker measure reported in ``docs/run.md``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np

#: Time constant (seconds) of the default smoothing of ``fertk run`` (measured in docs/run.md).
DEFAULT_SMOOTHING = 0.3


class TrackSmoother:
    """EMA of probability vectors per key (track), weighted by the time between updates.

    ``update(key, probs, time)`` returns the smoothed probabilities; the first update of a
    key returns ``probs`` itself. ``time=None`` (no timestamp) counts ``1 / fps`` seconds per
    update. ``tau=0`` disables smoothing.
    """

    def __init__(self, tau: float = DEFAULT_SMOOTHING, fps: float = 30.0):
        if tau < 0:
            from fertk.errors import FertkError

            raise FertkError(f"smoothing time constant must be >= 0 seconds, got {tau}")
        self.tau = float(tau)
        self.step = 1.0 / float(fps or 30.0)
        self._state: dict[Hashable, tuple[np.ndarray, float | None]] = {}

    def update(self, key: Hashable, probs: np.ndarray, time: float | None = None) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float32)
        prev = self._state.get(key)
        if prev is None or self.tau <= 0:
            out = p
        else:
            last, t0 = prev
            dt = (time - t0) if (time is not None and t0 is not None) else self.step
            alpha = 1.0 - math.exp(-max(dt, 0.0) / self.tau)
            out = (last + alpha * (p - last)).astype(np.float32)
        self._state[key] = (out, time)
        return out

    def drop(self, key: Hashable) -> None:
        """Forget a closed track."""
        self._state.pop(key, None)


def label_changes_per_second(labels: Sequence[str], times: Sequence[float]) -> float:
    """How often the label changes between consecutive entries, per second of ``times``."""
    if len(labels) < 2:
        return 0.0
    changes = sum(a != b for a, b in zip(labels[:-1], labels[1:], strict=True))
    span = float(times[-1]) - float(times[0])
    return changes / span if span > 0 else 0.0


__all__ = ["DEFAULT_SMOOTHING", "TrackSmoother", "label_changes_per_second"]
