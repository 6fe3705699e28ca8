"""Drawing: face boxes, landmarks and labels on BGR images, results' panels, timelines.

The one drawing code of fertk, below both of its users: the files of ``fertk run``
(:mod:`fertk.io.outputs`) and the Python plots (:mod:`fertk.plots`, which adds reading and
writing images); ``fertk detect`` draws its faces here too.

Every ``draw_*`` function draws in place on a uint8 BGR image and returns it; pass
``image.copy()`` to keep the original. Gray input is converted with :func:`ensure_bgr` first.
Sizes (line thickness, point radius, font scale) default to values proportional to the face
or image, so annotations stay legible on both 320×240 frames and 4K photos.
:func:`draw_results` draws a frame's results (each label panel placed beside its face where
it covers no other face and no other panel: right, left, below, above, then the
least-covering place); :func:`timeline_figure` plots probabilities over time, one row per
track (the longest ``max_tracks``; the title says how many were left out).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

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
            from fertk.types import find_scheme

            scheme = find_scheme(face.scheme)
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


# -- results: label panels and timelines -------------------------------------------------------
#: Rows (tracks) of a timeline plot unless asked otherwise.
MAX_TRACKS = 12
#: One fixed colour per expression, whatever the model's class list and order (timelines of
#: a CK+ model and of a FER2013 model draw happy in the same colour).
CLASS_COLORS = {"anger": "#d62728", "contempt": "#bcbd22", "disgust": "#8c564b", "fear": "#9467bd",
                "happy": "#ff7f0e", "sadness": "#1f77b4", "surprise": "#17becf", "neutral": "#7f7f7f"}
#: Other spellings of the same expressions (data sets' own labels).
CLASS_ALIASES = {"angry": "anger", "disgusted": "disgust", "fearful": "fear", "afraid": "fear",
                 "happiness": "happy", "joy": "happy", "sad": "sadness", "surprised": "surprise",
                 "calm": "neutral"}
#: Colours of classes outside :data:`CLASS_COLORS`, picked by the name (stable across runs).
OTHER_COLORS = ("#e377c2", "#2ca02c", "#aec7e8", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2",
                "#dbdb8d", "#9edae5", "#393b79")


def class_color(name: str) -> str:
    """The colour of expression ``name`` in every plot (``#rrggbb``): one fixed colour per
    expression, whatever the model's class list and order."""
    import zlib

    key = str(name).strip().lower()
    key = CLASS_ALIASES.get(key, key)
    if key in CLASS_COLORS:
        return CLASS_COLORS[key]
    return OTHER_COLORS[zlib.crc32(key.encode("utf-8")) % len(OTHER_COLORS)]


Box = tuple[int, int, int, int]


def _overlap(a: Box, b: Box) -> int:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0, w) * max(0, h)


def place_panel(face: Sequence[float], size: tuple[int, int], image_size: tuple[int, int],
                avoid: Iterable[Box], gap: int = 4) -> Box:
    """Where a ``size`` = (w, h) panel beside ``face`` (x1, y1, x2, y2) covers least of
    ``avoid`` (other faces, panels already placed): right, left, below, above, inside."""
    w, h = size
    iw, ih = image_size
    x1, y1, x2, y2 = (int(round(v)) for v in face)
    candidates = [(x2 + gap, y1), (x1 - gap - w, y1), (x1, y2 + gap), (x1, y1 - gap - h),
                  (x2 + gap, y2 - h), (x1 - gap - w, y2 - h), (x1, y1)]
    avoid = list(avoid)
    best, best_cost = None, None
    for order, (px, py) in enumerate(candidates):
        px = int(min(max(px, 0), max(0, iw - w)))
        py = int(min(max(py, 0), max(0, ih - h)))
        box = (px, py, px + w, py + h)
        covered = sum(_overlap(box, a) for a in avoid)
        own = _overlap(box, (x1, y1, x2, y2))
        cost = (covered, own, order)
        if best_cost is None or cost < best_cost:
            best, best_cost = box, cost
    return best  # type: ignore[return-value]


