"""Per-frame results of ``fertk run`` and the files written from them.

:class:`FrameResult` / :class:`FaceResult` are what :meth:`fertk.pipeline.Pipeline.run` yields.
:class:`RunOutputs` writes every file of one source: a CSV with one row per frame and face
(frames without a face get one row with ``faces`` = 0), a JSONL with one object per frame,
an annotated video (boxes, labels, probability bars) or, for still images, one annotated
image each, a per-track summary (:class:`TrackSummary`: dominant expression, time spent in
each), a timeline PNG of the probabilities over time and the summary JSON. Which ones is
:class:`OutputOptions`; :meth:`RunOutputs.for_job` reads everything else from the
pipeline's :class:`~fertk.io.job.Job`. Drawing is :mod:`fertk.draw`.

Every file is written under a temporary name beside its final one
(:class:`fertk.fsutil.Staged`) and renamed into place when the source is complete, the
summary JSON last: a reader sees a source's files whole or not at all. On Ctrl-C or SIGTERM
(:mod:`fertk.signals`) :meth:`RunOutputs.close` still finishes them (valid files of the
frames done, ``"interrupted": true`` in the summary); on an error (a full disk)
:meth:`RunOutputs.abort` removes them, leaving no half-written file under a final name.

Memory is constant in the length of the video: per-track accumulators are O(classes), and
the timeline keeps at most ``max_points`` points per track, halving its resolution when full.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fertk.fsutil import Staged, to_json
from fertk.io.results import FaceResult, FrameResult, columns, rows  # re-exported

if TYPE_CHECKING:  # pragma: no cover
    from fertk.io.job import Job


@dataclass
class OutputOptions:
    """Which files a run writes (see :class:`RunOutputs`)."""

    csv: bool = True
    jsonl: bool = True
    annotate: bool = True
    timeline: bool = True
    landmarks: bool = False
    max_frames: int | None = None
    #: the collection's results table (``OUT/results/``, Parquet: :mod:`fertk.io.table`)
    table: bool = True
    #: more keys for the summary JSON (``fertk run``: the digest of its settings, for resuming)
    summary_extra: dict[str, Any] | None = None


# -- tabular writers ---------------------------------------------------------------------------
class _Flushing:
    def __init__(self, path: Path, flush_interval: float):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
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
            try:
                self._fh.flush()
                try:
                    os.fsync(self._fh.fileno())
                except OSError as exc:  # a pipe cannot be synced; a full disk must be told
                    if exc.errno not in (errno.EINVAL, errno.ESPIPE):
                        raise
            finally:
                with contextlib.suppress(OSError):
                    self._fh.close()


def _cell(key: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        if key == "time":
            return f"{value:.4f}"
        if key in ("score", "confidence"):
            return f"{value:.4f}"
        if key.startswith(("p_", "frame_p_")):
            return f"{value:.5f}"
        return f"{value:.1f}"
    return str(value)


class CsvWriter(_Flushing):
    """One row per frame and face; a frame without a face gets one row with ``faces`` = 0.

    Columns: see :func:`columns`. ``landmarks``: ``True`` for 68 points, or a point count.
    """

    def __init__(self, path: str | os.PathLike, classes: list[str], *,
                 landmarks: bool | int = False, frame_label: bool = False,
                 flush_interval: float = 1.0):
        super().__init__(Path(path), flush_interval)
        self.classes = list(classes)
        self.landmarks = 68 if landmarks is True else int(landmarks or 0)
        self.frame_label = frame_label
        self.columns = columns(self.classes, landmarks=self.landmarks, frame_label=frame_label)
        self._csv = csv.writer(self._fh)
        self._csv.writerow(self.columns)
        self.rows = 0

    def write(self, rec: FrameResult) -> None:
        for row in rows(rec, landmarks=self.landmarks, frame_label=self.frame_label):
            self._csv.writerow([_cell(c, row.get(c)) for c in self.columns])
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
            "start": _round(self.first),
            "end": _round(self.last),
            "seconds": round(total, 3),
            "dominant": self.dominant,
            "time_in": {c: round(float(s), 3) for c, s in zip(self.classes, self.seconds, strict=False)},
            "frames_in": {c: int(n) for c, n in zip(self.classes, self.counts, strict=False)},
            "mean_probs": {c: round(float(p) / max(self.frames, 1), 4)
                           for c, p in zip(self.classes, self.prob_sum, strict=False)},
        }


def _round(t: float | None) -> float | None:
    return None if t is None else round(float(t), 3)


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

    @property
    def stills(self) -> bool:
        """Unrelated still images (no time): counts of faces, not seconds."""
        return bool(self.tracks) and all(t.first is None for t in self.tracks.values())

    def write_csv(self, path: str | os.PathLike) -> Path:
        """Videos: one row per track, ``s_<class>`` seconds in each expression; stills: one
        row per image, ``n_<class>`` faces showing each expression."""
        path = Path(path)
        if self.stills:
            cols = ["source", "faces", "dominant", *[f"n_{c}" for c in self.classes]]
            table = [[r["source"], r["frames"], r["dominant"],
                      *[r["frames_in"][c] for c in self.classes]] for r in self.rows()]
        else:
            cols = ["source", "track", "frames", "start", "end", "seconds", "dominant",
                    *[f"s_{c}" for c in self.classes]]
            table = [[r["source"], r["track"], r["frames"], _round(r["start"]), _round(r["end"]),
                      r["seconds"], r["dominant"], *[r["time_in"][c] for c in self.classes]]
                     for r in self.rows()]
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            w.writerows(table)
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

    def save_png(self, path: str | os.PathLike, title: str = "",
                 max_tracks: int | None = None) -> Path:
        """The plot of :func:`fertk.plots.plot_timeline` as a PNG
        (:func:`fertk.draw.timeline_figure`)."""
        from fertk.draw import MAX_TRACKS, timeline_figure

        timeline_figure(self.series, self.classes, title=title, path=path,
                        max_tracks=max_tracks or MAX_TRACKS)
        return Path(path)


# -- drawing ---------------------------------------------------------------------------------
def annotate(image: np.ndarray, rec: FrameResult, *, landmarks: bool = True, bars: bool = True
             ) -> np.ndarray:
    """A copy of ``image`` with each face's box, track, label and probability bars drawn
    (:func:`fertk.draw.draw_results`, as :func:`fertk.plots.plot_faces`)."""
    from fertk.draw import draw_results

    return draw_results(image, rec, landmarks=landmarks, bars=bars)


def _check_video(path: Path, frames: int) -> None:
    """The encoder reports no write error (a full disk): check that the closed video opens
    and holds frames (its index, written last, is there); an ``OSError`` otherwise."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()
    if frames and count <= 0:
        raise OSError(errno.EIO, f"the annotated video of {frames} frames cannot be read back "
                      "(a full disk?)")


