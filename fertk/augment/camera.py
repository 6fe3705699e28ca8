"""Camera augmentations: what differs between one camera's faces and another's.

Each is a batch operation on float ``(B, C, H, W)`` images in [0, 1] at the backbone's input
size, applied after the geometric augmentation (``frame.augment.camera``), and each image of
the batch is degraded with probability ``p`` by a strength drawn for it alone:

- ``blur``: a Gaussian blur, sigma from ``sigma`` (pixels of a 48-pixel face, scaled with the
  input size): defocus, motion, a cheap lens;
- ``noise``: additive Gaussian noise, standard deviation from ``std``: sensor noise in the dark;
- ``jpeg``: JPEG compression at a quality from ``quality`` (OpenCV's encoder): web pictures,
  video codecs;
- ``downup``: down-sampling to a fraction ``scale`` of the side and back (area down,
  bilinear up): small faces far from the camera;
- ``camera``: all four, each with probability ``p`` (default 0.25), in the order a camera
  pipeline has them (blur, down-up, noise, JPEG).

Draws come from the training loop's ``torch.Generator`` (on the CPU), so a resumed run replays
them; with ``frame.augment.camera: none`` (the default) nothing is drawn and training is
exactly what it was without this module.
"""

from __future__ import annotations

import math
from typing import Any

from fertk.errors import FertkError

#: the face side the strengths are given for (FER2013 and FER+ faces are 48x48)
REFERENCE_SIDE = 48


def _range(name: str, key: str, value: Any, lo: float, hi: float) -> tuple[float, float]:
    """``value`` as a ``(min, max)`` pair inside ``[lo, hi]`` (a number is ``(v, v)``)."""
    try:
        a, b = (float(value), float(value)) if isinstance(value, (int, float)) else map(float, value)
    except (TypeError, ValueError):
        raise FertkError(f"augmentation {name}: {key} must be a number or [min, max], got {value!r}") from None
    if not (lo <= a <= b <= hi):
        raise FertkError(f"augmentation {name}: {key} must be within [{lo}, {hi}] with min <= max, got {value!r}")
    return a, b


def _probability(name: str, p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
        raise FertkError(f"augmentation {name}: p is a probability in [0, 1], got {p!r}")
    return float(p)


class _Degrade:
    """One degradation: per image, applied with probability ``p`` at a drawn strength."""

    name = ""
    key = ""
    bounds = (0.0, 1.0)

    def __init__(self, *, p: float = 0.5, **strength: Any) -> None:
        self.p = _probability(self.name, p)
        value = strength.pop(self.key, self.default)
        if strength:
            raise FertkError(f"augmentation {self.name}: unknown option(s) {', '.join(sorted(strength))} "
                             f"(options: p, {self.key})")
        self.range = _range(self.name, self.key, value, *self.bounds)

    default: Any = None

    def options(self) -> dict[str, Any]:
        return {"p": self.p, self.key: list(self.range)}

    def draws(self, n: int, generator: Any) -> tuple[Any, Any]:
        """Which of ``n`` images to degrade, and a strength for each."""
        import torch

        chosen = torch.rand(n, generator=generator) < self.p
        lo, hi = self.range
        return chosen, lo + (hi - lo) * torch.rand(n, generator=generator)

    def __call__(self, x: Any, generator: Any = None) -> Any:
        chosen, strength = self.draws(x.shape[0], generator)
        if not bool(chosen.any()):
            return x
        idx = chosen.nonzero().flatten().to(x.device)
        out = x.clone()
        out[idx] = self.apply(x[idx], strength[chosen].to(x.device), generator).clamp(0.0, 1.0)
        return out

    def apply(self, x: Any, strength: Any, generator: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options()})"