def _panel_size(classes: Sequence[str], text: str, scale: float, bars: bool) -> tuple[int, int]:
    import cv2

    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, 1)
    width, height = tw + 6, th + base + 6
    if bars:
        bh, bw = max(8, int(11 * scale)), max(60, int(80 * scale))
        (nw, _), _ = cv2.getTextSize("surprise", cv2.FONT_HERSHEY_SIMPLEX, 0.38 * scale, 1)
        width = max(width, bw + nw + 10)
        height += len(classes) * (bh + 2) + 2
    return width, height


def draw_results(image: np.ndarray, result: Any, *, landmarks: bool = True,
                 bars: bool = True) -> np.ndarray:
    """A BGR copy of ``image`` (uint8 BGR, BGRA or gray) with the faces of ``result`` (a
    :class:`~fertk.io.results.FrameResult`) drawn: box, landmarks, track, label, bars."""
    import cv2

    out = ensure_bgr(image).copy()  # never draw on the caller's array
    h, w = out.shape[:2]
    scale = max(0.6, min(w, h) / 600)
    faces = list(result.faces)
    boxes: list[Box] = [tuple(int(round(v)) for v in f.box) for f in faces]  # type: ignore[misc]
    placed: list[Box] = []
    for i, f in enumerate(faces):
        color = color_for(f.track if f.track is not None else i)
        draw_box(out, f.box, color)
        if landmarks and f.landmarks is not None:
            draw_landmarks(out, f.landmarks, color=color)
        tag = f"#{f.track} " if f.track is not None else ""
        text = f"{tag}{f.label} {f.confidence:.2f}"
        pw, ph = _panel_size(result.classes, text, scale, bars)
        others = [b for k, b in enumerate(boxes) if k != i] + placed
        px, py, qx, qy = place_panel(f.box, (pw, ph), (w, h), others)
        placed.append((px, py, qx, qy))
        region = out[py:qy, px:qx]
        region[:] = (region * 0.35).astype(np.uint8)  # a dark, see-through panel
        (_, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, 1)
        draw_label(out, text, (px, py + th + base + 4), color, scale=0.5 * scale)
        if not bars:
            continue
        bh, bw = max(8, int(11 * scale)), max(60, int(80 * scale))
        for k, (name, p) in enumerate(zip(result.classes, f.probs, strict=False)):
            by = py + th + base + 8 + k * (bh + 2)
            cv2.rectangle(out, (px + 3, by), (px + 3 + bw, by + bh), (70, 70, 70), -1)
            cv2.rectangle(out, (px + 3, by), (px + 3 + int(bw * float(p)), by + bh), color, -1)
            cv2.putText(out, name[:8], (px + bw + 6, by + bh - 1), cv2.FONT_HERSHEY_SIMPLEX,
                        0.38 * scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def timeline_figure(series: dict[Any, list[tuple[float, np.ndarray]]], classes: Sequence[str], *,
                    title: str = "", max_tracks: int | None = MAX_TRACKS,
                    path: str | os.PathLike | None = None):
    """A matplotlib Figure of ``{track: [(time, probabilities), ...]}``, one row per track
    (the longest ``max_tracks``; ``None``: all); saved to ``path`` (PNG) when given."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(classes)
    tracks = sorted(series, key=lambda k: (-len(series[k]), str(k)))
    shown = tracks if max_tracks is None else tracks[:max_tracks]
    rows = max(1, len(shown))
    fig = Figure(figsize=(11, 1.9 * rows + 1.0), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, squeeze=False, sharex=True)[:, 0]
    if not shown:
        axes[0].text(0.5, 0.5, "no face found", ha="center", va="center")
        axes[0].set_axis_off()
    for ax, key in zip(axes, shown, strict=False):
        pts = series[key]
        t = np.array([p[0] for p in pts])
        probs = np.stack([p[1] for p in pts])
        for k, name in enumerate(names):
            ax.plot(t, probs[:, k], label=name, color=class_color(name), lw=1.2)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(f"track {key}" if key is not None else "face")
        ax.grid(alpha=0.3)
    if shown:
        axes[-1].set_xlabel("time (s)")
        fig.supylabel("probability", fontsize=10)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", fontsize=8, title="expression")
    left_out = len(tracks) - len(shown)
    head = title or ""
    if left_out:
        head = (f"{head}: " if head else "") + \
            f"the {len(shown)} longest of {len(tracks)} tracks ({left_out} not drawn)"
    if head:
        fig.suptitle(head, fontsize=11)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(str(path))
    return fig
