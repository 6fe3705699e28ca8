"""Pictures of results from Python: the ones ``fertk run`` writes, drawn by the same code.

* :func:`plot_faces` draws each face's box, landmarks, track, label and probability bars on
  an image (a path, a PIL image or an array); each label panel is placed beside its face
  where it covers no other face and no other panel (right, left, below, above, then the
  least-covering place).
* :func:`plot_timeline` plots the probabilities over time, one row per track, each expression
  in its fixed colour (:func:`class_color`); the y-axis says probability, the legend sits
  outside the plot area; at most ``max_tracks`` rows (the longest tracks), and the title says
  how many were left out.

The drawing itself is :mod:`fertk.draw` (:func:`~fertk.draw.draw_results`,
:func:`~fertk.draw.timeline_figure`), which ``fertk run``'s files use directly; this module
adds reading and writing images.

Both accept the results of :func:`fertk.analyze` / :meth:`fertk.Pipeline.analyze` directly::

    res = fertk.analyze("group.jpg")
    fertk.plot_faces("group.jpg", res, path="group.annotated.jpg")
    fertk.plot_timeline(fertk.analyze("clip.mp4"), path="clip.timeline.png")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from fertk.draw import CLASS_COLORS, MAX_TRACKS, _panel_size, class_color, place_panel  # noqa: F401 - re-exported


def _as_bgr(image: Any) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        from fertk.io.images import read_image

        return read_image(image)
    from fertk.io.images import to_bgr

    return to_bgr(image)


def plot_faces(image: Any, result: Any, *, landmarks: bool = True, bars: bool = True,
               path: str | os.PathLike | None = None) -> np.ndarray:
    """A BGR copy of ``image`` (array, PIL image or path) with the faces of ``result`` (a
    :class:`~fertk.io.outputs.FrameResult`) drawn (:func:`fertk.draw.draw_results`); written
    to ``path`` when given."""
    from fertk.draw import draw_results

    out = draw_results(_as_bgr(image), result, landmarks=landmarks, bars=bars)
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
    how many were left out. Saved to ``path`` (PNG) when given
    (:func:`fertk.draw.timeline_figure`).
    """
    from fertk.draw import timeline_figure

    if isinstance(data, dict):
        series, names = data, list(classes or [])
    else:
        series, names = _series(data)
        names = list(classes or names)
    return timeline_figure(series, names, title=title, max_tracks=max_tracks, path=path)


__all__ = ["CLASS_COLORS", "MAX_TRACKS", "class_color", "place_panel", "plot_faces", "plot_timeline"]
