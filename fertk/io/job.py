"""The typed description of one run job and its summary.

:class:`Job` is what :meth:`fertk.pipeline.Pipeline.run_item` decides for one
:class:`~fertk.io.sources.MediaItem` (stills or a clip, its frame rate, whether results carry
per-frame probabilities) together with its results as they come; every later stage reads
these decisions from it (:class:`fertk.io.outputs.RunOutputs` writes the files,
:func:`fertk.jobs.run_job` the summary) instead of working them out again.
:class:`JobSummary` is what :func:`fertk.jobs.run_job` returns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fertk.io.results import FrameResult
from fertk.io.sources import MediaItem
from fertk.io.video import DecodeStats


@dataclass
class Job:
    """One source's run: the pipeline's decisions and its ``(result, frame image)`` pairs.

    ``still``: unrelated still images (no tracks, no time); ``rate``: frames per second of
    the source, decided once (:func:`fertk.io.video.frame_rate`); ``stride``: every how many
    frames one is processed; ``frame_probs``: whether each face's ``frame_probs`` (before
    the temporal head or the smoothing) are set; ``stats``: filled while frames are read;
    ``require_face``: a still without a face, or a clip without one in any frame, is an error
    (:class:`fertk.pipeline.NoFaceError`) instead of an empty result. Iterating a job iterates
    its ``frames``.
    """

    item: MediaItem
    still: bool
    rate: float
    stride: int
    classes: list[str]
    frame_probs: bool
    stats: DecodeStats = field(default_factory=DecodeStats)
    require_face: bool = False
    frames: Iterator[tuple[FrameResult, np.ndarray]] = field(default_factory=lambda: iter(()))

    @property
    def fps(self) -> float:
        """Processed frames per second (the annotated video's frame rate)."""
        return self.rate / self.stride

    def __iter__(self) -> Iterator[tuple[FrameResult, np.ndarray]]:
        return iter(self.frames)


def _stats_dict(stats: DecodeStats) -> dict[str, Any]:
    out = {"decoded": stats.decoded, "skipped_frames": stats.skipped,
           "unreadable": stats.unreadable[:20], "fps": stats.fps}
    if stats.missing:  # a truncated video: fewer frames than its header declares
        out.update(declared_frames=stats.frame_count, missing_frames=stats.missing)
    return out


@dataclass(eq=False)
class JobSummary(Mapping):
    """What :func:`fertk.jobs.run_job` returns for one source.

    ``stills``: the job was unrelated still images (``tracks`` are then images, not tracks);
    ``tracks``: :class:`fertk.io.outputs.TrackStats` rows; ``decode``: the decoder's counts
    (``decoded``, ``skipped_frames``, ``unreadable``, ``fps`` and, for a truncated video,
    ``declared_frames``/``missing_frames``); ``files``: output kind → path; ``error`` (and,
    for a bug, its ``traceback``) when the job failed. :meth:`to_dict` is the summary as JSON
    (``fertk run --json``); reading it as a mapping (``summary["frames"]``) is kept for one
    release.
    """

    name: str
    source: str
    kind: str
    stills: bool = False
    frames: int = 0
    frames_without_face: int = 0
    tracks: list[dict[str, Any]] = field(default_factory=list)
    decode: dict[str, Any] = field(default_factory=dict)
    interrupted: bool | None = None
    video_codec: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None

    @classmethod
    def done(cls, job: Job, written: dict[str, Any]) -> JobSummary:
        """The summary of a job whose files :class:`~fertk.io.outputs.RunOutputs` wrote
        (``written``: what its ``close`` returned)."""
        keys = ("decoded", "skipped_frames", "unreadable", "fps", "declared_frames",
                "missing_frames")
        return cls(job.item.name, job.item.source, job.item.kind, stills=job.still,
                   frames=written["frames"], frames_without_face=written["frames_without_face"],
                   tracks=written["tracks"], decode={k: written[k] for k in keys if k in written},
                   interrupted=written.get("interrupted"), video_codec=written.get("video_codec"),
                   files=dict(written["files"]))

    @classmethod
    def failed(cls, item: MediaItem, error: str, stats: DecodeStats | None = None,
               traceback: str | None = None) -> JobSummary:
        """The summary of a job that failed (``stats``: what was decoded before)."""
        return cls(item.name, item.source, item.kind,
                   frames=stats.decoded if stats is not None else 0,
                   decode=_stats_dict(stats) if stats is not None else {}, error=error,
                   traceback=traceback)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "source": self.source, "kind": self.kind}
        if self.error is not None:
            out["error"] = self.error
        out["frames"] = self.frames
        if self.error is None:
            out["frames_without_face"] = self.frames_without_face
        out["tracks"] = self.tracks
        out.update(self.decode)
        if self.interrupted is not None:
            out["interrupted"] = self.interrupted
        if self.video_codec is not None:
            out["video_codec"] = self.video_codec
        if self.error is None:
            out["files"] = self.files
        if self.traceback is not None:
            out["traceback"] = self.traceback
        return out

    # -- read as the dict of earlier releases ------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


__all__ = ["Job", "JobSummary"]
