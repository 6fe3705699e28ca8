"""The face stage: frame → faces → crops, shared by ``fertk run``, ``fertk detect`` and
``prepare()`` (where the face is found and cropped, in one place), and the one resolver of
detector, crop policy and their options: every default of both lives here.

:class:`FaceStage` builds a detector and a crop policy from names and options (or takes
caller-built objects) and settles, once, which crop policy goes with which detector:

- the detector is the one named, else the one a model or a data set suggests, else
  :data:`DEFAULT_DETECTOR` (``dlib``); :func:`choose_detector`;
- a detector gives landmarks when its built object has a ``scheme`` that is not ``None``
  (``dlib`` with ``landmarks=0`` has none), or, before it is built, by its registry metadata
  (:attr:`fertk.contracts.DetectorInfo.finds_landmarks`); :func:`detector_landmarks`;
- a model keeps the crop it was trained with, options included (a checkpoint's or an
  export's ``crop``; with detector ``none``, the crop of its training data when those were
  whole-image faces too, ``train.preprocessing``: :func:`model_crop_for`): naming the same
  crop keeps them, naming another one is refused with both named; without a model crop the crop is the one named, else :data:`DEFAULT_CROP`
  (``landmark``) for a detector with landmarks and :data:`BOX_CROP` for a box-only one;
  the user's options (``-C NAME=VALUE``) are layered over the chosen crop's; :func:`settle_crop`;
- a crop policy that needs landmarks with a box-only detector is one :class:`FertkError`.

Two pseudo-detectors exist: ``none`` (the whole image is the face, cropped with the model's
whole-image crop or :data:`WHOLE_IMAGE_CROP`, ``box`` without margin: faces cropped already,
FER2013; registered in the ``detectors`` registry so that ``fertk list detectors`` and
``fertk run --detector none`` know it) and ``dataset`` (landmarks shipped with the data set;
:mod:`fertk.data.prepare` supplies the faces).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fertk.errors import FertkError

#: The detector used when none is named and no model or data set suggests one.
DEFAULT_DETECTOR = "dlib"
#: The crop policy of a detector with landmarks when none is named (the paper's).
DEFAULT_CROP = "landmark"
#: The crop policy of a box-only detector when none is named.
BOX_CROP = "box"
#: The crop of pseudo-detector ``none`` (the whole image is the face): name and options.
WHOLE_IMAGE_CROP: tuple[str, dict[str, Any]] = ("box", {"margin": 0.0})
#: Pseudo-detectors (not in the registry) and whether their faces have landmarks.
PSEUDO_DETECTORS = {"none": False, "dataset": True}
_UNSET = object()


def _registry(kind: str, context: Any = None):
    from fertk.plugins import get_registry

    return get_registry(kind, context)


def choose_detector(*named: str | None) -> str:
    """The first detector named in ``named`` (the user's, then a model's or a data set's
    suggestion, in the caller's order), else :data:`DEFAULT_DETECTOR`."""
    return next((n for n in named if n), DEFAULT_DETECTOR)


def default_crop(*named: str | None) -> str:
    """The first crop policy named in ``named``, else :data:`DEFAULT_CROP` (for callers that
    know no detector; :func:`settle_crop` picks by the detector)."""
    return next((n for n in named if n), DEFAULT_CROP)


def crop_label(name: str, options: dict[str, Any] | None = None) -> str:
    """``box(margin=0.2, shift=-0.12)``: a crop policy with its options, for messages."""
    opts = ", ".join(f"{k}={v!r}" for k, v in (options or {}).items())
    return f"{name}({opts})" if opts else name


def detector_landmarks(detector: Any, context: Any = None) -> bool:
    """Whether ``detector`` (a built object, or a registered / pseudo name) gives landmarks."""
    if isinstance(detector, str):
        if detector in PSEUDO_DETECTORS:
            return PSEUDO_DETECTORS[detector]
        # the rule is DetectorInfo.finds_landmarks (contracts.py)
        return _registry("detectors", context).get(detector).metadata.finds_landmarks
    scheme = getattr(detector, "scheme", _UNSET)
    return True if scheme is _UNSET else scheme is not None  # no scheme said: trust the caller


def layered_crop(saved: dict[str, Any] | None, crop: str | None = None,
                 options: dict[str, Any] | None = None) -> tuple[str | None, dict[str, Any]]:
    """``(name, options)``: ``crop`` (else the saved crop's name) with the user's ``options``
    layered over the saved crop's options when both name the same policy (naming another
    policy starts from its class defaults). ``saved`` is ``{"name", "options"}`` or empty."""
    saved = saved or {}
    name = crop or saved.get("name")
    opts = dict(saved.get("options") or {}) if name == saved.get("name") else {}
    opts.update(options or {})
    return name, opts


def model_crop_choice(model_crop: dict[str, Any] | None, crop: str | None = None,
                      model_label: str | None = None) -> tuple[str, dict[str, Any]] | None:
    """The crop a model was trained with, ``(name, options)``, or ``None`` when it names none.

    ``crop`` (the user's ``--crop``) may name it again (its options are kept); naming another
    policy is one :class:`FertkError` saying what the model was trained with."""
    if not (model_crop and model_crop.get("name")):
        return None
    name, opts = model_crop["name"], dict(model_crop.get("options") or {})
    if crop and crop != name:
        label = model_label or "the model"
        raise FertkError(f"--crop {crop} contradicts {label}, trained with crop "
                         f"{crop_label(name, opts)}: it would see other crops than it learnt "
                         f"from (leave --crop out, or name {name} and change its options with "
                         "-C NAME=VALUE)")
    return name, opts


def model_crop_for(detector: str | None, model: Any) -> dict[str, Any] | None:
    """The crop a model keeps with ``detector`` (a name; None: a caller-built object): the one
    it was trained with on faces found the same way (its ``train.preprocessing``, e.g.
    FER2013's whole images with detector ``none``), else its own ``crop``. ``model``: a
    :class:`fertk.inference.ModelSpec` (``crop``, ``metadata``)."""
    meta = getattr(model, "metadata", None) or {}
    train = meta.get("train") if isinstance(meta.get("train"), dict) else {}
    prep = train.get("preprocessing") if isinstance(train.get("preprocessing"), dict) else {}
    if detector is not None and prep.get("detector") == detector and isinstance(prep.get("crop"), dict):
        return prep["crop"]
    return getattr(model, "crop", None)


def settle_crop(detector: Any, crop: str | None = None, options: dict[str, Any] | None = None, *,
                model_crop: dict[str, Any] | None = None, detector_name: str | None = None,
                model_label: str | None = None, context: Any = None
                ) -> tuple[str, dict[str, Any]]:
    """``(crop name, options)`` for ``detector`` (see the module's rules): the model's crop
    (``model_crop``, ``{"name", "options"}``), else ``crop``, else the detector's default,
    with ``options`` layered over; refuses a crop that needs landmarks with a box-only detector."""
    landmarks = detector_landmarks(detector, context)
    fixed = model_crop_choice(model_crop, crop, model_label)
    if fixed is not None:
        name, opts = fixed
    elif crop:
        name, opts = crop, {}
    elif (detector_name or detector) == "none":
        name, opts = WHOLE_IMAGE_CROP[0], dict(WHOLE_IMAGE_CROP[1])
    else:
        name, opts = (DEFAULT_CROP if landmarks else BOX_CROP), {}
    opts.update(options or {})
    if _registry("crops", context).get(name).metadata.needs_landmarks and not landmarks:
        label = detector_name or (detector if isinstance(detector, str) else type(detector).__name__)
        if fixed is not None:  # the model fixes the crop
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
    else :data:`DEFAULT_DETECTOR`; ``model_crop``: the model's crop spec ``{"name",
    "options"}`` (``model_label`` names the model in errors), kept with ``crop_options``
    layered over it (:func:`settle_crop`); ``with_crops=False``: faces only; ``context``: the
    plugin context whose registries build the parts (default: the default one).
    ``fast_detector`` is the detector's cheaper variant for frequent re-detection in videos.
    """

    def __init__(self, detector: Any = None, crop: Any = None, *,
                 detector_options: dict[str, Any] | None = None,
                 crop_options: dict[str, Any] | None = None, default_detector: str | None = None,
                 model_crop: dict[str, Any] | None = None, model_label: str | None = None,
                 with_crops: bool = True, context: Any = None):
        self.context = context
        if detector is None or isinstance(detector, str):
            self.detector_name = choose_detector(detector, default_detector)
            self.detector = self._build_detector(self.detector_name, detector_options or {})
        else:
            from fertk.contracts import check_object

            check_object(detector, "detectors", "detector=")
            self.detector_name, self.detector = type(detector).__name__, detector
        fast = getattr(self.detector, "fast", None)
        self.fast_detector = fast() if callable(fast) else self.detector
        self.crop_name, self.crop_options, self.cropper = None, {}, None
        if not with_crops:  # faces only (fertk detect without --save-crops)
            return
        if crop is not None and not isinstance(crop, str):
            from fertk.contracts import check_object

            check_object(crop, "crops", "crop=")
            self.crop_name, self.cropper = type(crop).__name__, crop
            return
        on = self.detector if self.detector is not None else self.detector_name
        self.crop_name, self.crop_options = settle_crop(
            on, crop, crop_options, model_crop=model_crop, detector_name=self.detector_name,
            model_label=model_label, context=context)
        self.cropper = _registry("crops", context).create(self.crop_name, **self.crop_options)

    def _build_detector(self, name: str, options: dict[str, Any]) -> Any:
        if name == "none":
            return WholeImage()
        if name == "dataset":
            return None  # the data set supplies the faces (fertk.data.prepare)
        return _registry("detectors", self.context).create(name, **options)

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


__all__ = ["BOX_CROP", "DEFAULT_CROP", "DEFAULT_DETECTOR", "PSEUDO_DETECTORS", "WHOLE_IMAGE_CROP",
           "FaceStage", "WholeImage", "choose_detector", "crop_label", "default_crop",
           "detector_landmarks", "model_crop_choice", "model_crop_for", "settle_crop"]
