"""Per-frame results: what :meth:`fertk.pipeline.Pipeline.run` yields and how they read as a
table (the columns of the CSV of ``fertk run`` and of :func:`to_dataframe`).

:class:`FrameResult` / :class:`FaceResult`; :func:`columns` and :func:`rows` (shared by the CSV
writer of :mod:`fertk.io.outputs` and :func:`to_dataframe`, which needs pandas).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fertk.errors import MissingDependencyError

NO_FACE = ""


@dataclass
class FaceResult:
    """One face in one frame: where it is, its track and the expression probabilities.

    ``probs`` is the final output (the temporal head's when there is one, over the latest
    frames of the track), ``frame_probs`` the frame model's own output for this frame.
    """

    box: tuple[float, float, float, float]
    probs: np.ndarray
    label: str
    track: int | None = None
    score: float = 1.0
    frame_probs: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    scheme: str | None = None

    @property
    def confidence(self) -> float:
        return float(np.max(self.probs)) if len(self.probs) else 0.0

    def frame_label(self, classes: list[str]) -> str | None:
        if self.frame_probs is None:
            return None
        return classes[int(np.argmax(self.frame_probs))]

    def __repr__(self) -> str:
        box = ", ".join(f"{v:.0f}" for v in self.box)
        n = 0 if self.landmarks is None else len(np.asarray(self.landmarks).reshape(-1, 2))
        track = "" if self.track is None else f"track={self.track}, "
        marks = f", {n} landmarks" if n else ""
        return (f"FaceResult({track}label={self.label!r}, confidence={self.confidence:.2f}, "
                f"box=({box}), score={self.score:.2f}{marks})")


@dataclass
class FrameResult:
    """Everything found in one frame (``faces`` empty when no face was found).

    ``detected`` is true when the detector ran on this frame (otherwise faces were moved by
    landmark tracking); ``duration`` the time this frame stands for (stride / fps) or
    ``None`` for unrelated stills.
    """

    source: str
    frame: int
    time: float | None
    faces: list[FaceResult]
    classes: list[str]
    size: tuple[int, int] = (0, 0)
    detected: bool = True
    duration: float | None = None

    def __repr__(self) -> str:
        when = "" if self.time is None else f", time={self.time:.3f}"
        faces = ", ".join(f"{f.label} {f.confidence:.2f}" for f in self.faces[:4])
        more = f", ... {len(self.faces) - 4} more" if len(self.faces) > 4 else ""
        return (f"FrameResult(source={self.source!r}, frame={self.frame}{when}, "
                f"{len(self.faces)} face(s): [{faces}{more}])")

    def to_dataframe(self, landmarks: bool = False):
        """This frame's faces as a pandas DataFrame (see :func:`to_dataframe`)."""
        return to_dataframe([self], landmarks=landmarks)

    def to_dict(self, landmarks: bool = False) -> dict[str, Any]:
        faces = []
        for f in self.faces:
            d: dict[str, Any] = {
                "track": f.track,
                "box": [round(float(v), 1) for v in f.box],
                "score": round(float(f.score), 4),
                "label": f.label,
                "confidence": round(f.confidence, 4),
                "probs": {c: round(float(p), 5) for c, p in zip(self.classes, f.probs, strict=False)},
            }
            if f.frame_probs is not None:
                d["frame_label"] = f.frame_label(self.classes)
                d["frame_probs"] = {c: round(float(p), 5) for c, p in zip(self.classes, f.frame_probs, strict=False)}
            if landmarks and f.landmarks is not None:
                d["scheme"] = f.scheme
                d["landmarks"] = np.round(np.asarray(f.landmarks, dtype=float), 1).tolist()
            faces.append(d)
        return {
            "source": self.source,
            "frame": self.frame,
            "time": None if self.time is None else round(float(self.time), 4),
            "detected": self.detected,
            "faces": faces,
        }