class Blur(_Degrade):
    name, key, bounds, default = "blur", "sigma", (0.0, 10.0), (0.4, 1.5)

    def apply(self, x: Any, sigma: Any, generator: Any) -> Any:
        import torch
        import torch.nn.functional as F

        b, c, h, w = x.shape
        sigma = sigma * (min(h, w) / REFERENCE_SIDE)
        radius = max(1, int(math.ceil(3.0 * float(sigma.max()))))
        t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
        k = torch.exp(-(t[None, :] ** 2) / (2.0 * sigma.clamp_min(1e-3)[:, None] ** 2))
        k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (b*c, taps)
        y = x.reshape(1, b * c, h, w)
        y = F.pad(y, (radius, radius, radius, radius), mode="replicate")
        y = F.conv2d(y, k[:, None, None, :], groups=b * c)  # rows
        y = F.conv2d(y, k[:, None, :, None], groups=b * c)  # columns
        return y.reshape(b, c, h, w)


class Noise(_Degrade):
    name, key, bounds, default = "noise", "std", (0.0, 1.0), (0.01, 0.06)

    def apply(self, x: Any, std: Any, generator: Any) -> Any:
        import torch

        noise = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
        return x + noise * std.to(x.dtype)[:, None, None, None]


class Jpeg(_Degrade):
    name, key, bounds, default = "jpeg", "quality", (1.0, 100.0), (15.0, 60.0)

    def apply(self, x: Any, quality: Any, generator: Any) -> Any:
        import cv2
        import numpy as np
        import torch

        imgs = (x.detach().float().cpu().clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
        out = np.empty_like(imgs)
        for i, q in enumerate(quality.tolist()):
            for ch in range(imgs.shape[1]):
                ok, buf = cv2.imencode(".jpg", imgs[i, ch], [cv2.IMWRITE_JPEG_QUALITY, int(round(q))])
                out[i, ch] = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else imgs[i, ch]
        return torch.from_numpy(out).to(x.device, x.dtype) / 255.0


class DownUp(_Degrade):
    name, key, bounds, default = "downup", "scale", (0.05, 1.0), (0.35, 0.75)

    def apply(self, x: Any, scale: Any, generator: Any) -> Any:
        import torch
        import torch.nn.functional as F

        h, w = x.shape[-2:]
        rows = []
        for i, s in enumerate(scale.tolist()):
            small = F.interpolate(x[i:i + 1], size=(max(2, round(h * s)), max(2, round(w * s))), mode="area")
            rows.append(F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False))
        return torch.cat(rows)


class Camera:
    """Blur, down-up, noise and JPEG, each with probability ``p``; ``<name>_<option>`` sets
    one degradation's option (``jpeg_quality: [30, 80]``)."""

    parts = (Blur, DownUp, Noise, Jpeg)

    def __init__(self, *, p: float = 0.25, **options: Any) -> None:
        p = _probability("camera", p)
        per: dict[str, dict[str, Any]] = {cls.name: {"p": p} for cls in self.parts}
        for key, value in options.items():
            name, _, opt = key.partition("_")
            if name not in per or not opt:
                raise FertkError(f"augmentation camera: unknown option {key!r} (options: p, "
                                 + ", ".join(f"{c.name}_p, {c.name}_{c.key}" for c in self.parts) + ")")
            per[name][opt] = value
        self.steps = [cls(**per[cls.name]) for cls in self.parts]

    def options(self) -> dict[str, Any]:
        return {s.name: s.options() for s in self.steps}

    def __call__(self, x: Any, generator: Any = None) -> Any:
        for step in self.steps:
            x = step(x, generator)
        return x

    def __repr__(self) -> str:
        return f"Camera({self.options()})"


def build_blur(**options: Any) -> Blur:
    return Blur(**options)


def build_noise(**options: Any) -> Noise:
    return Noise(**options)


def build_jpeg(**options: Any) -> Jpeg:
    return Jpeg(**options)


def build_downup(**options: Any) -> DownUp:
    return DownUp(**options)


def build_camera(**options: Any) -> Camera:
    return Camera(**options)
