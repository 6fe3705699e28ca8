"""Tracking: stable ids for two real faces, closing lost tracks, optical flow of landmarks."""

from __future__ import annotations

import numpy as np
import pytest

import fertk
from fertk.tracking import FaceTracker, LandmarkFlow, iou
from fertk.types import Face

from .conftest import make_frames


@pytest.fixture(scope="module")
def dlib():
    return fertk.create("detectors", "dlib")


def test_two_faces_keep_their_ids(dlib):
    tracker = FaceTracker(max_missed=2)
    frames = make_frames(12, size=(400, 240), faces=2, step=4)
    history: dict[int, list[float]] = {}
    for k, frame in enumerate(frames):
        faces = tracker.update(dlib.detect(frame), k)
        assert len(faces) == 2
        for f in faces:
            history.setdefault(f.track_id, []).append((f.box[0] + f.box[2]) / 2)
    assert sorted(history) == [1, 2]  # no new id was ever handed out
    moves = sorted(np.sign(np.diff(xs)).sum() for xs in history.values())
    assert moves[0] < -8 and moves[1] > 8  # one track moves left, the other right


def test_track_closes_after_missed_frames():
    tracker = FaceTracker(max_missed=2)
    face = Face(box=(10, 10, 50, 50))
    (first,) = tracker.update([face], 0)
    for k in (1, 2):
        tracker.update([], k)
        assert not tracker.pop_closed()
    tracker.update([], 3)
    closed = tracker.pop_closed()
    assert [t.id for t in closed] == [first.track_id]
    (again,) = tracker.update([face], 4)
    assert again.track_id != first.track_id
    # a fast move without overlap still matches by centroid distance
    (moved,) = tracker.update([Face(box=(32, 10, 72, 50))], 5)
    assert iou((10, 10, 50, 50), (32, 10, 72, 50)) < 0.3 and moved.track_id == again.track_id


def test_landmark_flow_follows_real_motion(dlib):
    import cv2

    frames = make_frames(2, step=5)
    grays = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    (face,) = dlib.detect(frames[0])
    flow = LandmarkFlow()
    flow.reset(grays[0], [face])
    moved, lost = flow.step(grays[1])
    assert not lost and len(moved) == 1
    shift = np.median(moved[0].landmarks - face.landmarks, axis=0)
    assert shift == pytest.approx([5.0, 0.0], abs=0.5)
    assert moved[0].box[0] - face.box[0] == pytest.approx(5.0, abs=0.7)
    # the face disappears: flow reports it lost
    blank = np.full_like(grays[1], 60)
    _, lost = flow.step(blank)
    assert len(lost) == 1