def columns(classes: list[str], *, landmarks: int = 0, frame_label: bool = False) -> list[str]:
    """The columns of the per-frame CSV and of ``to_dataframe`` (docs/run.md describes them).

    ``score`` is the face detector's confidence that the box holds a face (kept from the last
    detection on frames where ``detected`` is 0 and the box was moved by tracking);
    ``confidence`` is the expression model's probability of ``label``. ``landmarks`` points
    add the columns ``x_0..x_{n-1}``, ``y_0..y_{n-1}``.
    """
    cols = ["source", "frame", "time", "detected", "faces", "face", "track", "x1", "y1", "x2",
            "y2", "score", "label", "confidence", *[f"p_{c}" for c in classes]]
    if frame_label:
        cols += ["frame_label", *[f"frame_p_{c}" for c in classes]]
    cols += [f"x_{i}" for i in range(landmarks)] + [f"y_{i}" for i in range(landmarks)]
    return cols


def rows(rec: FrameResult, *, landmarks: int = 0, frame_label: bool = False
         ) -> list[dict[str, Any]]:
    """The rows of one frame (a frame without a face: one row with ``faces`` = 0), raw values."""
    head = {"source": rec.source, "frame": rec.frame, "time": rec.time,
            "detected": bool(rec.detected), "faces": len(rec.faces)}
    if not rec.faces:
        return [{**head, "label": NO_FACE}]
    out = []
    for i, f in enumerate(rec.faces):
        row = {**head, "face": i, "track": f.track, "x1": float(f.box[0]), "y1": float(f.box[1]),
               "x2": float(f.box[2]), "y2": float(f.box[3]), "score": float(f.score),
               "label": f.label, "confidence": f.confidence}
        row.update({f"p_{c}": float(p) for c, p in zip(rec.classes, f.probs, strict=False)})
        if frame_label and f.frame_probs is not None:
            row["frame_label"] = f.frame_label(rec.classes)
            row.update({f"frame_p_{c}": float(p)
                        for c, p in zip(rec.classes, f.frame_probs, strict=False)})
        if landmarks and f.landmarks is not None:
            pts = np.asarray(f.landmarks, dtype=float).reshape(-1, 2)[:landmarks]
            row.update({f"x_{k}": float(x) for k, x in enumerate(pts[:, 0])})
            row.update({f"y_{k}": float(y) for k, y in enumerate(pts[:, 1])})
        out.append(row)
    return out


def _pandas():
    try:
        import pandas as pd
    except ImportError:  # pandas is an optional extra
        raise MissingDependencyError("to_dataframe", "pandas", "fertk[pandas]") from None
    return pd


def to_dataframe(records: Iterable[FrameResult], landmarks: bool = False):
    """A pandas DataFrame with one row per face and frame (a frame without a face: one row
    with ``faces`` = 0 and empty face columns).

    Columns (as in the CSV of ``fertk run``, docs/run.md): ``source``, ``frame``, ``time`` (s;
    NaN for unrelated stills), ``detected`` (the detector ran on this frame, else the box was
    tracked), ``faces``, ``face``, ``track`` (nullable integer), ``x1 y1 x2 y2``, ``score``
    (the detector's), ``label``, ``confidence`` (the expression model's probability of
    ``label``), ``p_<class>``, [``frame_label``, ``frame_p_<class>``], with ``landmarks``
    ``x_0..x_N``, ``y_0..y_N``.
    """
    pd = _pandas()
    records = list(records)
    classes = list(records[0].classes) if records else []
    has_frame = any(f.frame_probs is not None for r in records for f in r.faces)
    n_points = 0
    if landmarks:
        n_points = max((len(np.asarray(f.landmarks).reshape(-1, 2)) for r in records
                        for f in r.faces if f.landmarks is not None), default=0)
    cols = columns(classes, landmarks=n_points, frame_label=has_frame)
    table = [row for r in records for row in rows(r, landmarks=n_points, frame_label=has_frame)]
    df = pd.DataFrame(table, columns=cols)
    types: dict[str, Any] = {"source": "string", "label": "string", "frame": "int64",
                             "time": "float64", "detected": "bool", "faces": "int64",
                             "face": "Int64", "track": "Int64"}
    if has_frame:
        types["frame_label"] = "string"
    for c in cols:
        types.setdefault(c, "float64")
    return df.astype(types)


__all__ = ["NO_FACE", "FaceResult", "FrameResult", "columns", "rows", "to_dataframe"]
