"""Reading and writing media for ``fertk run``: images, videos, webcams.

:func:`~fertk.io.sources.expand_sources` turns command-line sources into
:class:`~fertk.io.sources.MediaItem` jobs (re-exported here). :func:`iter_frames` yields :class:`Frame`
objects from a job; videos are decoded by ``cv2.VideoCapture`` in a background thread that
feeds a bounded queue, so decoding overlaps detection and classification while memory stays
constant in the length of the video. Frames that cannot be decoded are skipped and counted in
:class:`DecodeStats`; a file that cannot be opened at all, or holds no decodable frame
(zero-length, corrupt, unsupported codec), raises one :class:`~fertk.errors.FertkError`
naming the file. Frame times are the decoder's timestamps, so variable-frame-rate videos
(phones) are timed right. :class:`VideoWriter` writes annotated videos, H.264 when the
installed OpenCV / FFmpeg can encode it, else ``mp4v`` (:func:`best_fourcc`).

OpenCV is imported on first use only.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fertk.errors import FertkError
from fertk.io.sources import (  # noqa: F401 - re-exported: the names fertk.io.video had
    MediaItem,
    expand_sources,
    is_webcam,
    parse_shard,
    shard,
)

#: Frames per second assumed for image sequences and for videos that do not say.
DEFAULT_FPS = 30.0
#: After this many consecutive unreadable frames a video is considered finished.
MAX_CONSECUTIVE_FAILURES = 25


@dataclass
class Frame:
    """One decoded frame: BGR uint8 pixels plus where it came from.

    ``index`` is the frame number in the source (0-based, counting skipped frames too);
    ``time`` seconds from the start (``None`` for unrelated stills).
    """

    source: str
    index: int
    time: float | None
    image: np.ndarray


@dataclass
class DecodeStats:
    """What happened while reading one :class:`MediaItem`."""

    decoded: int = 0
    skipped: int = 0
    unreadable: list[str] = field(default_factory=list)
    fps: float | None = None
    frame_count: int | None = None
    size: tuple[int, int] | None = None  # (width, height)
    missing: int = 0  # frames the header declares that could not be read: a truncated file


#: The frame rates fertk takes and writes (``--fps``, the annotated video's): what video
#: codecs accept (an mp4 writer refuses 0.001 and 10⁶ frames per second).
FPS_RANGE = (0.01, 1000.0)


def frame_count(cap: Any) -> int | None:
    """The frame count an open capture's container declares; None when it declares none (0,
    NaN, or the -2⁶³ of a still image named ``.mp4``)."""
    import cv2

    value = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(value) if value and math.isfinite(value) and value >= 1 else None


def check_fps(fps: float | None, flag: str = "--fps") -> float | None:
    """``fps`` as a float (``None``: not given); a frame rate that is not a positive, finite
    number (``nan``, ``inf``, ``0``, ``-5``) is one :class:`FertkError`."""
    if fps is None:
        return None
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise FertkError(f"{flag} {fps!r}: the frame rate must be a positive number of frames "
                         "per second") from None
    if not (math.isfinite(value) and FPS_RANGE[0] <= value <= FPS_RANGE[1]):
        raise FertkError(f"{flag} {fps}: the frame rate must be a positive number from "
                         f"{FPS_RANGE[0]:g} to {FPS_RANGE[1]:g} frames per second (e.g. --fps 25)")
    return value


def quiet_ffmpeg() -> None:
    """Silence FFmpeg's own log lines (``stream 1, offset 0x61b02: partial file`` for every
    damaged packet of a truncated file): fertk reports what matters itself (a truncated
    video, unreadable frames). Must run before OpenCV first uses FFmpeg in the process; a level
    the user set in ``OPENCV_FFMPEG_LOGLEVEL`` is kept."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


# -- reading ---------------------------------------------------------------------------------
def open_capture(source: str | int):
    """An opened ``cv2.VideoCapture``; :class:`FertkError` naming the source otherwise."""
    quiet_ffmpeg()
    import cv2

    if is_webcam(source):
        with _quiet_stderr():  # OpenCV's backends print their own warnings when none opens
            cap = cv2.VideoCapture(int(source))
        if not cap.isOpened():
            raise FertkError(f"webcam {source}: cannot be opened (no camera with that index?)")
        return cap
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise FertkError(f"{path}: video file not found")
    if os.path.getsize(path) == 0:
        raise FertkError(f"{path}: empty file (zero bytes), not a video")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise FertkError(f"{path}: cannot open the video (corrupt file or unsupported container/codec)")
    return cap


def probe_video(path: str) -> DecodeStats:
    """fps, frame count and size of a video as its container reports them."""
    import cv2

    cap = open_capture(path)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        count = frame_count(cap)
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    finally:
        cap.release()
    return DecodeStats(fps=fps if fps > 0 else None, frame_count=count, size=size)