# -- one source's outputs ----------------------------------------------------------------------
class RunOutputs:
    """All files of one source, written as results arrive; a context manager.

    ``out_dir/<name>.csv``, ``.jsonl``, ``.tracks.csv``, ``.summary.json`` and optionally
    ``.annotated.mp4``, ``.annotated/<still>.jpg`` (``stills``: one annotated image per
    still, named by ``still_name(path)``) and ``.timeline.png``. ``close()`` finalises
    everything and returns the summary dict; it runs on Ctrl-C and on exceptions too.
    """

    @classmethod
    def for_job(cls, job: Job, out_dir: str | os.PathLike,
                options: OutputOptions | None = None) -> RunOutputs:
        """The files ``options`` ask for, as the pipeline's ``job`` decided them: stills get
        annotated images and no video or timeline, the video runs at the job's frame rate,
        the frame label columns are there when the job's results carry frame probabilities."""
        options = options or OutputOptions()
        return cls(out_dir, job.item.name, job.classes, csv_file=options.csv, jsonl=options.jsonl,
                   video=options.annotate and not job.still,
                   stills=options.annotate and job.still, still_name=job.item.still_name,
                   timeline=options.timeline and not job.still, landmarks=options.landmarks,
                   frame_label=job.frame_probs, fps=job.fps, extra=options.summary_extra,
                   table=options.table)

    def __init__(self, out_dir: str | os.PathLike, name: str, classes: list[str], *,
                 csv_file: bool = True, jsonl: bool = True, video: bool = False,
                 timeline: bool = False, landmarks: bool = False, frame_label: bool = False,
                 fps: float | None = None, flush_interval: float = 1.0, stills: bool = False,
                 still_name: Callable[[str], str] | None = None,
                 extra: dict[str, Any] | None = None, table: bool = False):
        from fertk.fsutil import make_dir

        self.out_dir = make_dir(out_dir, "--out")
        self.name = name
        self.classes = list(classes)
        self.fps = fps
        self.paths: dict[str, Path] = {}
        self.extra = dict(extra or {})
        self.staged = Staged()
        self.csv = self.jsonl = self.video = self.table = None
        self.closed = False
        if csv_file:
            self.csv = CsvWriter(self._staged("csv", ".csv"), classes, landmarks=landmarks,
                                 frame_label=frame_label, flush_interval=flush_interval)
        if jsonl:
            self.jsonl = JsonlWriter(self._staged("jsonl", ".jsonl"), landmarks=landmarks,
                                     flush_interval=flush_interval)
        if table:
            from fertk.io.table import FACES_DIR, FacesTableWriter

            self.table = FacesTableWriter(
                self.staged.path(self._table_path("table", FACES_DIR)), name, self.classes,
                landmarks=68 if landmarks is True else int(landmarks or 0))
        self._want_video = video
        self.landmarks = landmarks
        self.summary = TrackSummary(classes)
        self.timeline = Timeline(classes) if timeline else None
        self.stills_dir = None
        if stills:
            self.stills_dir = self.out_dir / f"{name}.annotated"
            self.stills_dir.mkdir(parents=True, exist_ok=True)
            self.paths["annotated"] = self.stills_dir
        self.still_name = still_name or (lambda path: Path(path).stem)

    def _path(self, key: str, suffix: str) -> Path:
        p = self.out_dir / f"{self.name}{suffix}"
        self.paths[key] = p
        return p

    def _table_path(self, key: str, folder: Path) -> Path:
        p = self.out_dir / folder / f"{self.name}.parquet"
        self.paths[key] = p
        return p

    def _staged(self, key: str, suffix: str) -> Path:
        """The temporary name to write output ``key`` under until :meth:`close`."""
        return self.staged.path(self._path(key, suffix))

    def write(self, rec: FrameResult, image: np.ndarray | None = None) -> None:
        """One frame into every output, whole: a signal (Ctrl-C, SIGTERM) arriving meanwhile
        is raised after the last one (:func:`fertk.signals.deferred`), so the CSV, the JSONL,
        the table and the annotated video always hold the same frames."""
        from fertk.signals import deferred

        video = image is not None and self._want_video
        drawn = annotate(image, rec, landmarks=self.landmarks) if video else None
        with deferred():
            if self.csv is not None:
                self.csv.write(rec)
            if self.jsonl is not None:
                self.jsonl.write(rec)
            if self.table is not None:
                self.table.write(rec)
            self.summary.add(rec)
            if self.timeline is not None:
                self.timeline.add(rec)
            if drawn is not None:
                if self.video is None:
                    from fertk.io.video import VideoWriter

                    self.video = VideoWriter(self._staged("video", ".annotated.mp4"),
                                             fps=self.fps or 30.0)
                self.video.write(drawn)
        if self.stills_dir is not None and image is not None:
            from fertk.io.images import write_image

            write_image(self.stills_dir / f"{self.still_name(rec.source)}.jpg", annotate(image, rec))

    def close(self, stats: dict[str, Any] | None = None) -> dict[str, Any]:
        """Finish every file and rename them into place (the summary last); returns the
        summary. On an error nothing is left under a final name (:meth:`abort`)."""
        if self.closed:
            return self.result
        self.closed = True
        try:
            self._finish(stats)
        except BaseException:
            self._discard()
            raise
        return self.result

    def abort(self) -> None:
        """Stop without results: close the files and remove them (nothing under a final name)."""
        if not self.closed:
            self.closed = True
            self._discard()

    def _discard(self) -> None:
        for w in (self.csv, self.jsonl, self.video, self.table):
            if w is not None:
                with contextlib.suppress(Exception):
                    w.close()
        self.staged.discard()

    def _finish(self, stats: dict[str, Any] | None) -> None:
        for w in (self.csv, self.jsonl, self.video, self.table):
            if w is not None:
                w.close()
        if self.video is not None:
            _check_video(self.video.path, self.video.frames)
        if self.timeline is not None:
            self.timeline.save_png(self._staged("timeline", ".timeline.png"), title=self.name)
        self.summary.write_csv(self._staged("tracks", ".tracks.csv"))
        if self.table is not None:
            from fertk.io.table import TRACKS_DIR, write_tracks

            write_tracks(self.staged.path(self._table_path("tracks_table", TRACKS_DIR)),
                         self.name, self.classes, self.summary.rows())
        self.result = {
            "name": self.name,
            "frames": self.summary.frames,
            "frames_without_face": self.summary.frames_without_face,
            "tracks": self.summary.rows(),
            **(stats or {}),
            **({"video_codec": self.video.codec} if self.video is not None else {}),
            **self.extra,
            "files": {k: str(v) for k, v in self.paths.items()},
        }
        path = self._path("summary", ".summary.json")
        self.result["files"]["summary"] = str(path)
        tmp = self.staged.path(path)
        tmp.write_text(to_json(self.result) + "\n", encoding="utf-8")
        self.staged.commit(last=path)

    def __enter__(self) -> RunOutputs:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = [
    "CsvWriter",
    "FaceResult",
    "FrameResult",
    "JsonlWriter",
    "OutputOptions",
    "RunOutputs",
    "Timeline",
    "TrackStats",
    "TrackSummary",
    "annotate",
    "columns",
    "rows",
]
