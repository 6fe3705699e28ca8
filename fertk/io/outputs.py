"""Per-frame results of ``fertk run`` and the files written from them.

:class:`FrameResult` / :class:`FaceResult` are what :meth:`fertk.pipeline.Pipeline.run` yields.
:class:`RunOutputs` writes, for one source: a CSV with one row per frame and face (frames
without a face get one row with ``faces`` = 0), a JSONL with one object per frame, an
optional annotated video (boxes, labels, probability bars), a per-track summary
(:class:`TrackSummary`: dominant expression, time spent in each) and a timeline PNG of the
probabilities over time. Files are flushed at least every ``flush_interval`` seconds and
closed on Ctrl-C or an exception, so what was written stays valid.

Memory is constant in the length of the video: per-track accumulators are O(classes), and
the timeline keeps at most ``max_points`` points per track, halving its resolution when full.
"""

from __future__ import annotations

import csv
import json
import os
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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


# -- tabular writers ---------------------------------------------------------------------------
class _Flushing:
    def __init__(self, path: Path, flush_interval: float):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "w", encoding="utf-8", newline="")
        self.flush_interval = float(flush_interval)
        self._last = _time.monotonic()

    def _maybe_flush(self) -> None:
        now = _time.monotonic()
        if now - self._last >= self.flush_interval:
            self.flush()
            self._last = now

    def flush(self) -> None:
        if not self._fh.closed:
            self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            try:
                os.fsync(self._fh.fileno())
            except OSError:  # pragma: no cover - e.g. a pipe
                pass
            self._fh.close()


class CsvWriter(_Flushing):
    """One row per frame and face; a frame without a face gets one row with ``faces`` = 0.

    Columns: source, frame, time, faces (found in the frame), face (index), track, x1, y1,
    x2, y2, score, label, confidence, ``p_<class>``…, [frame_label, ``frame_p_<class>``…: the
    frame model's own output when ``p_`` is smoothed or a temporal head's], [landmarks as JSON].
    """

    def __init__(self, path: str | os.PathLike, classes: list[str], *, landmarks: bool = False,
                 frame_label: bool = False, flush_interval: float = 1.0):
        super().__init__(Path(path), flush_interval)
        self.classes = list(classes)
        self.landmarks = landmarks
        self.frame_label = frame_label
        self.columns = ["source", "frame", "time", "faces", "face", "track", "x1", "y1", "x2", "y2",
                        "score", "label", "confidence", *[f"p_{c}" for c in self.classes]]
        if frame_label:
            self.columns += ["frame_label", *[f"frame_p_{c}" for c in self.classes]]
        if landmarks:
            self.columns.append("landmarks")
        self._csv = csv.writer(self._fh)
        self._csv.writerow(self.columns)
        self.rows = 0

    def write(self, rec: FrameResult) -> None:
        t = "" if rec.time is None else f"{rec.time:.4f}"
        head = [rec.source, rec.frame, t, len(rec.faces)]
        if not rec.faces:
            row = head + [""] * (len(self.columns) - len(head))
            row[self.columns.index("label")] = NO_FACE
            self._csv.writerow(row)
            self.rows += 1
        for i, f in enumerate(rec.faces):
            row = head + [i, "" if f.track is None else f.track,
                          *[f"{v:.1f}" for v in f.box], f"{f.score:.4f}", f.label,
                          f"{f.confidence:.4f}", *[f"{p:.5f}" for p in f.probs]]
            if self.frame_label:
                row.append(f.frame_label(self.classes) or "")
                row += [""] * len(self.classes) if f.frame_probs is None else \
                    [f"{p:.5f}" for p in f.frame_probs]
            if self.landmarks:
                row.append("" if f.landmarks is None else
                           json.dumps(np.round(np.asarray(f.landmarks, float), 1).tolist()))
            self._csv.writerow(row)
            self.rows += 1
        self._maybe_flush()


