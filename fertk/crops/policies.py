"""Crop policies: the paper's landmark crop, a box crop and an eye-aligned landmark crop.

All three build a 2×3 affine matrix from image pixel coordinates to crop pixel coordinates
(pixel centres at integer positions, as landmarks are given) and sample the crop with one
:func:`cv2.warpAffine` call, so a crop that extends past the image border is *padded*
(``border="constant"``: black, the default; ``"replicate"``: the edge pixels repeated;
``"reflect"``), never shifted back inside the image: the face keeps its place in the crop.
When the crop shrinks the face by more than 2×, the source region is first reduced with
``INTER_AREA`` so that small crops of big faces are not aliased.

The landmark crop (Kuo et al. 2018, section 3.1): ``dv`` and ``dh`` are the vertical and
horizontal extents of all landmarks, the crop side is ``L = alpha · max(dv, dh)`` with
``alpha = 1.05``, the square is centred on the nose landmark of the face's scheme and resized
to ``size × size`` (120) gray. The network then sees the central 96×96.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fertk.errors import FertkError
from fertk.option_types import Range
from fertk.types import Face, FaceCrop, get_scheme

_BORDERS = ("constant", "replicate", "reflect")

#: The ranges of the crop options: a crop of at most 1024 pixels a side (the networks take 48
#: to 224; ``size=100000`` would ask for 10 GB per face), a square of at most 5 times the
#: landmarks' extent (``alpha``) or the box's side (``1 + margin``), its centre moved by at
#: most one crop side (``shift``): beyond them the face is a speck in a blank crop.
CROP_RANGES = {
    "size": Range(8, 1024),
    "alpha": Range(0, 5, lo_open=True),
    "margin": Range(-1, 4, lo_open=True),
    "shift": Range(-1, 1),
}


def _bounded(policy: str, key: str, value: Any) -> float:
    """``value`` of option ``key`` when inside :data:`CROP_RANGES`; one line naming the policy,
    the option and its range otherwise."""
    bounds = CROP_RANGES[key]
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number in bounds):
        kind = "an integer" if key == "size" else "a number"
        shown = f"{number:g}" if math.isfinite(number) else repr(value)
        raise FertkError(f"{policy} crop: {key} must be {kind} in {bounds}, got {shown}")
    return number


def _to_gray(image: np.ndarray) -> np.ndarray:
    import cv2

    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise FertkError(f"crop input must be a uint8 image, got dtype {a.dtype}")
    if a.ndim == 2:
        return a
    if a.ndim == 3 and a.shape[2] == 1:
        return a[:, :, 0]
    if a.ndim == 3 and a.shape[2] == 3:
        return cv2.cvtColor(a, cv2.COLOR_BGR2GRAY)
    if a.ndim == 3 and a.shape[2] == 4:
        return cv2.cvtColor(a, cv2.COLOR_BGRA2GRAY)
    raise FertkError(f"crop input must be H×W or H×W×3, got shape {a.shape}")


def similarity_matrix(center: np.ndarray, side: float, size: int, angle: float = 0.0) -> np.ndarray:
    """2×3 matrix mapping image pixels to a ``size``-pixel crop.

    The crop covers the square of side ``side`` (image pixels) centred on ``center``,
    rotated by ``angle`` radians (counter-clockwise in the image as displayed, i.e. the
    square's x axis points along ``(cos a, sin a)`` in image coordinates). ``center`` lands
    on the crop's centre ``((size-1)/2, (size-1)/2)``.
    """
    if not (side > 0 and math.isfinite(side)):
        raise FertkError(f"crop side must be positive and finite, got {side}")
    s = size / float(side)
    c, si = math.cos(angle), math.sin(angle)
    a = s * np.array([[c, si], [-si, c]])
    mid = (size - 1) / 2.0
    t = np.array([mid, mid]) - a @ np.asarray(center, dtype=np.float64)
    return np.hstack([a, t[:, None]])


def warp_crop(gray: np.ndarray, matrix: np.ndarray, size: int, border: str = "constant") -> np.ndarray:
    """Sample the ``size``×``size`` crop that ``matrix`` (image → crop) defines."""
    import cv2

    border_mode = {
        "constant": cv2.BORDER_CONSTANT,
        "replicate": cv2.BORDER_REPLICATE,
        "reflect": cv2.BORDER_REFLECT_101,
    }[border]
    a = matrix[:, :2]
    t = matrix[:, 2]
    scale = math.sqrt(abs(float(np.linalg.det(a))))
    m = matrix
    src = gray
    if scale < 0.5:
        # Reduce the region the crop covers with INTER_AREA first (anti-aliasing).
        inv = np.linalg.inv(a)
        corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], float)
        pts = (corners - t) @ inv.T
        h, w = gray.shape[:2]
        x0 = int(max(0, math.floor(pts[:, 0].min()) - 2))
        y0 = int(max(0, math.floor(pts[:, 1].min()) - 2))
        x1 = int(min(w, math.ceil(pts[:, 0].max()) + 3))
        y1 = int(min(h, math.ceil(pts[:, 1].max()) + 3))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            roi = gray[y0:y1, x0:x1]
            f = 2.0 * scale
            new_w = max(1, round(roi.shape[1] * f))
            new_h = max(1, round(roi.shape[0] * f))
            fx, fy = new_w / roi.shape[1], new_h / roi.shape[0]
            src = cv2.resize(roi, (new_w, new_h), interpolation=cv2.INTER_AREA)
            # roi = (small + 0.5) / f - 0.5 ; image = roi + offset
            d = np.diag([1.0 / fx, 1.0 / fy])
            off = np.array([0.5 / fx - 0.5 + x0, 0.5 / fy - 0.5 + y0])
            m = np.hstack([a @ d, (t + a @ off)[:, None]])
    return cv2.warpAffine(
        src, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=border_mode, borderValue=0
    )


def _check_common(size: int, border: str, policy: str) -> None:
    _bounded(policy, "size", size)
    if border not in _BORDERS:
        raise FertkError(f"crop border must be one of {', '.join(_BORDERS)}, got '{border}'")


def _landmarks_of(face: Face, policy: str) -> tuple[np.ndarray, Any]:
    if face.landmarks is None:
        raise FertkError(
            f"crop policy '{policy}' needs landmarks, but the detector gave a box only "
            "(use a detector with landmarks such as 'dlib', or --crop box)"
        )
    pts = np.asarray(face.landmarks, dtype=np.float64).reshape(-1, 2)
    if face.scheme is None:
        raise FertkError(f"crop policy '{policy}': the face's landmarks have no scheme name")
    scheme = get_scheme(face.scheme)
    if len(pts) != scheme.num_points:
        raise FertkError(
            f"crop policy '{policy}': scheme '{scheme.name}' has {scheme.num_points} points, "
            f"the face has {len(pts)}"
        )
    if not np.isfinite(pts).all():
        raise FertkError(f"crop policy '{policy}': landmarks contain NaN or infinite values")
    return pts, scheme


class _Policy:
    name = "base"

    def __init__(self, *, size: int = 120, border: str = "constant") -> None:
        _check_common(size, border, self.name)
        self.size = int(size)
        self.border = border

    def options(self) -> dict[str, Any]:
        return {"size": self.size, "border": self.border}

    def matrix(self, face: Face) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def crop(self, image: np.ndarray, face: Face) -> FaceCrop:
        """The ``size``×``size`` uint8 gray crop of ``face`` in ``image`` (BGR or gray)."""
        m = self.matrix(face)
        out = warp_crop(_to_gray(image), m, self.size, self.border)
        return FaceCrop(image=out, matrix=m, face=face, policy=self.name)

    def __call__(self, image: np.ndarray, face: Face) -> FaceCrop:
        return self.crop(image, face)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"


class LandmarkCrop(_Policy):
    """The paper's crop: side ``alpha·max(dv, dh)`` centred on the nose landmark.

    ``shift`` moves the centre down the face by that fraction of the crop side (negative: up),
    to reproduce another data set's framing (e.g. FER2013's, ``tools/calibrate_fer_crop.py``).
    """

    name = "landmark"

    def __init__(self, *, alpha: float = 1.05, shift: float = 0.0, size: int = 120,
                 border: str = "constant") -> None:
        super().__init__(size=size, border=border)
        self.alpha = _bounded(self.name, "alpha", alpha)
        self.shift = _bounded(self.name, "shift", shift)

    def options(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "shift": self.shift, **super().options()}

    def centre(self, nose: np.ndarray, side: float, angle: float = 0.0) -> np.ndarray:
        """The nose moved ``shift · side`` along the face's downward axis."""
        return nose + self.shift * side * np.array([-math.sin(angle), math.cos(angle)])

    def side(self, points: np.ndarray) -> float:
        """``alpha · max(dv, dh)`` for landmark points (N×2)."""
        ext = points.max(axis=0) - points.min(axis=0)
        side = self.alpha * float(max(ext[0], ext[1]))
        if side < 1.0:
            raise FertkError(f"crop policy '{self.name}': landmarks span less than one pixel")
        return side

    def matrix(self, face: Face) -> np.ndarray:
        pts, scheme = _landmarks_of(face, self.name)
        side = self.side(pts)
        return similarity_matrix(self.centre(pts[scheme.nose], side), side, self.size)


