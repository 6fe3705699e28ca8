"""The face stage: frame → faces → crops, shared by ``fertk run``, ``fertk detect`` and
``prepare()`` (where the face is found and cropped, in one place).

:class:`FaceStage` builds a detector and a crop policy from names and options (or takes
caller-built objects) and settles, once, which crop policy goes with which detector:

- a detector gives landmarks when its built object has a ``scheme`` that is not ``None``
  (``dlib`` with ``landmarks=0`` has none), or, before it is built, by its registry metadata
  (:attr:`fertk.contracts.DetectorInfo.finds_landmarks`); :func:`detector_landmarks`;
- the crop is the one named, else the model's (a checkpoint's crop and options), else
  :data:`fertk.crops.DEFAULT_CROP` (``landmark``) for a detector with landmarks and ``box``
  for a box-only one; :func:`settle_crop`;
- a crop policy that needs landmarks with a box-only detector is one :class:`FertkError`.

Two pseudo-detectors exist for data sets: ``none`` (the whole image is the face, cropped
with ``box`` and no margin: pre-cropped data such as FER2013) and ``dataset`` (landmarks
shipped with the data set; :mod:`fertk.data.prepare` supplies the faces).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fertk.errors import FertkError

#: Pseudo-detectors (not in the registry) and whether their faces have landmarks.
PSEUDO_DETECTORS = {"none": False, "dataset": True}
_UNSET = object()


def _registry(kind: str):
    from fertk.plugins import get_registry

    return get_registry(kind)


def detector_landmarks(detector: Any) -> bool:
    """Whether ``detector`` (a built object, or a registered / pseudo name) gives landmarks."""
    if isinstance(detector, str):
        if detector in PSEUDO_DETECTORS:
            return PSEUDO_DETECTORS[detector]
        return _registry("detectors").get(detector).metadata.finds_landmarks  # rule: contracts.py
    scheme = getattr(detector, "scheme", _UNSET)
    return True if scheme is _UNSET else scheme is not None  # no scheme said: trust the caller


def settle_crop(detector: Any, crop: str | None = None, options: dict[str, Any] | None = None, *,
                model_crop: dict[str, Any] | None = None, detector_name: str | None = None
                ) -> tuple[str, dict[str, Any]]:
    """``(crop name, options)`` for ``detector`` (see the module's rules); refuses a crop that
    needs landmarks with a box-only detector."""
    landmarks = detector_landmarks(detector)
    if crop:
        name, opts = crop, {}
    elif model_crop and model_crop.get("name"):
        name, opts = model_crop["name"], dict(model_crop.get("options") or {})
    elif (detector_name or detector) == "none":
        name, opts = "box", {"margin": 0.0}
    else:
        from fertk.crops import DEFAULT_CROP

        name, opts = (DEFAULT_CROP if landmarks else "box"), {}
    opts.update(options or {})
    if _registry("crops").get(name).metadata.needs_landmarks and not landmarks:
        label = detector_name or (detector if isinstance(detector, str) else type(detector).__name__)
        if not crop and model_crop and model_crop.get("name"):  # the model fixes the crop
            raise FertkError(f"the model was trained with crop '{name}', which needs landmarks, "
                             f"but detector '{label}' gives boxes only (use a detector with "
                             "landmarks, e.g. --detector dlib)")
        raise FertkError(f"crop policy '{name}' needs landmarks, but detector '{label}' gives "
                         "boxes only (use --crop box or a detector with landmarks)")
    return name, opts


class WholeImage:
    """Pseudo-detector ``none``: one face, the whole image (pre-cropped data)."""

    scheme = None

    def detect(self, image: np.ndarray) -> list[Any]:
        from fertk.types import Face

        h, w = image.shape[:2]
        return [Face(box=(0.0, 0.0, float(w), float(h)), score=1.0)]


class FaceStage:
    """Detector + crop policy: :meth:`faces` of a frame, :meth:`crops` of its faces.

    ``detector``/``crop``: registered names or built objects (with ``detect`` / ``crop``);
    ``default_detector``: used when ``detector`` is None (a checkpoint's, a data set's),
    else :data:`fertk.detectors.DEFAULT_DETECTOR`; ``model_crop``: the model's crop spec
    ``{"name", "options"}``, used when ``crop`` is None; ``with_crops=False``: faces only.
    ``fast_detector`` is the detector's cheaper variant for frequent re-detection in videos.
    """

    def __init__(self, detector: Any = None, crop: Any = None, *,
                 detector_options: dict[str, Any] | None = None,
                 crop_options: dict[str, Any] | None = None, default_detector: str | None = None,
                 model_crop: dict[str, Any] | None = None, with_crops: bool = True):
        if detector is None or isinstance(detector, str):
            from fertk.detectors import DEFAULT_DETECTOR

            self.detector_name = detector or default_detector or DEFAULT_DETECTOR
            self.detector = self._build_detector(self.detector_name, detector_options or {})
        else:
            self.detector_name, self.detector = type(detector).__name__, detector
        fast = getattr(self.detector, "fast", None)
        self.fast_detector = fast() if callable(fast) else self.detector
        self.crop_name, self.crop_options, self.cropper = None, {}, None
        if not with_crops:  # faces only (fertk detect without --save-crops)
            return
        if crop is not None and not isinstance(crop, str):
            self.crop_name, self.cropper = type(crop).__name__, crop
            return
        on = self.detector if self.detector is not None else self.detector_name
        self.crop_name, self.crop_options = settle_crop(
            on, crop, crop_options, model_crop=model_crop, detector_name=self.detector_name)
        self.cropper = _registry("crops").create(self.crop_name, **self.crop_options)

    @staticmethod
    def _build_detector(name: str, options: dict[str, Any]) -> Any:
        if name == "none":
            return WholeImage()
        if name == "dataset":
            return None  # the data set supplies the faces (fertk.data.prepare)
        return _registry("detectors").create(name, **options)

    def faces(self, image: np.ndarray, fast: bool = False) -> list[Any]:
        """Faces in a BGR (or gray) image, largest first; ``fast``: the cheaper variant."""
        if self.detector is None:
            raise FertkError(f"detector '{self.detector_name}': faces come from the data set")
        return (self.fast_detector if fast else self.detector).detect(image)

    def crops(self, image: np.ndarray, faces: list[Any], on_error: Any = None) -> list[Any]:
        """One :class:`~fertk.types.FaceCrop` per face, ``None`` where a face cannot be
        cropped (degenerate, landmarks outside the frame): ``on_error(index, exc)`` is told."""
        out: list[Any] = []
        for i, face in enumerate(faces):
            try:
                out.append(self.cropper.crop(image, face))
            except FertkError as exc:
                out.append(None)
                if on_error is not None:
                    on_error(i, exc)
        return out


__all__ = ["PSEUDO_DETECTORS", "FaceStage", "WholeImage", "detector_landmarks", "settle_crop"]
