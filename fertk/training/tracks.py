"""Training sequences for a temporal head from stills (data sets without video, e.g. FER2013).

With ``sequence.source: stills`` the sequence stage turns each still into a short synthetic
*track*, the T frames a face tracker would hand the head in a video:

- **pose**: a smooth trajectory of shift (up to ``±shift`` pixels of the 120×120 crop),
  rotation (``±rotate`` degrees) and scale (``±scale``) from a random start pose to a random
  end pose, linearly over the T frames, plus small per-frame jitter (a quarter of the range);
- **illumination**: gain (0.75–1.25) and gamma (0.8–1.25) drifting linearly over the track;
- **blur**: a Gaussian blur (σ 0.6–1.6 px) on each frame with probability ``blur`` (motion
  and focus changes);
- **onset from neutral**: with probability ``onset`` the first k frames (k uniform in
  1..T-2) come from a randomly drawn *neutral* still of the same part of the data (another
  face: FER2013 has no identities), so the head sees an expression appear, as in a real onset.

Every track is labelled with its still's label. The frozen frame model turns every generated
frame into per-frame probabilities (the head's input), exactly as on real sequences. Draws
come from ``numpy.random.default_rng(seed)``: the same seed gives the same tracks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TrackSpec:
    seq_len: int = 9
    shift: float = 6.0
    rotate: float = 8.0
    scale: float = 0.08
    blur: float = 0.2
    onset: float = 0.5


def _warp(image: np.ndarray, dx: float, dy: float, angle: float, scale: float) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, scale)
    m[:, 2] += (dx, dy)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def make_tracks(crops: np.ndarray, rows: np.ndarray, neutral_rows: np.ndarray, spec: TrackSpec,
                rng: np.random.Generator) -> np.ndarray:
    """``(len(rows), T, S, S)`` uint8 frames: one synthetic track per still in ``rows``."""
    import cv2

    t = spec.seq_len
    out = np.empty((len(rows), t, *crops.shape[1:]), dtype=np.uint8)
    ramp = np.linspace(0.0, 1.0, t)[:, None]
    lo = np.array([-spec.shift, -spec.shift, -spec.rotate, -spec.scale])
    for i, r in enumerate(rows):
        start, end = rng.uniform(lo, -lo), rng.uniform(lo, -lo)
        pose = start + (end - start) * ramp + rng.uniform(lo, -lo, size=(t, 4)) / 4.0
        gain = np.linspace(*rng.uniform(0.75, 1.25, 2), t)
        gamma = np.linspace(*rng.uniform(0.8, 1.25, 2), t)
        k = int(rng.integers(1, t - 1)) if (len(neutral_rows) and t > 2 and rng.random() < spec.onset) else 0
        neutral = crops[int(rng.choice(neutral_rows))] if k else None
        still = crops[int(r)]
        for j in range(t):
            src = neutral if j < k else still
            f = _warp(np.asarray(src), pose[j, 0], pose[j, 1], pose[j, 2], 1.0 + pose[j, 3])
            f = np.clip(255.0 * (f / 255.0) ** gamma[j] * gain[j], 0, 255)
            if rng.random() < spec.blur:
                f = cv2.GaussianBlur(f, (0, 0), float(rng.uniform(0.6, 1.6)))
            out[i, j] = f.astype(np.uint8)
    return out


def track_outputs(frame_outputs: Callable[[np.ndarray], Any], crops: np.ndarray,
                  rows: np.ndarray, neutral_rows: np.ndarray, spec: TrackSpec, seed: int,
                  chunk: int = 512):
    """``(S, T, D)`` per-frame outputs of ``frame_outputs`` (uint8 frames → ``(N, D)`` tensor)
    over one synthetic track per still in ``rows``, built in chunks to bound memory."""
    import torch

    rng = np.random.default_rng(seed)
    parts = []
    for i in range(0, len(rows), chunk):
        frames = make_tracks(crops, rows[i : i + chunk], neutral_rows, spec, rng)
        n, t = frames.shape[:2]
        y = frame_outputs(frames.reshape(n * t, *frames.shape[2:]))
        parts.append(y.reshape(n, t, -1))
    if not parts:
        return torch.zeros(0, spec.seq_len, 0)
    return torch.cat(parts)