class AlignedCrop(LandmarkCrop):
    """Rotate so that the eye line is horizontal, then the landmark crop.

    ``dv`` and ``dh`` are measured on the rotated landmarks, so a tilted head gets the same
    crop side as the upright one. The crop is still centred on the nose landmark.
    """

    name = "aligned"

    def matrix(self, face: Face) -> np.ndarray:
        pts, scheme = _landmarks_of(face, self.name)
        left = pts[list(scheme.left_eye)].mean(axis=0)
        right = pts[list(scheme.right_eye)].mean(axis=0)
        dx, dy = right - left
        angle = math.atan2(dy, dx) if (dx or dy) else 0.0
        nose = pts[scheme.nose]
        c, s = math.cos(angle), math.sin(angle)
        rotated = (pts - nose) @ np.array([[c, -s], [s, c]])  # into the eye-aligned frame
        side = self.side(rotated)
        return similarity_matrix(self.centre(nose, side, angle), side, self.size, angle)

    @staticmethod
    def eye_angle(face: Face) -> float:
        """Angle of the eye line in degrees (0 = horizontal, positive = clockwise on screen)."""
        pts, scheme = _landmarks_of(face, "aligned")
        left = pts[list(scheme.left_eye)].mean(axis=0)
        right = pts[list(scheme.right_eye)].mean(axis=0)
        return math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))