def frame_rate(item: MediaItem, fps: float | None = None) -> float:
    """Frames per second of ``item``, decided once per job: the rate a video or webcam reports
    (when plausible), else ``fps`` (``--fps``), else :data:`DEFAULT_FPS`. Opens a video or
    webcam once, so one that cannot be opened fails here, before any output is written."""
    reported = probe_video(item.source).fps if item.kind in ("video", "webcam") else None
    return (reported if reported and reported < 1000 else None) or fps or DEFAULT_FPS


_END = object()


class _Timestamps:
    """Frame times in seconds from the decoder's timestamps (``CAP_PROP_POS_MSEC``).

    Falls back to ``index / fps`` when the backend gives none, or one that does not increase
    (then for the rest of the stream, so times never jump back). Webcam timestamps count
    from the first frame.
    """

    def __init__(self, relative: bool):
        self.relative = relative
        self.origin: float | None = None
        self.last = -1.0
        self.trusted = True

    def seconds(self, msec: float | None, fallback: float) -> float:
        if self.trusted and msec is not None and msec >= 0:
            if self.origin is None:
                self.origin = msec if self.relative else 0.0
            t = (msec - self.origin) / 1000.0
            if t > self.last:
                self.last = t
                return t
        self.trusted = False
        return fallback


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def _decode_video(item: MediaItem, stride: int, stats: DecodeStats, out: queue.Queue,
                  stop: threading.Event, max_frames: int | None) -> None:
    """Producer: decode frames into ``out``; the consumer sees ``_END`` or a ``_Failure``."""
    import cv2

    def put(obj) -> bool:
        while not stop.is_set():
            try:
                out.put(obj, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    cap = None
    try:
        cap = open_capture(item.source)
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        stats.fps = fps if 0 < fps < 1000 else (None if item.kind == "webcam" else DEFAULT_FPS)
        stats.frame_count = frame_count(cap)
        rate = stats.fps or DEFAULT_FPS
        index = -1
        failures = 0
        emitted = 0
        last_read = -1
        clock = _Timestamps(item.kind == "webcam")
        while not stop.is_set():
            index += 1
            if max_frames is not None and emitted >= max_frames:
                break
            wanted = index % stride == 0
            ok = cap.grab()
            stamp = cap.get(cv2.CAP_PROP_POS_MSEC) if ok else None
            if ok and wanted:
                ok, image = cap.retrieve()
                ok = ok and image is not None and image.size > 0
            if not ok:
                failures += 1
                known_end = stats.frame_count is not None and index >= stats.frame_count
                if known_end or failures >= MAX_CONSECUTIVE_FAILURES:
                    break
                stats.skipped += 1
                if len(stats.unreadable) < 1000:
                    stats.unreadable.append(f"{item.source}#{index}")
                continue
            failures = 0
            last_read = index
            if not wanted:
                continue
            if stats.size is None:
                stats.size = (int(image.shape[1]), int(image.shape[0]))
            stats.decoded += 1
            emitted += 1
            time = clock.seconds(stamp, index / rate)
            if not put(Frame(item.source, index, time, image)):
                return
        # failures just before the end of the stream are its end, not corrupt frames
        stats.skipped -= min(max(failures - 1, 0), stats.skipped)
        del stats.unreadable[stats.skipped:]
        if failures >= MAX_CONSECUTIVE_FAILURES and stats.frame_count is not None:
            # the stream ended before the frames its header declares (a few may be miscounted)
            lost = stats.frame_count - (last_read + 1)
            stats.missing = lost if lost > max(2, stats.frame_count // 100) else 0
        if stats.decoded == 0 and not stop.is_set():
            raise FertkError(
                f"{item.source}: no decodable frame (zero-length video, corrupt file or "
                "unsupported codec)"
            )
        put(_END)
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
        put(_Failure(exc))
    finally:
        if cap is not None:
            cap.release()


def _iter_images(item: MediaItem, stride: int, stats: DecodeStats, fps: float | None,
                 max_frames: int | None) -> Iterator[Frame]:
    from fertk.io.images import read_image

    rate = fps or DEFAULT_FPS
    for k, path in enumerate(item.paths):
        if max_frames is not None and stats.decoded >= max_frames:
            break
        if k % stride:
            continue
        try:
            image = read_image(path)
        except FertkError as exc:
            stats.skipped += 1
            stats.unreadable.append(str(exc))
            continue
        stats.decoded += 1
        if stats.size is None:
            stats.size = (int(image.shape[1]), int(image.shape[0]))
        if item.sequence:
            yield Frame(item.source, k, k / rate, image)
        else:
            yield Frame(path, 0, None, image)
    if stats.decoded == 0:
        raise FertkError(f"{item.source}: none of its {len(item.paths)} image(s) could be read")


def iter_frames(
    item: MediaItem | str | int,
    *,
    stride: int = 1,
    stats: DecodeStats | None = None,
    queue_size: int = 8,
    fps: float | None = None,
    max_frames: int | None = None,
) -> Iterator[Frame]:
    """Frames of ``item`` (every ``stride``-th); videos decoded in a background thread.

    ``stats`` (optional) is filled with counts of decoded and skipped frames. The queue holds
    at most ``queue_size`` frames, so memory does not grow with the video. Closing the
    generator early (``break``, Ctrl-C) stops the decoder thread and releases the file.
    """
    if stride < 1:
        raise FertkError(f"stride must be >= 1, got {stride}")
    fps = check_fps(fps, "fps")
    if not isinstance(item, MediaItem):
        found = expand_sources([item])
        if len(found) != 1:
            raise FertkError(f"{item}: expected one video or image group, found {len(found)} jobs")
        item = found[0]
    stats = stats if stats is not None else DecodeStats()
    if item.kind == "images":
        yield from _iter_images(item, stride, stats, fps, max_frames)
        return
    q: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
    stop = threading.Event()
    thread = threading.Thread(
        target=_decode_video, args=(item, stride, stats, q, stop, max_frames),
        name=f"fertk-decode-{item.name}", daemon=True,
    )
    thread.start()
    try:
        while True:
            obj = q.get()
            if obj is _END:
                break
            if isinstance(obj, _Failure):
                raise obj.exc
            yield obj
    finally:
        stop.set()
        thread.join(timeout=5)


# -- writing ---------------------------------------------------------------------------------
#: Codecs tried for annotated videos, best first: H.264, then MPEG-4 part 2 (always there).
FOURCCS = ("avc1", "mp4v")
#: Names of the codecs in summaries.
CODEC_NAMES = {"avc1": "h264", "mp4v": "mp4v"}


@functools.cache
def best_fourcc() -> str:
    """The first of :data:`FOURCCS` the installed OpenCV / FFmpeg can write (checked once).

    The probe writes a tiny file with FFmpeg's and OpenCV's own messages silenced (a missing
    H.264 encoder prints several lines on stderr).
    """
    import tempfile

    quiet_ffmpeg()
    import cv2

    for fourcc in FOURCCS[:-1]:
        with tempfile.TemporaryDirectory(prefix="fertk-codec-") as tmp, _quiet_stderr():
            w = cv2.VideoWriter(os.path.join(tmp, "probe.mp4"), cv2.VideoWriter_fourcc(*fourcc),
                                30.0, (64, 48))
            ok = w.isOpened()
            if ok:
                w.write(np.zeros((48, 64, 3), np.uint8))
            w.release()
        if ok:
            return fourcc
    return FOURCCS[-1]


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 (C libraries write there directly) for a moment."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr descriptor: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class VideoWriter:
    """Write BGR frames to a video file (H.264 in ``.mp4`` when available, else ``mp4v``).

    ``fourcc="auto"`` picks :func:`best_fourcc`; ``codec`` names the one used (``h264`` or
    ``mp4v``). The frame size is taken from the first frame; later frames of another size
    are resized. ``close()`` (or the context manager) finalises the file so that it decodes.
    """

    def __init__(self, path: str | os.PathLike, fps: float = DEFAULT_FPS, fourcc: str = "auto"):
        self.path = Path(path)
        self.fps = float(fps) if fps and fps > 0 else DEFAULT_FPS
        # a rate codecs refuse (30 fps / --stride 10⁹): the nearest they take; the frames
        # are what was processed, their pace on playback matters less than a playable file
        self.fps = min(max(self.fps, FPS_RANGE[0]), FPS_RANGE[1])
        self.fourcc = best_fourcc() if fourcc == "auto" else fourcc
        self.codec = CODEC_NAMES.get(self.fourcc, self.fourcc)
        self.frames = 0
        self._writer = None
        self._size: tuple[int, int] | None = None

    def _open(self, width: int, height: int) -> None:
        quiet_ffmpeg()
        import cv2

        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps,
                                 (width, height))
        if not writer.isOpened():
            raise FertkError(f"{self.path}: cannot write a video with codec '{self.fourcc}' here")
        self._writer = writer
        self._size = (width, height)

    def write(self, image: np.ndarray) -> None:
        import cv2

        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        h, w = image.shape[:2]
        if self._writer is None:
            self._open(w, h)
        elif (w, h) != self._size:
            image = cv2.resize(image, self._size)
        self._writer.write(np.ascontiguousarray(image))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_video(path: str | os.PathLike, frames, fps: float = DEFAULT_FPS) -> Path:
    """Write an iterable of BGR frames to ``path``; returns the path."""
    with VideoWriter(path, fps=fps) as writer:
        for image in frames:
            writer.write(image)
    return Path(path)


__all__ = [
    "DEFAULT_FPS",
    "DecodeStats",
    "Frame",
    "MediaItem",
    "VideoWriter",
    "best_fourcc",
    "check_fps",
    "expand_sources",
    "frame_rate",
    "is_webcam",
    "iter_frames",
    "open_capture",
    "parse_shard",
    "probe_video",
    "shard",
    "write_video",
]
