"""Face tracking across video frames: stable track ids and landmark tracking between detections.

:class:`FaceTracker` gives every detected face a ``track_id`` that stays the same from frame
to frame. Faces are matched to live tracks by box overlap (IoU), with a centroid-distance
fallback for fast motion, solved as an assignment problem (Hungarian method); a track that
finds no face for more than ``max_missed`` consecutive updates is closed.

:class:`LandmarkFlow` moves faces (their landmarks, or a grid of points inside a box-only face)
from one frame to the next with pyramidal Lucas-Kanade optical flow, so the detector can run
every N frames only. Points that fail a forward-backward consistency check do not vote; a face
whose points mostly fail is reported lost, which tells the caller to detect again.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from fertk.types import Face


def iou(a: tuple[float, ...] | np.ndarray, b: tuple[float, ...] | np.ndarray) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _center(box) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0])


def _size(box) -> float:
    return float(max(1.0, np.sqrt(max(box[2] - box[0], 1.0) * max(box[3] - box[1], 1.0))))


@dataclass
class Track:
    """One tracked face: its id, latest face, and when it was seen."""

    id: int
    face: Face
    first_frame: int
    last_frame: int
    hits: int = 1
    missed: int = 0


class FaceTracker:
    """Assign stable ids to faces frame after frame.

    ``iou_threshold``: minimum IoU to match a face to a track by overlap; ``max_distance``:
    else, maximum centroid distance as a fraction of the track's box size; ``max_missed``:
    consecutive updates without a match after which a track is closed. Closed tracks are
    collected by :meth:`pop_closed`.
    """

    def __init__(self, iou_threshold: float = 0.3, max_distance: float = 0.6, max_missed: int = 10,
                 first_id: int = 1):
        self.iou_threshold = float(iou_threshold)
        self.max_distance = float(max_distance)
        self.max_missed = int(max_missed)
        self.tracks: dict[int, Track] = {}
        self._closed: list[Track] = []
        self._ids = itertools.count(first_id)

    def _cost(self, track: Track, face: Face) -> float:
        overlap = iou(track.face.box, face.box)
        if overlap >= self.iou_threshold:
            return 1.0 - overlap
        dist = float(np.linalg.norm(_center(track.face.box) - _center(face.box))) / _size(track.face.box)
        if dist <= self.max_distance:
            return 1.0 + dist
        return np.inf

    def update(self, faces: list[Face], frame: int) -> list[Face]:
        """Match ``faces`` (one frame's detections) to tracks; returns them with ``track_id`` set.

        The returned faces are copies in the input order; unmatched faces start new tracks.
        """
        out = [replace(f) for f in faces]
        ids = list(self.tracks)
        matched_tracks: set[int] = set()
        matched_faces: set[int] = set()
        if ids and out:
            cost = np.array([[self._cost(self.tracks[t], f) for f in out] for t in ids])
            finite = np.where(np.isfinite(cost), cost, 1e6)
            from scipy.optimize import linear_sum_assignment

            rows, cols = linear_sum_assignment(finite)
            for r, c in zip(rows, cols, strict=False):
                if not np.isfinite(cost[r, c]):
                    continue
                track = self.tracks[ids[r]]
                out[c].track_id = track.id
                track.face = out[c]
                track.last_frame = frame
                track.hits += 1
                track.missed = 0
                matched_tracks.add(track.id)
                matched_faces.add(c)
        for tid in ids:
            if tid in matched_tracks:
                continue
            track = self.tracks[tid]
            track.missed += 1
            if track.missed > self.max_missed:
                self._closed.append(self.tracks.pop(tid))
        for c, face in enumerate(out):
            if c in matched_faces:
                continue
            tid = next(self._ids)
            face.track_id = tid
            self.tracks[tid] = Track(tid, face, frame, frame)
        return out

    def pop_closed(self) -> list[Track]:
        """Tracks closed since the last call."""
        closed, self._closed = self._closed, []
        return closed

    def close_all(self) -> list[Track]:
        """Close every live track (end of a stream) and return all not yet popped."""
        self._closed.extend(self.tracks.values())
        self.tracks = {}
        return self.pop_closed()

    @property
    def active(self) -> list[Track]:
        return list(self.tracks.values())


def _box_points(box, n: int = 5) -> np.ndarray:
    x1, y1, x2, y2 = box
    mx, my = 0.2 * (x2 - x1), 0.2 * (y2 - y1)
    xs = np.linspace(x1 + mx, x2 - mx, n)
    ys = np.linspace(y1 + my, y2 - my, n)
    return np.array([(x, y) for y in ys for x in xs], dtype=np.float64)


class LandmarkFlow:
    """Move faces between frames with pyramidal Lucas-Kanade optical flow.

    Call :meth:`reset` with a gray frame and its detected faces, then :meth:`step` with each
    following gray frame: it returns the faces moved to that frame (same ``track_id``) and
    the faces it lost. ``fb_threshold`` is the forward-backward error (pixels) above which a
    point is not trusted; ``min_good`` the fraction of trusted points a face needs.
    """

    def __init__(self, win_size: int = 21, levels: int = 3, fb_threshold: float = 2.0,
                 min_good: float = 0.5):
        self.win_size = int(win_size)
        self.levels = int(levels)
        self.fb_threshold = float(fb_threshold)
        self.min_good = float(min_good)
        self._prev: np.ndarray | None = None
        self._faces: list[Face] = []

    def reset(self, gray: np.ndarray, faces: list[Face]) -> None:
        self._prev = gray
        self._faces = list(faces)

    @property
    def faces(self) -> list[Face]:
        return list(self._faces)

    def step(self, gray: np.ndarray) -> tuple[list[Face], list[Face]]:
        """``(moved faces, lost faces)`` for the next frame ``gray``."""
        import cv2

        if self._prev is None or not self._faces:
            self._prev = gray
            return [], []
        pts, owners, has_lm = [], [], []
        for k, face in enumerate(self._faces):
            p = face.landmarks if face.landmarks is not None else _box_points(face.box)
            p = np.asarray(p, dtype=np.float64).reshape(-1, 2)
            pts.append(p)
            owners.append(np.full(len(p), k))
            has_lm.append(face.landmarks is not None)
        p0 = np.concatenate(pts).astype(np.float32).reshape(-1, 1, 2)
        owner = np.concatenate(owners)
        params = dict(winSize=(self.win_size, self.win_size), maxLevel=self.levels,
                      criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
        p1, st1, _ = cv2.calcOpticalFlowPyrLK(self._prev, gray, p0, None, **params)
        p0b, st2, _ = cv2.calcOpticalFlowPyrLK(gray, self._prev, p1, None, **params)
        fb = np.linalg.norm((p0 - p0b).reshape(-1, 2), axis=1)
        good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < self.fb_threshold)
        new = p1.reshape(-1, 2).astype(np.float64)
        old = p0.reshape(-1, 2).astype(np.float64)
        moved, lost = [], []
        for k, face in enumerate(self._faces):
            sel = owner == k
            ok = good[sel]
            if ok.mean() < self.min_good or ok.sum() < 3:
                lost.append(face)
                continue
            a, b = old[sel], new[sel]
            shift = np.median(b[ok] - a[ok], axis=0)
            ca, cb = a[ok].mean(axis=0), b[ok].mean(axis=0)
            ra = np.linalg.norm(a[ok] - ca, axis=1)
            rb = np.linalg.norm(b[ok] - cb, axis=1)
            valid = ra > 1e-3
            scale = float(np.median(rb[valid] / ra[valid])) if valid.any() else 1.0
            scale = float(np.clip(scale, 0.8, 1.25))
            pts_new = np.where(ok[:, None], b, a + shift)
            c0 = _center(face.box)
            c1 = c0 + shift
            hw, hh = face.width / 2 * scale, face.height / 2 * scale
            box = (c1[0] - hw, c1[1] - hh, c1[0] + hw, c1[1] + hh)
            moved.append(replace(face, box=tuple(float(v) for v in box),
                                 landmarks=pts_new if has_lm[k] else None))
        self._prev = gray
        self._faces = moved
        return moved, lost


__all__ = ["FaceTracker", "LandmarkFlow", "Track", "iou"]
