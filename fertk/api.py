"""The Python API: :func:`analyze` anything that holds faces, results as pandas DataFrames.

::

    import fertk

    res = fertk.analyze("photo.jpg")          # one image: a FrameResult
    res.faces[0].label, res.faces[0].confidence
    df = fertk.analyze(["a.jpg", "b.jpg"]).to_dataframe()   # several: Results (a list)
    df = fertk.analyze("clip.mp4").to_dataframe(landmarks=True)
    fertk.plot_timeline(fertk.analyze("clip.mp4"), path="clip.png")

:func:`analyze` (and :meth:`fertk.Pipeline.analyze`) take a path (image, video, folder or
glob), a list of those, a numpy array (BGR, BGRA or gray, any numeric dtype) or a PIL image.
A dict ``{name: input}`` names its inputs. One image gives one
:class:`~fertk.io.outputs.FrameResult`; anything else gives :class:`Results`, a list of
them; results of a list or dict keep their input's index or name (``FrameResult.input``, the
``input`` column of ``to_dataframe()``). Both have ``.to_dataframe()``, which needs pandas
(``pip install 'fertk[pandas]'``). This module imports neither torch nor pandas until used.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from fertk.errors import FertkError
from fertk.io.images import to_bgr  # re-exported
from fertk.io.results import FrameResult, to_dataframe  # re-exported


class Results(list):
    """The per-frame results of :func:`analyze` (a list of ``FrameResult``)."""

    def to_dataframe(self, landmarks: bool = False):
        """One row per face (see :func:`to_dataframe`)."""
        return to_dataframe(self, landmarks=landmarks)

    def plot_timeline(self, **kwargs: Any):
        """:func:`fertk.plots.plot_timeline` of these results (one source)."""
        from fertk.plots import plot_timeline

        return plot_timeline(self, **kwargs)

    def __repr__(self) -> str:
        faces = sum(len(r.faces) for r in self)
        sources = list(dict.fromkeys(r.source for r in self))
        names = ", ".join(os.path.basename(str(s)) for s in sources[:3])
        more = f", ... {len(sources) - 3} more" if len(sources) > 3 else ""
        return f"Results({len(self)} frame(s), {faces} face(s); {names}{more})"


def _is_picture(x: Any) -> bool:
    return isinstance(x, np.ndarray) or (hasattr(x, "convert") and hasattr(x, "size"))


def _single_image_path(x: Any) -> bool:
    from fertk.io.images import is_image_path

    return isinstance(x, (str, os.PathLike)) and os.path.isfile(x) and is_image_path(x)


def analyze_with(pipe: Any, x: Any, still: Callable[[np.ndarray, str], FrameResult],
                 source: str | None = None) -> FrameResult | Results:
    """:meth:`fertk.Pipeline.analyze`: ``still(image, source)`` analyses one array."""
    if _is_picture(x):
        return still(to_bgr(x), source or "<array>")
    if _single_image_path(x):
        from fertk.io.images import read_image

        return still(read_image(x), source or os.fspath(x))
    if isinstance(x, (list, tuple, dict)):  # each result keeps its input's index or name
        out = Results()
        for k, item in (x.items() if isinstance(x, dict) else enumerate(x)):
            got = analyze_with(pipe, item, still, None if source is None else f"{source}[{k}]")
            for rec in got if isinstance(got, Results) else [got]:
                rec.input = k
                out.append(rec)
        return out
    if isinstance(x, (str, os.PathLike, int)):
        return Results(pipe.run(os.fspath(x) if not isinstance(x, int) else x))
    raise FertkError(f"cannot analyze a {type(x).__name__}: pass a path, a list of paths, a "
                     "numpy array (BGR or gray) or a PIL image")


_DEFAULT: dict[str, Any] = {}


def analyze(x: Any, **options: Any) -> FrameResult | Results:
    """Expressions of every face in ``x`` with the default (or given) pipeline.

    ``options`` are :class:`fertk.Pipeline` arguments (``weights``, ``detector``, ...); the
    pipeline built without options is kept for the next call.
    """
    import fertk  # the facade's lazy fertk.Pipeline: fertk.pipeline itself imports this module

    if options:
        return fertk.Pipeline(**options).analyze(x)
    if "pipe" not in _DEFAULT:
        _DEFAULT["pipe"] = fertk.Pipeline()
    return _DEFAULT["pipe"].analyze(x)


__all__ = ["Results", "analyze", "analyze_with", "to_bgr", "to_dataframe"]
