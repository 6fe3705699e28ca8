"""Data types and component contracts shared by every stage of the pipeline.

Data flows one way: frames → :class:`Face` (detector) → :class:`FaceCrop` (crop policy) →
tensors → per-frame outputs (backbone) → sequence output (temporal head).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from fertk.schemes import SCHEMES, LandmarkScheme, register_scheme  # noqa: F401 - re-exported

if TYPE_CHECKING:  # pragma: no cover
    import torch


def find_scheme(name: str | None, context: Any = None) -> LandmarkScheme | None:
    """The landmark scheme ``name`` (built-in or a plugin's) in ``context`` (default: the
    default plugin context), or ``None`` when unknown."""
    from fertk.plugins import default_context

    return (context or default_context()).find_scheme(name)


def get_scheme(name: str, context: Any = None) -> LandmarkScheme:
    """The scheme ``name``; schemes of plugins (``register_landmark_schemes``) are loaded on a miss."""
    from fertk.plugins import default_context

    return (context or default_context()).scheme(name)


@dataclass
class Face:
    """One detected face in pixel coordinates of the image it was found in.

    ``box`` is ``(x1, y1, x2, y2)``; ``landmarks`` an ``(N, 2)`` float array in the layout
    named by ``scheme`` (``None`` for box-only detectors); ``track_id`` is set by trackers.
    """

    box: tuple[float, float, float, float]
    score: float = 1.0
    landmarks: np.ndarray | None = None
    scheme: str | None = None
    track_id: int | None = None

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def to_dict(self, landmarks: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
        }
        if self.track_id is not None:
            out["track"] = int(self.track_id)
        if landmarks and self.landmarks is not None:
            out["scheme"] = self.scheme
            out["landmarks"] = np.round(np.asarray(self.landmarks, dtype=float), 2).tolist()
        return out


@dataclass
class FaceCrop:
    """A normalised face: uint8 gray square plus the affine transform image → crop.

    ``matrix`` is 2×3: ``crop_xy = matrix @ [x, y, 1]``. ``to_image`` maps crop points back.
    """

    image: np.ndarray
    matrix: np.ndarray
    face: Face | None = None
    policy: str = ""

    @property
    def size(self) -> int:
        return int(self.image.shape[0])

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return pts @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_image(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        a = self.matrix[:, :2]
        return (pts - self.matrix[:, 2]) @ np.linalg.inv(a).T

    def center(self, size: int = 96) -> np.ndarray:
        """The central ``size``×``size`` region the network sees at test time."""
        off = (self.size - size) // 2
        return self.image[off : off + size, off : off + size]


@dataclass
class Sample:
    """One labelled item of a data set: a still (one path) or a sequence (several paths)."""

    paths: list[str]
    label: int | None
    subject: str
    sequence: str = ""
    frame_index: int = -1
    peak: bool = False
    dataset: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    #: A distribution over the data set's classes (FER+'s annotators' votes), or ``None``:
    #: the label alone. Data sets that give one say how it is trained on (``target_kind``).
    target: tuple[float, ...] | None = None


# -- component contracts ------------------------------------------------------------------------
# The one statement of what each kind's factory returns. fertk.registry.Registry.create checks
# every built component against its Protocol (fertk.contracts.CONTRACTS) and names the missing
# members; fertk.hookspecs and docs/plugins.md refer here.


@runtime_checkable
class Detector(Protocol):
    """``detect(image)``: faces of a uint8 BGR (H×W×3) or gray (H×W) image, largest first."""

    def detect(self, image: np.ndarray) -> list[Face]: ...


@runtime_checkable
class CropPolicy(Protocol):
    """``crop(image, face)``: a uint8 gray square (120×120 by default) + the image → crop affine."""

    def crop(self, image: np.ndarray, face: Face) -> FaceCrop: ...


@runtime_checkable
class Backbone(Protocol):
    """A frame model (a ``torch.nn.Module``): ``model(x)`` gives ``(B, num_classes)`` logits and
    equals ``forward_head(forward_features(x))``; ``forward_features(x)`` gives
    ``(B, feature_dim)``. ``input_size`` is (H, W) and ``in_chans`` the channels of ``x``.

    Optional: ``input_spec`` (input size, channels, crop size, mean, std; derived from
    ``input_size``/``in_chans`` by :func:`fertk.backbones.base.input_spec_of` when absent), and
    for fine-tuning a ``get_classifier()`` method or a ``classifier``/``head`` layer whose
    tensors hold one row per class along dimension 0.
    """

    input_size: tuple[int, int]
    in_chans: int
    num_classes: int
    feature_dim: int

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def forward_features(self, x: torch.Tensor) -> torch.Tensor: ...

    def forward_head(self, features: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class TemporalHead(Protocol):
    """A ``torch.nn.Module`` mapping ``(B, T, input_dim)`` per-frame outputs to
    ``(B, num_classes)`` logits.

    Expected but not required (heads without them keep working): ``input_kind``, ``"probs"``
    (per-frame class probabilities; assumed when absent) or ``"features"`` (backbone
    features), and ``num_classes``.
    """

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Dataset(Protocol):
    """A data set: ``samples()`` gives :class:`Sample` records whose ``label`` indexes ``classes``."""

    classes: list[str]

    def samples(self) -> list[Sample]: ...


@runtime_checkable
class Augmentation(Protocol):
    """A callable applied to uint8 gray images (illumination) or float tensor batches (geometric)."""

    def __call__(self, x: Any) -> Any: ...


@runtime_checkable
class InferenceEngine(Protocol):
    """A built inference engine: ``engine(x)`` gives the model's outputs for a batch ``x``."""

    name: str
    precision: str  # "fp32" or "int8"

    def __call__(self, x: Any) -> Any: ...


#: The canonical expression classes and their order (CK+'s seven plus neutral).
CANONICAL_CLASSES: tuple[str, ...] = (
    "anger",
    "contempt",
    "disgust",
    "fear",
    "happy",
    "sadness",
    "surprise",
    "neutral",
)
