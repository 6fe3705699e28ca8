"""Shared detector plumbing: input normalisation, downscaling, size filter and sorting.

Every built-in detector (and the plugin ones) derives from :class:`BaseDetector`, which
implements the contract of :meth:`detect`: faces sorted by area, largest first, boxes and
landmarks in pixel coordinates of the image passed in, optional ``largest``/``min_size``
filtering and optional downscaling of big frames (``max_side``) for speed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fertk.errors import FertkError
from fertk.types import Face


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A contiguous uint8 BGR view of a uint8 BGR/BGRA/gray image."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise FertkError(f"detector input must be a uint8 image, got dtype {a.dtype}")
    if a.ndim == 2:
        return np.ascontiguousarray(np.repeat(a[:, :, None], 3, axis=2))
    if a.ndim == 3 and a.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(a, 3, axis=2))
    if a.ndim == 3 and a.shape[2] in (3, 4):
        return np.ascontiguousarray(a[:, :, :3])
    raise FertkError(f"detector input must be H×W or H×W×3, got shape {a.shape}")


def as_gray(image: np.ndarray) -> np.ndarray:
    """A uint8 gray version of a uint8 BGR/BGRA/gray image."""
    a = np.asarray(image)
    if a.ndim == 2:
        return np.ascontiguousarray(a)
    import cv2

    return cv2.cvtColor(as_bgr(a), cv2.COLOR_BGR2GRAY)


def sort_faces(faces: list[Face]) -> list[Face]:
    """Faces by area, largest first (ties: higher score first)."""
    return sorted(faces, key=lambda f: (-f.area, -float(f.score)))


def filter_faces(faces: list[Face], *, largest: bool = False, min_size: float = 0) -> list[Face]:
    """Sort faces, drop those whose box is smaller than ``min_size`` on its short side,
    and keep only the largest when ``largest`` is set."""
    out = [f for f in faces if min(f.width, f.height) >= min_size]
    out = sort_faces(out)
    return out[:1] if largest else out


class BaseDetector:
    """Base class: subclasses implement :meth:`_detect` on a (possibly downscaled) image.

    Options shared by every detector:

    - ``largest`` (bool): keep only the largest face (``keep="largest"`` is a synonym).
    - ``min_size`` (pixels): drop faces whose box's shorter side is smaller, measured in the
      coordinates of the original image.
    - ``max_side`` (pixels or None): detect on a copy downscaled so that its longer side is at
      most this (faster on big frames); results are mapped back to the original image.
    """

    name = "base"
    scheme: str | None = None

    def __init__(
        self,
        *,
        largest: bool = False,
        keep: str | None = None,
        min_size: float = 0,
        max_side: int | None = None,
    ) -> None:
        if keep is not None:
            if keep not in ("all", "largest"):
                raise FertkError(f"{self.name}: keep must be 'all' or 'largest', got '{keep}'")
            largest = keep == "largest"
        if min_size < 0:
            raise FertkError(f"{self.name}: min_size must be >= 0, got {min_size}")
        if max_side is not None and int(max_side) < 32:
            raise FertkError(f"{self.name}: max_side must be at least 32 pixels, got {max_side}")
        self.largest = bool(largest)
        self.min_size = float(min_size)
        self.max_side = int(max_side) if max_side is not None else None

    def options(self) -> dict[str, Any]:
        """Options that rebuild this detector (recorded in checkpoints and JSON output)."""
        return {"largest": self.largest, "min_size": self.min_size, "max_side": self.max_side}

    def _detect(self, image: np.ndarray) -> list[Face]:  # pragma: no cover - abstract
        raise NotImplementedError

    def fast(self) -> BaseDetector:
        """A cheaper variant for frequent re-detection in videos (the same detector by default).

        ``fertk run`` detects with it between the full-quality scans of its detection
        schedule (:mod:`fertk.pipeline`); detectors whose cost depends on a search option
        (dlib's ``upsample``) return a copy that skips the search for small faces.
        """
        return self

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in ``image`` (uint8 BGR H×W×3 or gray H×W), sorted by area, largest first."""
        bgr = as_bgr(image)
        scale = 1.0
        work = bgr
        if self.max_side is not None and max(bgr.shape[:2]) > self.max_side:
            import cv2

            scale = self.max_side / float(max(bgr.shape[:2]))
            size = (max(1, round(bgr.shape[1] * scale)), max(1, round(bgr.shape[0] * scale)))
            work = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        faces = self._detect(work)
        if scale != 1.0:
            faces = [_rescale(f, 1.0 / scale) for f in faces]
        return filter_faces(faces, largest=self.largest, min_size=self.min_size)

    def __call__(self, image: np.ndarray) -> list[Face]:
        return self.detect(image)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"


def _rescale(face: Face, factor: float) -> Face:
    box = tuple(float(v) * factor for v in face.box)
    lm = None if face.landmarks is None else np.asarray(face.landmarks, dtype=np.float64) * factor
    return Face(box=box, score=face.score, landmarks=lm, scheme=face.scheme, track_id=face.track_id)  # type: ignore[arg-type]