class JsonlWriter(_Flushing):
    """One JSON object per line and frame (see :meth:`FrameResult.to_dict`)."""

    def __init__(self, path: str | os.PathLike, *, landmarks: bool = False,
                 flush_interval: float = 1.0):
        super().__init__(Path(path), flush_interval)
        self.landmarks = landmarks
        self.lines = 0

    def write(self, rec: FrameResult) -> None:
        self._fh.write(json.dumps(rec.to_dict(self.landmarks)) + "\n")
        self.lines += 1
        self._maybe_flush()


# -- summaries ---------------------------------------------------------------------------------
@dataclass
class TrackStats:
    """Accumulated results of one track of one source."""

    source: str
    track: int | None
    classes: list[str]
    frames: int = 0
    first: float | None = None
    last: float | None = None
    seconds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    prob_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        k = len(self.classes)
        self.seconds = np.zeros(k)
        self.counts = np.zeros(k, dtype=np.int64)
        self.prob_sum = np.zeros(k)

    def add(self, face: FaceResult, rec: FrameResult) -> None:
        k = self.classes.index(face.label)
        self.frames += 1
        self.counts[k] += 1
        self.seconds[k] += rec.duration or 0.0
        self.prob_sum += np.asarray(face.probs, dtype=float)
        if rec.time is not None:
            self.first = rec.time if self.first is None else self.first
            self.last = rec.time

    @property
    def dominant(self) -> str:
        return self.classes[int(np.argmax(self.counts))] if self.frames else ""

    def as_dict(self) -> dict[str, Any]:
        total = float(self.seconds.sum())
        return {
            "source": self.source,
            "track": self.track,
            "frames": self.frames,
            "start": self.first,
            "end": self.last,
            "seconds": round(total, 3),
            "dominant": self.dominant,
            "time_in": {c: round(float(s), 3) for c, s in zip(self.classes, self.seconds, strict=False)},
            "frames_in": {c: int(n) for c, n in zip(self.classes, self.counts, strict=False)},
            "mean_probs": {c: round(float(p) / max(self.frames, 1), 4)
                           for c, p in zip(self.classes, self.prob_sum, strict=False)},
        }


