"""Pictures of results, usable from Python and used by ``fertk run``: one implementation each.

* :func:`plot_faces` draws each face's box, landmarks, track, label and probability bars on
  an image; each label panel is placed beside its face where it covers no other face and no
  other panel (right, left, below, above, then the least-covering place).
* :func:`plot_timeline` plots the probabilities over time, one row per track, each expression
  in its fixed colour (:func:`class_color`); the y-axis says probability, the legend sits
  outside the plot area; at most ``max_tracks`` rows (the longest tracks), and the title says
  how many were left out.

Both accept the results of :func:`fertk.analyze` / :meth:`fertk.Pipeline.analyze` directly::

    res = fertk.analyze("group.jpg")
    fertk.plot_faces("group.jpg", res, path="group.annotated.jpg")
    fertk.plot_timeline(fertk.analyze("clip.mp4"), path="clip.timeline.png")
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

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
    """The colour of expression ``name`` in every plot (``#rrggbb``)."""
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


def _as_bgr(image: Any) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        from fertk.io.images import read_image

        return read_image(image)
    from fertk.io.images import to_bgr

    return to_bgr(image)


def plot_faces(image: Any, result: Any, *, landmarks: bool = True, bars: bool = True,
               path: str | os.PathLike | None = None) -> np.ndarray:
    """A BGR copy of ``image`` (array, PIL image or path) with the faces of ``result`` (a
    :class:`~fertk.io.outputs.FrameResult`) drawn; written to ``path`` when given."""
    import cv2

    from fertk.draw import color_for, draw_box, draw_label, draw_landmarks, ensure_bgr

    out = ensure_bgr(_as_bgr(image)).copy()  # never draw on the caller's array
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
    if path is not None:
        from fertk.io.images import write_image

        write_image(path, out)
    return out


def _series(data: Any) -> tuple[dict[Any, list[tuple[float, np.ndarray]]], list[str]]:
    """Per-track (time, probabilities) points of results (frames of one source)."""
    series: dict[Any, list[tuple[float, np.ndarray]]] = {}
    classes: list[str] = []
    for n, rec in enumerate(data):
        classes = list(rec.classes)
        t = float(rec.time) if rec.time is not None else float(n)
        for i, f in enumerate(rec.faces):
            key = f.track if f.track is not None else (i if rec.time is not None else None)
            series.setdefault(key, []).append((t, np.asarray(f.probs, dtype=np.float32)))
    return series, classes


def plot_timeline(data: Any, classes: Sequence[str] | None = None, *, title: str = "",
                  max_tracks: int | None = MAX_TRACKS, path: str | os.PathLike | None = None):
    """A matplotlib Figure of the probabilities over time, one row per track.

    ``data``: results (frames) of one source, or ``{track: [(time, probs), ...]}`` with
    ``classes``. Rows are the longest ``max_tracks`` tracks (``None``: all); the title names
    how many were left out. Saved to ``path`` (PNG) when given.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(data, dict):
        series, names = data, list(classes or [])
    else:
        series, names = _series(data)
        names = list(classes or names)
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


__all__ = ["CLASS_COLORS", "MAX_TRACKS", "class_color", "place_panel", "plot_faces",
           "plot_timeline"]
