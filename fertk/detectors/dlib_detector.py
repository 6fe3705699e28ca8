"""The ``dlib`` detector: HOG (or CNN/MMOD) face detection plus dlib's shape predictor.

Models come from the ``face-recognition-models`` package (no download at run time):
``shape_predictor_68_face_landmarks.dat`` (scheme ``dlib68``, the default),
``shape_predictor_5_face_landmarks.dat`` (scheme ``dlib5``) and
``mmod_human_face_detector.dat`` (``model="cnn"``).
"""

from __future__ import annotations

import copy
import functools
import warnings
from typing import Any

import numpy as np

from fertk.detectors.base import BaseDetector
from fertk.errors import FertkError, MissingDependencyError
from fertk.types import Face


def _import_dlib():
    try:
        import dlib
    except ImportError as exc:
        raise MissingDependencyError("detector 'dlib'", "dlib-bin") from exc
    return dlib


#: The files of the face-recognition-models package, by kind.
MODEL_FILES = {"68": "shape_predictor_68_face_landmarks.dat",
               "5": "shape_predictor_5_face_landmarks.dat",
               "cnn": "mmod_human_face_detector.dat"}


@functools.cache
def model_path(kind: str) -> str:
    """Path of a face-recognition-models file: ``"68"``, ``"5"`` or ``"cnn"``.

    Found in the installed package without importing it: its ``__init__`` imports the
    deprecated ``pkg_resources``, slow to import (and gone from recent setuptools).
    """
    import importlib.util
    from pathlib import Path

    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / "models" / MODEL_FILES[kind]
        if path.is_file():
            return str(path)
    try:
        with warnings.catch_warnings():  # the package imports the deprecated pkg_resources
            warnings.simplefilter("ignore")
            import face_recognition_models as frm
    except ImportError as exc:
        raise MissingDependencyError("detector 'dlib'", "face-recognition-models") from exc
    getter = {
        "68": frm.pose_predictor_model_location,
        "5": frm.pose_predictor_five_point_model_location,
        "cnn": frm.cnn_face_detector_model_location,
    }[kind]
    return getter()


@functools.cache
def _shape_predictor(kind: str):
    return _import_dlib().shape_predictor(model_path(kind))


@functools.cache
def _cnn_detector():
    return _import_dlib().cnn_face_detection_model_v1(model_path("cnn"))


class DlibDetector(BaseDetector):
    """dlib frontal face detector with 68 (or 5) landmarks.

    Options: ``model`` ``"hog"`` (default, fast) or ``"cnn"`` (dlib's MMOD CNN, more robust to
    pose, slow on CPU); ``upsample`` (times the image is doubled before detection: 1 finds
    faces down to about 40 px, 0 is four times faster and finds faces from about 80 px);
    ``landmarks`` 68 (default), 5 or 0 (boxes only); ``threshold`` (minimum HOG score;
    dlib's own default is 0.0, fertk uses 0.2: clear frontal faces score about 0.8 to 2.5 and
    weak hits such as the round mission patch on the astronaut photo, 0.12, are dropped);
    ``fit_box`` (default True: grow dlib's tight rectangle, which often cuts the chin, to
    contain the landmarks, so the box encloses the whole face); plus :class:`~fertk.detectors.base.BaseDetector`'s
    ``largest``, ``min_size``, ``max_side``.
    """

    name = "dlib"

    def __init__(
        self,
        *,
        model: str = "hog",
        upsample: int = 1,
        landmarks: int = 68,
        threshold: float = 0.2,
        fit_box: bool = True,
        **base: Any,
    ) -> None:
        super().__init__(**base)
        if model not in ("hog", "cnn"):
            raise FertkError(f"dlib: model must be 'hog' or 'cnn', got '{model}'")
        if int(landmarks) not in (0, 5, 68):
            raise FertkError(f"dlib: landmarks must be 68, 5 or 0, got {landmarks}")
        if int(upsample) < 0 or int(upsample) > 4:
            raise FertkError(f"dlib: upsample must be between 0 and 4, got {upsample}")
        dlib = _import_dlib()
        self.model = model
        self.upsample = int(upsample)
        self.n_landmarks = int(landmarks)
        self.threshold = float(threshold)
        self.fit_box = bool(fit_box)
        self.scheme = {68: "dlib68", 5: "dlib5", 0: None}[self.n_landmarks]
        self._hog = dlib.get_frontal_face_detector() if model == "hog" else None
        self._cnn = _cnn_detector() if model == "cnn" else None
        self._predictor = _shape_predictor(str(self.n_landmarks)) if self.n_landmarks else None
        self._dlib = dlib

    def options(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "upsample": self.upsample,
            "landmarks": self.n_landmarks,
            "threshold": self.threshold,
            "fit_box": self.fit_box,
            **super().options(),
        }

    def fast(self) -> DlibDetector:
        """The same detector without upsampling (about 4x faster, faces from about 80 px).

        It shares this detector's loaded dlib models (loading the HOG detector again costs
        about 0.3 s of start-up); like this one, use it from one thread at a time."""
        if self.upsample == 0:
            return self
        twin = copy.copy(self)
        twin.upsample = 0
        return twin

    def _detect(self, image: np.ndarray) -> list[Face]:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        if self._hog is not None:
            rects, scores, _ = self._hog.run(rgb, self.upsample, self.threshold)
            found = list(zip(rects, scores, strict=True))
        else:
            found = [
                (d.rect, d.confidence)
                for d in self._cnn(rgb, self.upsample)
                if d.confidence >= self.threshold
            ]
        faces = []
        for rect, score in found:
            box = (float(rect.left()), float(rect.top()), float(rect.right() + 1), float(rect.bottom() + 1))
            landmarks = None
            if self._predictor is not None:
                shape = self._predictor(rgb, rect)
                landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
                if self.fit_box:
                    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0) + 1
                    box = (
                        float(min(box[0], lo[0])),
                        float(min(box[1], lo[1])),
                        float(max(box[2], hi[0])),
                        float(max(box[3], hi[1])),
                    )
            faces.append(Face(box=box, score=float(score), landmarks=landmarks, scheme=self.scheme))
        return faces


def build_dlib(**options: Any) -> DlibDetector:
    """Factory registered as detector ``dlib``."""
    return DlibDetector(**options)