class TrackSummary:
    """Per-track dominant expression and time spent in each, plus frame counts."""

    def __init__(self, classes: list[str]):
        self.classes = list(classes)
        self.tracks: dict[tuple[str, int | None], TrackStats] = {}
        self.frames = 0
        self.frames_without_face = 0

    def add(self, rec: FrameResult) -> None:
        self.frames += 1
        if not rec.faces:
            self.frames_without_face += 1
        for face in rec.faces:
            key = (rec.source, face.track)
            stats = self.tracks.get(key)
            if stats is None:
                stats = self.tracks[key] = TrackStats(rec.source, face.track, self.classes)
            stats.add(face, rec)

    def rows(self) -> list[dict[str, Any]]:
        return [t.as_dict() for t in sorted(self.tracks.values(),
                                            key=lambda t: (t.source, t.track or 0))]

    def write_csv(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        cols = ["source", "track", "frames", "start", "end", "seconds", "dominant",
                *[f"s_{c}" for c in self.classes]]
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            for r in self.rows():
                w.writerow([r["source"], r["track"], r["frames"], r["start"], r["end"], r["seconds"],
                            r["dominant"], *[r["time_in"][c] for c in self.classes]])
        return path


class Timeline:
    """Bounded per-track series of (time, probabilities) for the timeline plot."""

    def __init__(self, classes: list[str], max_points: int = 2000):
        self.classes = list(classes)
        self.max_points = int(max_points)
        self.series: dict[int | None, list[tuple[float, np.ndarray]]] = {}
        self._every: dict[int | None, int] = {}
        self._seen: dict[int | None, int] = {}

    def add(self, rec: FrameResult) -> None:
        t = float(rec.time) if rec.time is not None else float(rec.frame)
        for f in rec.faces:
            key = f.track
            n = self._seen.get(key, 0)
            self._seen[key] = n + 1
            every = self._every.setdefault(key, 1)
            if n % every:
                continue
            pts = self.series.setdefault(key, [])
            pts.append((t, np.asarray(f.probs, dtype=np.float32)))
            if len(pts) >= self.max_points:  # keep every other point, sample half as often
                self.series[key] = pts[::2]
                self._every[key] = every * 2

    def save_png(self, path: str | os.PathLike, title: str = "", max_tracks: int = 6) -> Path:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        tracks = sorted(self.series, key=lambda k: -len(self.series[k]))[:max_tracks]
        rows = max(1, len(tracks))
        fig = Figure(figsize=(10, 2.4 * rows + 0.6), dpi=90)
        FigureCanvasAgg(fig)
        axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
        cmap = ["#d62728", "#8c564b", "#2ca02c", "#9467bd", "#ff7f0e", "#1f77b4", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"]
        if not tracks:
            axes[0].text(0.5, 0.5, "no face found", ha="center", va="center")
            axes[0].set_axis_off()
        for ax, key in zip(axes, tracks, strict=False):
            pts = self.series[key]
            t = np.array([p[0] for p in pts])
            probs = np.stack([p[1] for p in pts])
            for k, name in enumerate(self.classes):
                ax.plot(t, probs[:, k], label=name, color=cmap[k % len(cmap)], lw=1.2)
            ax.set_ylim(-0.02, 1.02)
            ax.set_ylabel(f"track {key}" if key is not None else "face")
            ax.grid(alpha=0.3)
        axes[0].legend(loc="upper right", ncol=min(len(self.classes), 8), fontsize=7)
        axes[-1].set_xlabel("time (s)")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(str(path))
        return path


# -- drawing -----------------------------------------------------------------------------------
_COLORS = [(80, 200, 80), (60, 140, 255), (255, 160, 60), (200, 80, 220), (40, 220, 220),
           (220, 220, 60), (120, 120, 255)]


def annotate(image: np.ndarray, rec: FrameResult, *, landmarks: bool = True, bars: bool = True
             ) -> np.ndarray:
    """A copy of ``image`` with each face's box, track, label and probability bars drawn."""
    import cv2

    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    h, w = out.shape[:2]
    scale = max(0.4, min(w, h) / 900)
    for f in rec.faces:
        color = _COLORS[(f.track or 0) % len(_COLORS)]
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, max(1, int(2 * scale)))
        tag = f"#{f.track} " if f.track is not None else ""
        text = f"{tag}{f.label} {f.confidence:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale * 1.5, 1)
        ty = max(th + 4, y1 - 4)
        cv2.rectangle(out, (x1, ty - th - 4), (x1 + tw + 4, ty + base - 2), color, -1)
        cv2.putText(out, text, (x1 + 2, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale * 1.5,
                    (0, 0, 0), 1, cv2.LINE_AA)
        if landmarks and f.landmarks is not None:
            for x, y in np.asarray(f.landmarks).reshape(-1, 2)[:200]:
                cv2.circle(out, (int(x), int(y)), 1, color, -1)
        if bars:
            bh = max(8, int(12 * scale))
            bw = max(60, int(90 * scale))
            bx = x2 + 6 if x2 + 6 + bw + 60 < w else max(0, x1 - bw - 70)
            for k, (name, p) in enumerate(zip(rec.classes, f.probs, strict=False)):
                by = y1 + k * (bh + 3)
                if by + bh >= h:
                    break
                cv2.rectangle(out, (bx, by), (bx + bw, by + bh), (50, 50, 50), -1)
                cv2.rectangle(out, (bx, by), (bx + int(bw * float(p)), by + bh), color, -1)
                cv2.putText(out, name[:8], (bx + bw + 4, by + bh - 1), cv2.FONT_HERSHEY_SIMPLEX,
                            0.35 * scale * 1.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


# -- one source's outputs ----------------------------------------------------------------------
class RunOutputs:
    """All files of one source, written as results arrive; a context manager.

    ``out_dir/<name>.csv``, ``.jsonl``, ``.tracks.csv``, ``.summary.json`` and optionally
    ``.annotated.mp4`` and ``.timeline.png``. ``close()`` finalises everything and returns
    the summary dict; it runs on Ctrl-C and on exceptions too.
    """

    def __init__(self, out_dir: str | os.PathLike, name: str, classes: list[str], *,
                 csv_file: bool = True, jsonl: bool = True, video: bool = False,
                 timeline: bool = False, landmarks: bool = False, frame_label: bool = False,
                 fps: float | None = None, flush_interval: float = 1.0):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.classes = list(classes)
        self.fps = fps
        self.paths: dict[str, Path] = {}
        self.csv = self.jsonl = self.video = None
        if csv_file:
            self.csv = CsvWriter(self._path("csv", ".csv"), classes, landmarks=landmarks,
                                 frame_label=frame_label, flush_interval=flush_interval)
        if jsonl:
            self.jsonl = JsonlWriter(self._path("jsonl", ".jsonl"), landmarks=landmarks,
                                     flush_interval=flush_interval)
        self._want_video = video
        self.landmarks = landmarks
        self.summary = TrackSummary(classes)
        self.timeline = Timeline(classes) if timeline else None
        self.closed = False

    def _path(self, key: str, suffix: str) -> Path:
        p = self.out_dir / f"{self.name}{suffix}"
        self.paths[key] = p
        return p

    def write(self, rec: FrameResult, image: np.ndarray | None = None) -> None:
        if self.csv is not None:
            self.csv.write(rec)
        if self.jsonl is not None:
            self.jsonl.write(rec)
        self.summary.add(rec)
        if self.timeline is not None:
            self.timeline.add(rec)
        if self._want_video and image is not None:
            if self.video is None:
                from fertk.io.video import VideoWriter

                self.video = VideoWriter(self._path("video", ".annotated.mp4"), fps=self.fps or 30.0)
            self.video.write(annotate(image, rec, landmarks=self.landmarks))

    def close(self, stats: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.closed:
            return self.result
        self.closed = True
        for w in (self.csv, self.jsonl, self.video):
            if w is not None:
                w.close()
        if self.timeline is not None:
            self.timeline.save_png(self._path("timeline", ".timeline.png"), title=self.name)
        self.summary.write_csv(self._path("tracks", ".tracks.csv"))
        self.result = {
            "name": self.name,
            "frames": self.summary.frames,
            "frames_without_face": self.summary.frames_without_face,
            "tracks": self.summary.rows(),
            **(stats or {}),
            **({"video_codec": self.video.codec} if self.video is not None else {}),
            "files": {k: str(v) for k, v in self.paths.items()},
        }
        path = self._path("summary", ".summary.json")
        self.result["files"]["summary"] = str(path)
        path.write_text(json.dumps(self.result, indent=2, default=str) + "\n", encoding="utf-8")
        return self.result

    def __enter__(self) -> RunOutputs:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def summary_rows(results: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the final summary table (one row per track, or per source)."""
    cols = ["source", "track", "frames", "seconds", "dominant", "time in each (s)"]
    rows: list[list[Any]] = []
    for res in results:
        if res.get("error"):
            rows.append([res["name"], "", "", "", "ERROR", res["error"]])
            continue
        if not res["tracks"]:
            rows.append([res["name"], "-", res["frames"], "", "no face", ""])
        for t in res["tracks"]:
            spent = ", ".join(f"{c} {s:.1f}" for c, s in sorted(t["time_in"].items(),
                                                                  key=lambda kv: -kv[1]) if s > 0)
            if not spent:  # stills: frame counts
                spent = ", ".join(f"{c} {n}" for c, n in t["frames_in"].items() if n)
            src = os.path.basename(t["source"]) if res.get("kind") == "images" else res["name"]
            rows.append([src, t["track"], t["frames"], t["seconds"], t["dominant"], spent])
    return cols, rows


__all__ = [
    "CsvWriter",
    "FaceResult",
    "FrameResult",
    "JsonlWriter",
    "RunOutputs",
    "Timeline",
    "TrackStats",
    "TrackSummary",
    "annotate",
    "summary_rows",
]
