"""Face tracking across video frames: stable track ids and landmark tracking between detections.

:class:`FaceTracker` gives every detected face a ``track_id`` that stays the same from frame
to frame. Faces are matched to live tracks by box overlap (IoU), with a centroid-distance
fallback for fast motion, solved as an assignment problem (Hungarian method); a track that
finds no face for more than ``max_missed`` consecutive updates is closed.

:class:`LandmarkFlow` moves faces (their landmarks, or a grid of points inside a box-only face)
from one frame to the next with pyramidal Lucas-Kanade optical flow, so the detector can run
every N frames only. Points that fail a forward-backward consistency check do not vote; a face
whose points mostly fail is reported lost, which tells the caller to detect again. So is a face
whose moved box no longer looks like the face at its last detection (normalised correlation of
small gray patches below ``min_similarity``): a cut, or flow that slid onto the background.

The detection schedule of ``fertk run`` (:class:`Schedule`, :func:`follow_faces`): the
full-quality detector scans the whole frame about once a second (``scan_every``); every
``detect_every`` frames in between its fast variant
(:meth:`fertk.detectors.base.BaseDetector.fast`, dlib without upsampling) detects again
around each tracked face; in between, the flow moves the landmarks, and a face the flow
loses or that no longer looks like itself (a cut, drift) is re-detected at once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

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


def detect_in_region(detector, image: np.ndarray, face: Face, *, margin: float = 0.6,
                     face_px: float = 100.0, min_iou: float = 0.3) -> Face | None:
    """Detect ``face`` again in a region around its box, scaled so the face is ``face_px``.

    The region is the box grown by ``margin`` of its size on each side; scaling it makes a
    cheap detector (dlib without upsampling finds faces from about 80 px) see small and
    large faces alike, at a fraction of a full-frame detection's cost. Returns the detection
    that overlaps the box best (``track_id`` kept), or ``None``.
    """
    import cv2

    h, w = image.shape[:2]
    x1, y1, x2, y2 = face.box
    mx, my = margin * (x2 - x1), margin * (y2 - y1)
    rx1, ry1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
    rx2, ry2 = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
    if rx2 - rx1 < 8 or ry2 - ry1 < 8:
        return None
    scale = face_px / _size(face.box)
    roi = image[ry1:ry2, rx1:rx2]
    if abs(scale - 1.0) > 0.05:
        size = (max(8, round(roi.shape[1] * scale)), max(8, round(roi.shape[0] * scale)))
        roi = cv2.resize(roi, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    else:
        scale = 1.0
    best, best_iou = None, min_iou
    for f in detector.detect(roi):
        box = (f.box[0] / scale + rx1, f.box[1] / scale + ry1, f.box[2] / scale + rx1,
               f.box[3] / scale + ry1)
        overlap = iou(box, face.box)
        if overlap >= best_iou:
            lm = None if f.landmarks is None else \
                np.asarray(f.landmarks, np.float64) / scale + np.array([rx1, ry1], np.float64)
            best, best_iou = replace(f, box=tuple(float(v) for v in box), landmarks=lm,
                                     track_id=face.track_id), overlap
    return best


def _patch(gray: np.ndarray, box, side: int = 24) -> np.ndarray | None:
    """The box's region of ``gray`` resized to ``side``×``side`` float32 (``None`` if empty)."""
    import cv2

    h, w = gray.shape[:2]
    x1, y1 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x2, y2 = min(w, int(round(box[2]))), min(h, int(round(box[3])))
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None
    return cv2.resize(gray[y1:y2, x1:x2], (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-6 else 0.0


class LandmarkFlow:
    """Move faces between frames with pyramidal Lucas-Kanade optical flow.

    Call :meth:`reset` with a gray frame and its detected faces, then :meth:`step` with each
    following gray frame: it returns the faces moved to that frame (same ``track_id``) and
    the faces it lost. ``fb_threshold`` is the forward-backward error (pixels) above which a
    point is not trusted; ``min_good`` the fraction of trusted points a face needs.
    """

    def __init__(self, win_size: int = 21, levels: int = 3, fb_threshold: float = 2.0,
                 min_good: float = 0.5, min_similarity: float = 0.5):
        self.win_size = int(win_size)
        self.levels = int(levels)
        self.fb_threshold = float(fb_threshold)
        self.min_good = float(min_good)
        self.min_similarity = float(min_similarity)
        self._prev: np.ndarray | None = None
        self._faces: list[Face] = []
        self._templates: dict[int | None, np.ndarray | None] = {}

    def reset(self, gray: np.ndarray, faces: list[Face], detected: bool | set = True) -> None:
        """Follow ``faces`` of frame ``gray`` from now on.

        ``detected``: the faces come from the detector (``True``, or the set of track ids
        that do), so their look becomes the reference of the appearance check; the others
        (faces moved by :meth:`step`) keep the references of their tracks.
        """
        self._prev = gray
        self._faces = list(faces)
        old = self._templates

        def fresh(f: Face) -> bool:
            return detected is True or (detected is not False and f.track_id in detected) \
                or f.track_id not in old

        self._templates = {f.track_id: _patch(gray, f.box) if fresh(f) else old[f.track_id]
                           for f in faces}

    def similarity(self, gray: np.ndarray, face: Face) -> float:
        """Normalised correlation of ``face``'s patch in ``gray`` with its track's reference."""
        ref = self._templates.get(face.track_id)
        cur = _patch(gray, face.box)
        if ref is None or cur is None:
            return 0.0 if cur is None else 1.0
        return _ncc(ref, cur)

    @property
    def faces(self) -> list[Face]:
        return list(self._faces)

    def step(self, gray: np.ndarray) -> tuple[list[Face], list[Face]]:
        """``(moved faces, lost faces)`` for the next frame ``gray``."""
        import cv2

        if self._prev is None or not self._faces:
            self._prev = gray
            return [], []
        if gray.shape != self._prev.shape:  # a frame of another size (an image sequence of
            lost, self._faces, self._prev = self._faces, [], gray  # mixed sizes): no flow
            return [], lost  # between them; every face is lost, so the caller scans afresh
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
            new_face = replace(face, box=tuple(float(v) for v in box),
                               landmarks=pts_new if has_lm[k] else None)
            if self.min_similarity > -1 and self.similarity(gray, new_face) < self.min_similarity:
                lost.append(face)  # the box no longer holds the face it followed
                continue
            moved.append(new_face)
        self._prev = gray
        self._faces = moved
        return moved, lost


# -- the detection schedule of fertk run -------------------------------------------------------
class Schedule:
    """Which detection a video frame gets (``fertk run``): a full-quality ``scan`` every ``scan_every``
    processed frames, a fast ``detect`` every ``detect_every``, else ``flow``."""

    def __init__(self, detect_every: int, scan_every: int):
        self.detect_every = detect_every
        self.scan_every = scan_every
        self._since_detect = 0
        self._since_scan: int | None = None  # None: nothing processed yet

    @property
    def uses_flow(self) -> bool:
        return self.detect_every > 1

    def next(self) -> str:
        if self._since_scan is None or self._since_scan + 1 >= self.scan_every:
            self._since_scan = self._since_detect = 0
            return "scan"
        self._since_scan += 1
        if self._since_detect + 1 >= self.detect_every:
            self._since_detect = 0
            return "detect"
        self._since_detect += 1
        return "flow"

    def rescanned(self) -> None:
        """The full-quality detector ran out of turn (flow lost a face): count from here."""
        self._since_scan = self._since_detect = 0


def follow_faces(stage: Any, frame: Any, tracker: FaceTracker, flow: LandmarkFlow,
                 schedule: Schedule) -> tuple[list[Face], bool]:
    """Faces of a video ``frame`` by the detection ``schedule``; ``(faces, detector ran)``.

    ``stage`` is a :class:`fertk.faces.FaceStage` (``faces(image)``, ``fast_detector``).
    """
    step = schedule.next()
    gray = None
    if schedule.uses_flow:
        import cv2

        img = frame.image
        gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if step != "scan" and gray is not None and flow.faces:
        moved, lost = flow.step(gray)
        if lost:  # lost, or no longer the face it followed (a cut, drift): scan now
            step = "scan"
            schedule.rescanned()
        elif step == "detect":  # refresh each face in a region around it, fast detector
            faces, found = [], set()
            for face in moved:
                hit = detect_in_region(stage.fast_detector, frame.image, face)
                faces.append(hit or face)
                if hit is not None:
                    found.add(face.track_id)
            faces = tracker.update(faces, frame.index)
            flow.reset(gray, faces, detected=found)
            return faces, True
        else:
            faces = tracker.update(moved, frame.index)
            flow.reset(gray, faces, detected=False)
            return faces, False
    elif step == "flow":  # nobody to follow: wait for the next detection frame
        tracker.update([], frame.index)
        if gray is not None:
            flow.reset(gray, [])
        return [], False
    # a scan, or a detection frame with nobody tracked: full quality on the whole frame
    faces = tracker.update(stage.faces(frame.image), frame.index)
    if gray is not None:
        flow.reset(gray, faces)
    return faces, True


__all__ = ["FaceTracker", "LandmarkFlow", "Schedule", "Track", "detect_in_region", "follow_faces",
           "iou"]
