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

from fertk.errors import FertkError, MissingDependencyError

NO_FACE = ""


def _by_class(classes: list[str], probs: Any) -> dict[str, float]:
    return {c: float(p) for c, p in zip(classes, np.asarray(probs).ravel(), strict=False)}


@dataclass
class FaceResult:
    """One face in one frame: where it is, its track and the expression probabilities.

    ``probs`` is the final output (the temporal head's when there is one, over the latest
    frames of the track), ``frame_probs`` the frame model's own output for this frame.
    :attr:`emotions` reads ``probs`` by class name (``{"happy": 0.91, ...}``); ``classes``
    is filled in by the :class:`FrameResult` that holds the face.
    """

    box: tuple[float, float, float, float]
    probs: np.ndarray
    label: str
    track: int | None = None
    score: float = 1.0
    frame_probs: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    scheme: str | None = None
    classes: list[str] | None = None
    #: the frame model's penultimate-layer vector of this face (``Pipeline(embeddings=True)``,
    #: ``fertk run --embeddings``), else None
    embedding: np.ndarray | None = None

    @property
    def confidence(self) -> float:
        return float(np.max(self.probs)) if len(self.probs) else 0.0

    @property
    def emotions(self) -> dict[str, float]:
        """The probability of each class by name, in the model's class order:
        ``{"anger": 0.01, ..., "happy": 0.91, ...}`` (like fer's and deepface's ``emotion``)."""
        return _by_class(self._class_names(), self.probs)

    @property
    def frame_emotions(self) -> dict[str, float] | None:
        """:attr:`emotions` of the frame model alone (``None`` without a temporal head or
        smoothing, where it equals :attr:`emotions`)."""
        return None if self.frame_probs is None else _by_class(self._class_names(), self.frame_probs)

    @property
    def x(self) -> float:
        return float(self.box[0])

    @property
    def y(self) -> float:
        return float(self.box[1])

    @property
    def w(self) -> float:
        """Box width (``x2 - x1``)."""
        return float(self.box[2]) - float(self.box[0])

    @property
    def h(self) -> float:
        """Box height (``y2 - y1``)."""
        return float(self.box[3]) - float(self.box[1])

    def _class_names(self) -> list[str]:
        if self.classes is None:
            raise FertkError("this FaceResult does not know its class names (pass classes=...)")
        return list(self.classes)

    def to_dict(self, landmarks: bool = False) -> dict[str, Any]:
        """Plain JSON-ready data: ``box`` [x1, y1, x2, y2] and ``x, y, w, h``, ``track``,
        ``score`` (the detector's), ``label``, ``confidence``, ``emotions`` (class → probability),
        with a temporal head or smoothing ``frame_label``/``frame_emotions``; ``landmarks``
        adds ``scheme`` and the points."""
        names = self._class_names()
        d: dict[str, Any] = {
            "box": [round(float(v), 1) for v in self.box],
            "x": round(self.x, 1), "y": round(self.y, 1), "w": round(self.w, 1), "h": round(self.h, 1),
            "track": self.track,
            "score": round(float(self.score), 4),
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "emotions": {c: round(p, 5) for c, p in self.emotions.items()},
        }
        if self.frame_probs is not None:
            d["frame_label"] = self.frame_label(names)
            d["frame_emotions"] = {c: round(float(p), 5) for c, p in zip(names, self.frame_probs,
                                                                          strict=False)}
        if landmarks and self.landmarks is not None:
            d["scheme"] = self.scheme
            d["landmarks"] = np.round(np.asarray(self.landmarks, dtype=float), 1).tolist()
        if self.embedding is not None:
            d["embedding"] = embedding_list(self.embedding)
        return d

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
    ``None`` for unrelated stills; ``input`` the index (or name) of the input it came from
    when :func:`fertk.analyze` was given a list (or a dict).
    """

    source: str
    frame: int
    time: float | None
    faces: list[FaceResult]
    classes: list[str]
    size: tuple[int, int] = (0, 0)
    detected: bool = True
    duration: float | None = None
    input: int | str | None = None  # index (or name) of the input in an analyze([...]) call

    def __post_init__(self) -> None:
        for f in self.faces:  # each face reads its probabilities by class name
            if isinstance(f, FaceResult) and f.classes is None:
                f.classes = list(self.classes)

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
            if f.embedding is not None:
                d["embedding"] = embedding_list(f.embedding)
            faces.append(d)
        return {
            "source": self.source,
            "frame": self.frame,
            "time": None if self.time is None else round(float(self.time), 4),
            "detected": self.detected,
            "faces": faces,
        }


def embedding_list(vector: np.ndarray) -> list[float]:
    """An embedding as JSON numbers (6 significant digits)."""
    return [float(f"{v:.6g}") for v in np.asarray(vector, dtype=np.float32).ravel()]


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


def to_dataframe(records: Iterable[FrameResult], landmarks: bool = False,
                 classes: list[str] | None = None):
    """A pandas DataFrame with one row per face and frame (a frame without a face: one row
    with ``faces`` = 0 and empty face columns). Its columns do not depend on what was found:
    a result without faces, or none at all, has the same ones (``classes``: the model's class
    names, needed for the ``p_<class>`` columns when there is no result).

    Columns (as in the CSV of ``fertk run``, docs/run.md, plus ``input`` and ``x y w h``):
    [``input``: the index or name of each result's input, when :func:`fertk.analyze` was
    given a list or dict], ``source``, ``frame``, ``time`` (s;
    NaN for unrelated stills), ``detected`` (the detector ran on this frame, else the box was
    tracked), ``faces``, ``face``, ``track`` (nullable integer), ``x1 y1 x2 y2``, the same
    box as ``x y w h`` (top-left corner, width, height), ``score``
    (the detector's), ``label``, ``confidence`` (the expression model's probability of
    ``label``), ``p_<class>``, [``frame_label``, ``frame_p_<class>``], with ``landmarks``
    ``x_0..x_N``, ``y_0..y_N``.
    """
    pd = _pandas()
    records = list(records)
    classes = list(classes) if classes is not None else list(records[0].classes) if records else []
    has_frame = True  # empty where the frame model's probabilities are not kept: one schema
    n_points = 0
    if landmarks:
        n_points = max((len(np.asarray(f.landmarks).reshape(-1, 2)) for r in records
                        for f in r.faces if f.landmarks is not None), default=0)
    cols = columns(classes, landmarks=n_points, frame_label=has_frame)
    k = cols.index("y2") + 1
    cols[k:k] = ["x", "y", "w", "h"]
    inputs = [r.input for r in records]
    named = any(i is not None for i in inputs)
    if named:
        cols.insert(0, "input")
    table = []
    for r in records:
        for row in rows(r, landmarks=n_points, frame_label=has_frame):
            if "x1" in row:
                row.update(x=row["x1"], y=row["y1"], w=row["x2"] - row["x1"], h=row["y2"] - row["y1"])
            table.append({"input": r.input, **row} if named else row)
    df = pd.DataFrame(table, columns=cols)
    types: dict[str, Any] = {"source": "string", "label": "string", "frame": "int64",
                             "time": "float64", "detected": "bool", "faces": "int64",
                             "face": "Int64", "track": "Int64"}
    if named:
        ints = all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in inputs)
        types["input"] = "Int64" if ints else "string"
    if has_frame:
        types["frame_label"] = "string"
    for c in cols:
        types.setdefault(c, "float64")
    return df.astype(types)


__all__ = ["NO_FACE", "FaceResult", "FrameResult", "columns", "rows", "to_dataframe"]
