"""The Python API: :func:`analyze` anything that holds faces, results as pandas DataFrames.

::

    import fertk

    res = fertk.analyze("photo.jpg")          # one image: a FrameResult
    res.faces[0].label, res.faces[0].confidence
    df = fertk.analyze(["a.jpg", "b.jpg"]).to_dataframe()   # several: Results (a list)
    df = fertk.analyze("clip.mp4").to_dataframe(landmarks=True)
    fertk.plot_timeline(fertk.analyze("clip.mp4"), path="clip.png")
    fertk.top_emotion("photo.jpg")            # ("happy", 0.91) of the largest face, or None
    fertk.classify([crop1, crop2])            # faces cropped already: one FaceResult each

:func:`analyze` (and :meth:`fertk.Pipeline.analyze`) take a path (image, video, folder or
glob), a list of those, a numpy array (BGR, BGRA or gray, any numeric dtype) or a PIL image.
A dict ``{name: input}`` names its inputs. One image gives one
:class:`~fertk.io.outputs.FrameResult`; anything else gives :class:`Results`, a list of
them; results of a list or dict keep their input's index or name (``FrameResult.input``, the
``input`` column of ``to_dataframe()``). Both have ``.to_dataframe()``, which needs pandas
(``pip install 'fertk[pandas]'``).

This module is the facade: :func:`analyze`, :class:`Results` and :func:`analyze_with` live
with :class:`fertk.pipeline.Pipeline` (data flows one way: ``api → pipeline → io``), the
tables in :mod:`fertk.io.results`. ``import fertk`` imports neither torch nor pandas; this
module imports the pipeline (and torch when a pipeline is built).
"""

from __future__ import annotations

from fertk.io.images import to_bgr  # re-exported
from fertk.io.results import FrameResult, to_dataframe  # re-exported
from fertk.pipeline import (  # re-exported: they live with Pipeline
    NoFaceError,
    Results,
    analyze,
    analyze_with,
    classify,
    top_emotion,
)

__all__ = ["FrameResult", "NoFaceError", "Results", "analyze", "analyze_with", "classify",
           "to_bgr", "to_dataframe", "top_emotion"]
