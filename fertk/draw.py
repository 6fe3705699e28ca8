"""Drawing on BGR images: face boxes, landmarks and label text (used by detect and run).

Every function draws in place on a uint8 BGR image and returns it; pass ``image.copy()`` to
keep the original. Gray input is converted with :func:`ensure_bgr` first. Sizes (line
thickness, point radius, font scale) default to values proportional to the face or image,
so annotations stay legible on both 320×240 frames and 4K photos.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from fertk.types import Face

Color = tuple[int, int, int]

#: Default colours (BGR).
BOX_COLOR: Color = (0, 200, 0)
LANDMARK_COLOR: Color = (0, 215, 255)
NOSE_COLOR: Color = (0, 0, 255)
TEXT_COLOR: Color = (255, 255, 255)

#: A small palette for track ids / classes (BGR), colour-blind friendly (Okabe-Ito).
PALETTE: tuple[Color, ...] = (
    (0, 159, 230),
    (233, 180, 86),
    (115, 158, 0),
    (66, 228, 240),
    (178, 114, 0),
    (0, 94, 213),
    (167, 121, 204),
    (0, 0, 0),
)


def color_for(index: int | None) -> Color:
    """A stable palette colour for an index (track id, class index); green for None."""
    if index is None:
        return BOX_COLOR
    return PALETTE[int(index) % len(PALETTE)]


def ensure_bgr(image: np.ndarray) -> np.ndarray:
    """A uint8 BGR copy-or-view of a gray, BGR or BGRA image (contiguous, writable)."""
    import cv2

    a = np.asarray(image)
    if a.ndim == 2:
        return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
    if a.ndim == 3 and a.shape[2] == 4:
        return cv2.cvtColor(a, cv2.COLOR_BGRA2BGR)
    if a.ndim == 3 and a.shape[2] == 1:
        return cv2.cvtColor(a[:, :, 0], cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(a)


def _thickness(image: np.ndarray) -> int:
    return max(1, round(max(image.shape[:2]) / 400))


def draw_box(
    image: np.ndarray,
    box: Sequence[float],
    color: Color = BOX_COLOR,
    thickness: int | None = None,
) -> np.ndarray:
    """Draw the rectangle ``(x1, y1, x2, y2)``."""
    import cv2

    t = thickness or _thickness(image)
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), color, t, cv2.LINE_AA)
    return image


def draw_landmarks(
    image: np.ndarray,
    points: np.ndarray,
    color: Color = LANDMARK_COLOR,
    radius: int | None = None,
    highlight: int | None = None,
    highlight_color: Color = NOSE_COLOR,
) -> np.ndarray:
    """Draw landmark points (N×2); ``highlight`` marks one index (e.g. the nose) in red."""
    import cv2

    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return image
    if radius is None:
        span = float(np.ptp(pts[:, 0])) if len(pts) > 1 else 100.0
        radius = max(1, round(span / (120 if len(pts) > 100 else 60)))
    for i, (x, y) in enumerate(pts):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        c = highlight_color if i == highlight else color
        r = radius + 1 if i == highlight else radius
        cv2.circle(image, (round(x), round(y)), r, c, -1, cv2.LINE_AA)
    return image


def draw_label(
    image: np.ndarray,
    text: str,
    origin: Sequence[float],
    color: Color = BOX_COLOR,
    text_color: Color = TEXT_COLOR,
    scale: float | None = None,
) -> np.ndarray:
    """Draw ``text`` on a filled background whose bottom-left corner is ``origin``.

    The label is moved inside the image when ``origin`` is too close to an edge (a face at
    the top of the frame gets its label below the box's top edge instead of off-screen).
    """
    import cv2

    if scale is None:
        scale = max(0.4, max(image.shape[:2]) / 1000)
    thick = max(1, round(scale * 1.5))
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    x = int(min(max(0, round(origin[0])), max(0, image.shape[1] - tw - 4)))
    y = int(round(origin[1]))
    if y - th - base - 4 < 0:
        y = th + base + 4
    y = min(y, image.shape[0] - 1)
    cv2.rectangle(image, (x, y - th - base - 4), (x + tw + 4, y), color, -1)
    cv2.putText(image, text, (x + 2, y - base - 2), font, scale, text_color, thick, cv2.LINE_AA)
    return image


def draw_face(
    image: np.ndarray,
    face: Face,
    label: str | None = None,
    color: Color | None = None,
    landmarks: bool = True,
) -> np.ndarray:
    """Draw one face: box, landmarks (nose highlighted) and an optional label."""
    col = color if color is not None else color_for(face.track_id)
    draw_box(image, face.box, col)
    if landmarks and face.landmarks is not None:
        nose = None
        if face.scheme:
            from fertk.types import SCHEMES

            scheme = SCHEMES.get(face.scheme)
            nose = scheme.nose if scheme is not None else None
        draw_landmarks(image, face.landmarks, highlight=nose)
    if label:
        draw_label(image, label, (face.box[0], face.box[1]), col)
    return image


def draw_faces(
    image: np.ndarray,
    faces: Iterable[Face],
    labels: Iterable[str | None] | None = None,
    landmarks: bool = True,
    copy: bool = True,
) -> np.ndarray:
    """Draw every face (with ``labels`` in the same order) on a BGR copy of ``image``."""
    out = ensure_bgr(image)
    if copy and out is image:
        out = image.copy()
    faces = list(faces)
    labels_list = list(labels) if labels is not None else [None] * len(faces)
    for face, label in zip(faces, labels_list, strict=False):
        draw_face(out, face, label=label, landmarks=landmarks)
    return out


def draw_crop_region(image: np.ndarray, matrix: np.ndarray, size: int, color: Color = (255, 0, 255)) -> np.ndarray:
    """Outline the square a crop policy sampled (its 2×3 image → crop ``matrix``)."""
    import cv2

    a, t = matrix[:, :2], matrix[:, 2]
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [size - 0.5, size - 0.5], [-0.5, size - 0.5]])
    pts = (corners - t) @ np.linalg.inv(a).T
    cv2.polylines(image, [np.round(pts).astype(np.int32)], True, color, _thickness(image), cv2.LINE_AA)
    return image
