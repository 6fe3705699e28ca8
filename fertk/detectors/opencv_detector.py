"""The ``opencv`` detector: a Haar cascade shipped with OpenCV (``cv2.data``), boxes only."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from fertk.detectors.base import BaseDetector, as_gray
from fertk.errors import FertkError
from fertk.types import Face


class OpenCVHaarDetector(BaseDetector):
    """Viola-Jones Haar cascade: fast, no landmarks (use the ``box`` crop with it).

    Options: ``cascade`` (a file name in ``cv2.data.haarcascades``, default
    ``haarcascade_frontalface_default.xml``, or a path), ``scale_factor`` (1.1),
    ``min_neighbors`` (5; higher = fewer false positives), ``equalize`` (histogram
    equalisation first, default True), plus ``largest``, ``min_size``, ``max_side``.
    The score is the cascade's level weight (larger = more confident).
    """

    name = "opencv"

    def __init__(
        self,
        *,
        cascade: str = "haarcascade_frontalface_default.xml",
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        equalize: bool = True,
        **base: Any,
    ) -> None:
        super().__init__(**base)
        import cv2

        path = cascade if os.path.isfile(cascade) else os.path.join(cv2.data.haarcascades, cascade)
        if not os.path.isfile(path):
            raise FertkError(f"opencv: cascade file '{cascade}' not found (looked in {cv2.data.haarcascades})")
        if not 1.0 < scale_factor <= 4.0:  # beyond 4 OpenCV runs out of memory (bad_alloc)
            raise FertkError(f"opencv: scale_factor must be in (1, 4], got {scale_factor:g}")
        if not 0 <= int(min_neighbors) <= 100:  # negative: every window is a "face"
            raise FertkError(f"opencv: min_neighbors must be 0 to 100, got {min_neighbors}")
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise FertkError(f"opencv: cannot load cascade {path}")
        self.cascade = cascade
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.equalize = bool(equalize)

    def options(self) -> dict[str, Any]:
        return {
            "cascade": self.cascade,
            "scale_factor": self.scale_factor,
            "min_neighbors": self.min_neighbors,
            "equalize": self.equalize,
            **super().options(),
        }

    def _detect(self, image: np.ndarray) -> list[Face]:
        import cv2

        gray = as_gray(image)
        if self.equalize:
            gray = cv2.equalizeHist(gray)
        # min_size is applied afterwards in original-image pixels (see BaseDetector.detect)
        min_px = 20
        rects, _, weights = self._cascade.detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_px, min_px),
            outputRejectLevels=True,
        )
        faces = []
        for (x, y, w, h), wt in zip(np.asarray(rects).reshape(-1, 4), np.asarray(weights).reshape(-1), strict=True):
            faces.append(Face(box=(float(x), float(y), float(x + w), float(y + h)), score=float(wt)))
        return faces


def build_opencv(**options: Any) -> OpenCVHaarDetector:
    """Factory registered as detector ``opencv``."""
    return OpenCVHaarDetector(**options)
