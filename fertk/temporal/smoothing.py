"""Per-track smoothing of expression probabilities over time, so labels do not flicker.

:class:`LabelSmoother` is what ``fertk run`` applies to videos by default: per track, the
mean of the probabilities over a window of ``width`` seconds centred on each frame (half a
second before and after by default, so results come out half a window late), and a label
with hysteresis: it changes only when another expression's smoothed probability is ``ratio``
times the current label's (a ratio, not a difference, so that it means the same for a
confident model and for one whose probabilities are spread over the classes). Windows are in seconds of the frames' timestamps,
so they mean the same at any frame rate, with ``--stride`` and on variable-frame-rate video.
The rule and its defaults were chosen by the measurements of ``benchmarks/bench_run.py``
(docs/run.md, "label stability").

:class:`TrackSmoother` is the earlier causal exponential moving average (kept for callers).

The measures of ``docs/run.md``: :func:`label_changes_per_second` (flicker),
:func:`window_agreement` (does the label follow the frame model?) and :func:`change_lags`
(how late does it follow?).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np

#: Width (seconds) of the centred window of the default smoothing of ``fertk run``.
DEFAULT_SMOOTHING = 1.0
#: How many times as probable (smoothed) another expression must be to change the label.
DEFAULT_HYSTERESIS = 2.0


class TrackSmoother:
    """EMA of probability vectors per key (track), weighted by the time between updates.

    ``update(key, probs, time)`` returns the smoothed probabilities; the first update of a
    key returns ``probs`` itself. ``time=None`` (no timestamp) counts ``1 / fps`` seconds per
    update. ``tau=0`` disables smoothing.
    """

    def __init__(self, tau: float = 0.3, fps: float = 30.0):
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


class LabelSmoother:
    """Centred-window mean of probabilities per track, and a label with hysteresis.

    Feed every frame's faces in time order with :meth:`add` (``key``: the track, ``time`` in
    seconds); ask for a frame's smoothed probabilities and label with :meth:`smooth` once
    frames up to ``time + delay`` were added (or the stream ended), in time order. ``width``
    0 averages nothing (the frame's own probabilities); ``ratio`` 1 is the plain argmax.
    """

    def __init__(self, width: float = DEFAULT_SMOOTHING, ratio: float = DEFAULT_HYSTERESIS):
        if not (0 <= width < math.inf) or not (1 <= ratio < math.inf):
            from fertk.errors import FertkError

            raise FertkError(f"smoothing needs a window >= 0 seconds and a hysteresis ratio "
                             f">= 1, got {width} and {ratio}")
        self.width, self.ratio = float(width), float(ratio)
        self._seen: dict[Hashable, list[tuple[float, np.ndarray]]] = {}
        self._label: dict[Hashable, int] = {}

    @property
    def delay(self) -> float:
        """Seconds of later frames a frame's result waits for (half the window)."""
        return self.width / 2.0

    def add(self, key: Hashable, time: float, probs: np.ndarray) -> None:
        self._seen.setdefault(key, []).append((float(time), np.asarray(probs, np.float32)))

    def smooth(self, key: Hashable, time: float) -> tuple[np.ndarray, int]:
        """The mean probabilities of ``key`` within ``delay`` of ``time`` and its label index.
        Frames older than the window are forgotten (ask in time order)."""
        seen = self._seen[key]
        lo, hi = time - self.delay - 1e-9, time + self.delay + 1e-9
        while seen and seen[0][0] < lo:
            seen.pop(0)
        probs = np.mean([p for t, p in seen if t <= hi], axis=0).astype(np.float32)
        top = int(np.argmax(probs))
        cur = self._label.get(key)
        if cur is None or probs[top] > self.ratio * probs[cur]:
            cur = self._label[key] = top
        return probs, cur

    def drop_before(self, time: float) -> None:
        """Forget tracks last seen more than a window before ``time`` (closed tracks)."""
        for key in [k for k, v in self._seen.items() if not v or v[-1][0] < time - self.width]:
            self._seen.pop(key, None)
            self._label.pop(key, None)


def label_changes_per_second(labels: Sequence[str], times: Sequence[float]) -> float:
    """How often the label changes between consecutive entries, per second of ``times``."""
    if len(labels) < 2:
        return 0.0
    changes = sum(a != b for a, b in zip(labels[:-1], labels[1:], strict=True))
    span = float(times[-1]) - float(times[0])
    return changes / span if span > 0 else 0.0


def window_agreement(labels: Sequence[str], reference: Sequence[str], times: Sequence[float],
                     window: float = 1.0) -> float:
    """The share of consecutive ``window``-second windows (from the first time) in which the
    most frequent of ``labels`` is a most frequent one of ``reference`` (ties count as
    agreeing); both lists are per frame, at ``times``."""
    from collections import Counter

    if not len(times):
        return 1.0
    bins: dict[int, tuple[Counter, Counter]] = {}
    for lab, ref, t in zip(labels, reference, times, strict=True):
        a, b = bins.setdefault(int((float(t) - float(times[0])) // window), (Counter(), Counter()))
        a[lab] += 1
        b[ref] += 1

    def modes(c: Counter) -> set:
        top = max(c.values())
        return {k for k, n in c.items() if n == top}

    return sum(bool(modes(a) & modes(b)) for a, b in bins.values()) / len(bins)


def _mode_filtered(labels: Sequence[str], times: Sequence[float], window: float) -> list[str]:
    from collections import Counter

    t = np.asarray(times, dtype=float)
    out = []
    for ti in t:
        inside = np.flatnonzero(np.abs(t - ti) <= window / 2 + 1e-9)
        out.append(Counter(labels[i] for i in inside).most_common(1)[0][0])
    return out


def change_lags(labels: Sequence[str], reference: Sequence[str], times: Sequence[float],
                window: float = 1.0) -> list[float]:
    """Seconds from each change of the reference's expression (its most frequent label in a
    centred ``window``) until ``labels`` shows the new expression (``nan``: never before the
    reference changes again)."""
    ref = _mode_filtered(reference, times, window)
    lags = []
    for i in range(1, len(ref)):
        if ref[i] == ref[i - 1]:
            continue
        j = i
        while j < len(ref) and labels[j] != ref[i] and ref[j] == ref[i]:
            j += 1
        hit = j < len(ref) and labels[j] == ref[i]
        lags.append(float(times[j]) - float(times[i]) if hit else float("nan"))
    return lags


__all__ = ["DEFAULT_HYSTERESIS", "DEFAULT_SMOOTHING", "LabelSmoother", "TrackSmoother",
           "change_lags", "label_changes_per_second", "window_agreement"]