class BoxCrop(_Policy):
    """A square around the detector box: side ``(1 + margin) · max(w, h)``, same centre.

    For box-only detectors (``opencv``). ``margin=0.1`` gives roughly the field of view of the
    landmark crop on a dlib or Haar box; ``shift`` moves the centre down by that fraction of
    the box height (Haar boxes include the forehead, so ``shift=0.05`` centres closer to the
    nose).
    """

    name = "box"

    def __init__(
        self, *, margin: float = 0.1, shift: float = 0.0, size: int = 120, border: str = "constant"
    ) -> None:
        super().__init__(size=size, border=border)
        self.margin = _bounded(self.name, "margin", margin)
        self.shift = _bounded(self.name, "shift", shift)

    def options(self) -> dict[str, Any]:
        return {"margin": self.margin, "shift": self.shift, **super().options()}

    def matrix(self, face: Face) -> np.ndarray:
        x1, y1, x2, y2 = (float(v) for v in face.box)
        w, h = x2 - x1, y2 - y1
        if not (w > 0 and h > 0):
            raise FertkError(f"box crop: empty face box {face.box}")
        # box edges are pixel borders; centre in pixel-index coordinates
        center = np.array([(x1 + x2) / 2.0 - 0.5, (y1 + y2) / 2.0 - 0.5 + self.shift * h])
        return similarity_matrix(center, (1.0 + self.margin) * max(w, h), self.size)


def build_landmark(**options: Any) -> LandmarkCrop:
    """Factory registered as crop policy ``landmark``."""
    return LandmarkCrop(**options)


def build_box(**options: Any) -> BoxCrop:
    """Factory registered as crop policy ``box``."""
    return BoxCrop(**options)


def build_aligned(**options: Any) -> AlignedCrop:
    """Factory registered as crop policy ``aligned``."""
    return AlignedCrop(**options)
