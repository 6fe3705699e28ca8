"""The mediapipe plugin finds the real face of the astronaut photo with its shipped models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fertk import plugins
from fertk.io.images import read_image

ASTRONAUT = Path(__file__).resolve().parents[3] / "tests" / "data" / "astronaut.png"


@pytest.fixture(scope="module")
def registry():
    plugins.reset()
    yield plugins.get_registry("detectors")
    plugins.reset()


@pytest.fixture(scope="module")
def image():
    return read_image(ASTRONAUT)


def test_registered_by_entry_point(registry):
    assert registry.get("mediapipe").plugin == "mediapipe"


def test_face_mesh_on_real_photo(registry, image):
    det = registry.create("mediapipe")
    faces = det.detect(image)
    assert len(faces) == 1
    face = faces[0]
    assert face.scheme == "mediapipe478" and face.landmarks.shape == (478, 2)
    assert 0.5 <= face.score <= 1.0
    x1, y1, x2, y2 = face.box
    # the face is at about x 175-270, y 75-180 (dlib and OpenCV agree)
    assert 150 < x1 < 200 and 240 < x2 < 300 and 50 < y1 < 110 and 150 < y2 < 210
    nose = face.landmarks[1]
    assert x1 < nose[0] < x2 and y1 < nose[1] < y2
    left = face.landmarks[[33, 133]].mean(axis=0)
    right = face.landmarks[[362, 263]].mean(axis=0)
    assert left[0] < nose[0] < right[0] and max(left[1], right[1]) < nose[1]
    crop = plugins.get_registry("crops").create("landmark").crop(image, face)
    assert crop.image.shape == (120, 120)
    eyes = crop.to_crop(np.stack([left, right]))
    assert (eyes[:, 1] < 60).all()


def test_detection_only_keypoints(registry, image):
    faces = registry.create("mediapipe", mesh=False).detect(image)
    assert len(faces) == 1 and faces[0].scheme == "mediapipe6"
    kps = faces[0].landmarks
    assert kps.shape == (6, 2) and kps[0, 0] < kps[2, 0] < kps[1, 0]


def test_blank_image_has_no_face(registry):
    assert registry.create("mediapipe").detect(np.full((240, 320, 3), 128, np.uint8)) == []
