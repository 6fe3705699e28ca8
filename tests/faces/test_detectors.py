"""Detectors on real photographs: dlib (HOG, CNN, 68/5 points), OpenCV Haar; size order."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from fertk.errors import FertkError

# Where the astronaut's face is (checked by eye; dlib, OpenCV and mediapipe agree).
FACE_REGION = (165, 60, 285, 190)


def _inside(box, region, tol=0.0):
    x1, y1, x2, y2 = box
    return x1 >= region[0] - tol and y1 >= region[1] - tol and x2 <= region[2] + tol and y2 <= region[3] + tol


def _iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_dlib_finds_astronaut_with_68_landmarks_in_box(astronaut_face):
    face = astronaut_face
    assert face.scheme == "dlib68" and face.landmarks.shape == (68, 2)
    assert _inside(face.box, FACE_REGION)
    assert face.width > 80 and face.height > 80
    x1, y1, x2, y2 = face.box
    lm = face.landmarks
    assert (lm[:, 0] >= x1).all() and (lm[:, 0] <= x2).all()
    assert (lm[:, 1] >= y1).all() and (lm[:, 1] <= y2).all()
    # anatomy: eyes above the nose tip, mouth below, left eye left of the right eye
    left, right, nose, mouth = lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48:68].mean(0)
    assert left[0] < nose[0] < right[0]
    assert max(left[1], right[1]) < nose[1] < mouth[1]


def test_dlib_raw_rectangle_is_close_to_landmarks(registries, astronaut):
    face = registries["detectors"].create("dlib", fit_box=False).detect(astronaut)[0]
    x1, y1, x2, y2 = face.box
    tol = 0.15 * face.width  # dlib's rectangle is tight: the chin may stick out a little
    lm = face.landmarks
    assert (lm[:, 0] >= x1 - tol).all() and (lm[:, 0] <= x2 + tol).all()
    assert (lm[:, 1] >= y1 - tol).all() and (lm[:, 1] <= y2 + tol).all()


def test_dlib_five_points_and_boxes_only(registries, astronaut):
    five = registries["detectors"].create("dlib", landmarks=5).detect(astronaut)
    assert len(five) == 1 and five[0].scheme == "dlib5" and five[0].landmarks.shape == (5, 2)
    boxes = registries["detectors"].create("dlib", landmarks=0).detect(astronaut)
    assert len(boxes) == 1 and boxes[0].landmarks is None


def test_dlib_threshold_drops_the_mission_patch(registries, astronaut):
    # dlib's own default threshold (0.0) also "finds" the round mission patch (score ~0.12)
    loose = registries["detectors"].create("dlib", threshold=0.0, landmarks=0).detect(astronaut)
    assert len(loose) == 2 and _inside(loose[0].box, FACE_REGION)
    assert not _inside(loose[1].box, FACE_REGION) and loose[1].score < 0.2


def test_dlib_cnn_model(registries, astronaut):
    # the MMOD CNN is slow on CPU: run it on the head-and-shoulders region only
    region = np.ascontiguousarray(astronaut[0:256, 96:352])
    faces = registries["detectors"].create("dlib", model="cnn", upsample=0).detect(region)
    assert len(faces) == 1 and faces[0].landmarks.shape == (68, 2)
    box = np.array(faces[0].box) + [96, 0, 96, 0]
    assert _inside(box, FACE_REGION, tol=5)


def test_dlib_gray_input_and_max_side(registries, dlib_detector, astronaut, astronaut_face):
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    faces = dlib_detector.detect(gray)
    assert len(faces) == 1 and _iou(faces[0].box, astronaut_face.box) > 0.8
    big = cv2.resize(astronaut, None, fx=2, fy=2)
    fast = registries["detectors"].create("dlib", max_side=512, upsample=1).detect(big)
    assert len(fast) == 1
    expected = np.array(astronaut_face.box) * 2
    assert _iou(fast[0].box, expected) > 0.7  # mapped back to the 1024 px image
    assert np.abs(fast[0].landmarks[30] - astronaut_face.landmarks[30] * 2).max() < 8


def test_opencv_finds_astronaut(registries, astronaut, astronaut_face):
    faces = registries["detectors"].create("opencv").detect(astronaut)
    assert len(faces) == 1
    assert faces[0].landmarks is None and faces[0].scheme is None
    assert _iou(faces[0].box, astronaut_face.box) > 0.6


def test_group_photo_every_face_found_sorted_by_size(dlib_detector, group_path, group_tiles):
    from fertk.io.images import read_image

    image = read_image(group_path)
    faces = dlib_detector.detect(image)
    assert len(faces) == len(group_tiles) == 5
    areas = [f.area for f in faces]
    assert areas == sorted(areas, reverse=True)
    # exactly one face in each tile, with its 68 landmarks inside the tile
    for x, y, w, h in group_tiles:
        inside = [f for f in faces if _inside(f.box, (x, y, x + w, y + h), tol=2)]
        assert len(inside) == 1, (x, y, w, h)
        assert inside[0].landmarks.shape == (68, 2)


def test_largest_and_min_size_options(registries, group_path):
    from fertk.io.images import read_image

    image = read_image(group_path)
    all_faces = registries["detectors"].create("opencv").detect(image)
    largest = registries["detectors"].create("opencv", largest=True).detect(image)
    assert len(largest) == 1 and largest[0].box == all_faces[0].box
    big = registries["detectors"].create("dlib", min_size=80, landmarks=0).detect(image)
    assert 1 <= len(big) < 5 and all(min(f.width, f.height) >= 80 for f in big)
    same = registries["detectors"].create("dlib", keep="largest").detect(image)
    assert len(same) == 1 and same[0].area >= big[0].area - 1


def test_bad_options_are_user_errors(registries):
    for name, opts in [("dlib", {"model": "yolo"}), ("dlib", {"landmarks": 7}),
                       ("opencv", {"cascade": "nope.xml"}), ("dlib", {"keep": "some"})]:
        with pytest.raises(FertkError):
            registries["detectors"].create(name, **opts)
    with pytest.raises(FertkError, match="uint8"):
        registries["detectors"].create("opencv").detect(np.zeros((10, 10, 3), np.float32))


def test_no_face_in_blank_image(dlib_detector, registries):
    blank = np.full((240, 320, 3), 127, np.uint8)
    assert dlib_detector.detect(blank) == []
    assert registries["detectors"].create("opencv").detect(blank) == []


def test_listing_detectors_imports_nothing_heavy():
    code = (
        "import json, sys, fertk.cli\n"
        "from fertk.plugins import get_registry\n"
        "names = get_registry('detectors').names() + get_registry('crops').names()\n"
        "heavy = [m for m in ('cv2', 'dlib', 'torch', 'onnxruntime', 'mediapipe') if m in sys.modules]\n"
        "print(json.dumps({'names': names, 'heavy': heavy}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"dlib", "opencv", "landmark", "box", "aligned"} <= set(got["names"]), got["names"]
    assert got["heavy"] == [], f"listing detectors imported {got['heavy']}"


def test_dlib_fast_variant_shares_the_loaded_models(registries):
    """One model load: the fast variant (no upsampling) reuses the detector's dlib models."""
    full = registries["detectors"].create("dlib")
    fast = full.fast()
    assert fast is not full and fast.upsample == 0 and full.upsample == 1
    assert fast._hog is full._hog and fast._predictor is full._predictor
    assert fast.options() == {**full.options(), "upsample": 0}


def test_dlib_model_files_are_found_without_importing_pkg_resources():
    import subprocess
    import sys

    code = ("import sys, os; from fertk.detectors.dlib_detector import model_path\n"
            "paths = [model_path(k) for k in ('68', '5', 'cnn')]\n"
            "print(all(os.path.isfile(p) for p in paths), 'pkg_resources' in sys.modules, "
            "'face_recognition_models' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False"], out.stdout + out.stderr
