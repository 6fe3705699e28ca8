"""The paper's illumination normalisations (Kuo et al. 2018, section 5) and its "Aug" scheme.

- ``he``: histogram equalisation (OpenCV's ``equalizeHist``);
- ``lm``: linear map of the image's min..max to the full range (0..255 for uint8, i.e. the
  paper's [0, 1]);
- ``ws``: weighted sum ``λ·HE + (1-λ)·LM`` with λ = 0.5;
- ``aug``: training on all of them: every image is replaced by its HE, LM and WS copies
  (``expand``), or by one of them drawn at random per image and epoch (``random``, the same
  distribution without tripling the epoch); ``include_original`` adds the untouched image.

All take a uint8 gray image (H×W) or batch (N×H×W) and return uint8 of the same shape. At
test time one normalisation (or none) is applied: :func:`get_normalization`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fertk.errors import FertkError

Normalization = Callable[[np.ndarray], np.ndarray]


def _check(images: np.ndarray) -> np.ndarray:
    a = np.asarray(images)
    if a.dtype != np.uint8 or a.ndim not in (2, 3):
        raise FertkError(f"illumination normalisation needs uint8 H×W or N×H×W gray images, "
                         f"got {a.dtype} with shape {a.shape}")
    return a


def he(images: np.ndarray) -> np.ndarray:
    """Histogram equalisation of each image."""
    import cv2

    a = _check(images)
    if a.ndim == 2:
        return cv2.equalizeHist(np.ascontiguousarray(a))
    return np.stack([cv2.equalizeHist(np.ascontiguousarray(x)) for x in a]) if len(a) else a.copy()


def lm(images: np.ndarray) -> np.ndarray:
    """Linear map of each image's min..max to 0..255 (a flat image is returned unchanged)."""
    a = _check(images)
    x = a.reshape(1, -1) if a.ndim == 2 else a.reshape(len(a), -1)
    lo = x.min(axis=1, keepdims=True).astype(np.float32)
    hi = x.max(axis=1, keepdims=True).astype(np.float32)
    span = hi - lo
    out = np.where(span > 0, (x - lo) * (255.0 / np.maximum(span, 1)), x)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(a.shape)


def ws(images: np.ndarray, lam: float = 0.5) -> np.ndarray:
    """Weighted sum ``lam·HE + (1-lam)·LM`` (the paper's λ = 0.5)."""
    a = _check(images)
    out = lam * he(a).astype(np.float32) + (1 - lam) * lm(a).astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def none(images: np.ndarray) -> np.ndarray:
    """No normalisation (a copy of the input)."""
    return _check(images).copy()


NORMALIZATIONS: dict[str, Normalization] = {"none": none, "he": he, "lm": lm, "ws": ws}


def get_normalization(name: str | None, lam: float = 0.5) -> Normalization:
    """The test-time normalisation called ``name`` (``None``/``"none"`` is the identity)."""
    key = (name or "none").lower()
    if key not in NORMALIZATIONS:
        raise FertkError(f"unknown illumination normalisation '{name}': use one of "
                         f"{', '.join(NORMALIZATIONS)}")
    if key == "ws":
        return lambda x: ws(x, lam)
    return NORMALIZATIONS[key]


class Illumination:
    """A registered normalisation as a callable component (``fertk.create("augmentations", "he")``)."""

    def __init__(self, name: str, lam: float = 0.5) -> None:
        self.name = name
        self.lam = float(lam)
        self._fn = get_normalization(name, self.lam)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self._fn(images)

    def __repr__(self) -> str:
        return f"Illumination({self.name!r})" if self.name != "ws" else f"Illumination('ws', lam={self.lam})"


class IlluminationAug:
    """The paper's "Aug" training scheme: HE, LM and WS copies of every training image.

    ``expand(images, labels)`` returns the copies stacked (3N rows, labels repeated);
    calling the object (``mode="random"``) replaces each image by one copy drawn with
    ``rng``, which trains on the same mixture without tripling an epoch.
    """

    def __init__(self, copies: tuple[str, ...] | list[str] = ("he", "lm", "ws"), lam: float = 0.5,
                 include_original: bool = False, mode: str = "random") -> None:
        names = list(copies) + (["none"] if include_original else [])
        if not names:
            raise FertkError("aug: needs at least one copy")
        if mode not in ("random", "expand"):
            raise FertkError(f"aug: mode must be 'random' or 'expand', got '{mode}'")
        self.names = names
        self.fns = [get_normalization(n, lam) for n in names]
        self.mode = mode

    def expand(self, images: np.ndarray, labels: np.ndarray | None = None):
        a = _check(images)
        a = a[None] if a.ndim == 2 else a
        out = np.concatenate([fn(a) for fn in self.fns])
        if labels is None:
            return out
        return out, np.tile(np.asarray(labels), len(self.fns))

    def __call__(self, images: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        a = _check(images)
        if self.mode == "expand":
            return self.expand(a)
        rng = rng if rng is not None else np.random.default_rng()
        if a.ndim == 2:
            return self.fns[int(rng.integers(len(self.fns)))](a)
        choice = rng.integers(len(self.fns), size=len(a))
        out = np.empty_like(a)
        for k, fn in enumerate(self.fns):
            sel = np.flatnonzero(choice == k)
            if sel.size:
                out[sel] = fn(a[sel])
        return out


def build_illumination(name: str = "none", **options) -> Illumination:
    return Illumination(name, **options)


def build_he() -> Illumination:
    return Illumination("he")


def build_lm() -> Illumination:
    return Illumination("lm")


def build_ws(lam: float = 0.5) -> Illumination:
    return Illumination("ws", lam=lam)


def build_aug(**options) -> IlluminationAug:
    return IlluminationAug(**options)
