"""Crop geometry: synthetic landmarks (borders, rotation, scale) and the real astronaut photo."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from fertk.errors import FertkError
from fertk.types import Face

# A synthetic dlib68-like layout: points on an ellipse, eyes and nose placed like a face.
_T = np.linspace(0, 2 * np.pi, 68, endpoint=False)
CANON = np.stack([40 * np.cos(_T), 50 * np.sin(_T)], axis=1)  # dh = 80, dv = 100
CANON[36:42] = [-18, -15] + np.stack([4 * np.cos(_T[:6]), 2 * np.sin(_T[:6])], 1)
CANON[42:48] = [18, -15] + np.stack([4 * np.cos(_T[:6]), 2 * np.sin(_T[:6])], 1)
CANON[30] = [0, 8]


def make_face(center=(200.0, 150.0), scale=1.0, angle_deg=0.0) -> Face:
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    pts = (CANON * scale) @ rot.T + np.asarray(center)
    lo, hi = pts.min(0), pts.max(0)
    return Face(box=(lo[0], lo[1], hi[0], hi[1]), landmarks=pts, scheme="dlib68")


def scene(face: Face, shape=(300, 400)) -> np.ndarray:
    """A gray image with a bright blob at each landmark (so crops can be checked by pixels)."""
    img = np.full(shape, 60, np.uint8)
    for x, y in face.landmarks:
        cv2.circle(img, (round(x), round(y)), 2, 255, -1)
    return img


@pytest.fixture
def crops(registries):
    return registries["crops"]


def test_landmark_crop_side_and_centre(crops):
    face = make_face()
    pol = crops.create("landmark")
    c = pol.crop(scene(face), face)
    assert c.image.shape == (120, 120) and c.image.dtype == np.uint8 and c.policy == "landmark"
    # L = 1.05 * max(dv=100, dh=80) = 105 px of image per 120 px of crop
    assert np.sqrt(abs(np.linalg.det(c.matrix[:, :2]))) == pytest.approx(120 / 105)
    np.testing.assert_allclose(c.to_crop(face.landmarks[30]), [[59.5, 59.5]], atol=1e-9)
    # round trip crop <-> image
    np.testing.assert_allclose(c.to_image(c.to_crop(face.landmarks)), face.landmarks, atol=1e-9)
    # the pixels agree with the matrix: every landmark blob is bright in the crop
    for x, y in c.to_crop(face.landmarks):
        if 1 <= x < 119 and 1 <= y < 119:
            assert c.image[round(y), round(x)] > 150


def test_alpha_and_size_options(crops):
    face = make_face()
    c = crops.create("landmark", alpha=1.5, size=64).crop(scene(face), face)
    assert c.image.shape == (64, 64)
    assert np.sqrt(abs(np.linalg.det(c.matrix[:, :2]))) == pytest.approx(64 / 150)
    np.testing.assert_allclose(c.to_crop(face.landmarks[30]), [[31.5, 31.5]])


def test_crop_past_the_border_is_padded_not_shifted(crops):
    face = make_face(center=(20.0, 25.0))  # nose near the top-left corner
    img = scene(face)
    c = crops.create("landmark").crop(img, face)
    np.testing.assert_allclose(c.to_crop(face.landmarks[30]), [[59.5, 59.5]])  # not shifted
    # nose at (20, 33): image x < 0 maps to crop x < 59.5 - 20*120/105 ≈ 36.6 and y < 0 to
    # crop y < 59.5 - 33*120/105 ≈ 21.8: padded black (constant border)
    assert (c.image[:, :35] == 0).all() and (c.image[:20, :] == 0).all()
    assert (c.image[25:, 40:] > 0).all()
    assert (c.image[70:, 70:] > 0).all()  # inside the image: the gray background (60) or blobs
    rep = crops.create("landmark", border="replicate").crop(img, face)
    assert (rep.image[:, :30] > 0).all()  # edge pixels repeated instead
    np.testing.assert_array_equal(rep.image[70:, 70:], c.image[70:, 70:])
    with pytest.raises(FertkError, match="border"):
        crops.create("landmark", border="wrap")


def test_scale_invariance(crops):
    small, big = make_face(scale=1.0, center=(200, 150)), make_face(scale=3.0, center=(600, 450))
    pol = crops.create("landmark")
    a = pol.crop(scene(small, (300, 400)), small)
    b_img = cv2.resize(scene(small, (300, 400)), None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)
    b = pol.crop(b_img, big)
    np.testing.assert_allclose(a.to_crop(small.landmarks), b.to_crop(big.landmarks), atol=1e-6)
    # same picture (the 3x face is reduced with INTER_AREA first: little aliasing)
    assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 6


def test_rotation_landmark_vs_aligned(crops):
    upright = make_face()
    tilted = make_face(angle_deg=25.0)
    img = scene(tilted)
    lm_crop = crops.create("landmark").crop(img, tilted)
    al_crop = crops.create("aligned").crop(img, tilted)
    eyes = lambda c, f: (c.to_crop(f.landmarks[36:42]).mean(0), c.to_crop(f.landmarks[42:48]).mean(0))  # noqa: E731
    le, re = eyes(lm_crop, tilted)
    assert abs(re[1] - le[1]) > 10  # the plain landmark crop keeps the tilt
    le, re = eyes(al_crop, tilted)
    assert abs(re[1] - le[1]) < 1e-6 and re[0] > le[0]  # aligned: eye line horizontal
    np.testing.assert_allclose(al_crop.to_crop(tilted.landmarks[30]), [[59.5, 59.5]], atol=1e-9)
    # the aligned crop of the tilted face equals the landmark crop of the upright face
    up = crops.create("landmark").crop(scene(upright), upright)
    np.testing.assert_allclose(al_crop.to_crop(tilted.landmarks), up.to_crop(upright.landmarks), atol=1e-6)
    assert np.abs(al_crop.image.astype(int) - up.image.astype(int)).mean() < 8
    from fertk.crops.policies import AlignedCrop

    assert AlignedCrop.eye_angle(tilted) == pytest.approx(25.0)


def test_box_crop(crops):
    face = Face(box=(100, 50, 200, 130))  # 100 x 80
    c = crops.create("box").crop(np.zeros((300, 400, 3), np.uint8), face)
    assert np.sqrt(abs(np.linalg.det(c.matrix[:, :2]))) == pytest.approx(120 / 110)
    np.testing.assert_allclose(c.to_crop([149.5, 89.5]), [[59.5, 59.5]])
    shifted = crops.create("box", shift=0.1, margin=0.5).crop(np.zeros((300, 400), np.uint8), face)
    np.testing.assert_allclose(shifted.to_crop([149.5, 97.5]), [[59.5, 59.5]])


def test_landmark_crop_errors(crops):
    with pytest.raises(FertkError, match="needs landmarks"):
        crops.create("landmark").crop(np.zeros((50, 50), np.uint8), Face(box=(0, 0, 10, 10)))
    bad = Face(box=(0, 0, 10, 10), landmarks=np.zeros((5, 2)), scheme="dlib68")
    with pytest.raises(FertkError, match="68 points"):
        crops.create("aligned").crop(np.zeros((50, 50), np.uint8), bad)


def test_real_photo_landmark_crop_centres_nose_and_puts_eyes_up(crops, astronaut, astronaut_face):
    import dlib

    from fertk.detectors.dlib_detector import model_path

    c = crops.create("landmark").crop(astronaut, astronaut_face)
    assert c.image.shape == (120, 120) and c.image.dtype == np.uint8
    # independent check on the crop's pixels: run dlib's shape predictor on the crop itself
    predictor = dlib.shape_predictor(model_path("68"))
    x1, y1, x2, y2 = astronaut_face.box
    corners = c.to_crop(np.array([[x1, y1], [x2, y2]]))
    rect = dlib.rectangle(*[round(v) for v in corners.ravel()])
    rgb = np.ascontiguousarray(np.repeat(c.image[:, :, None], 3, axis=2))
    pts = np.array([(p.x, p.y) for p in predictor(rgb, rect).parts()], float)
    assert np.hypot(*(pts[30] - 59.5)) <= 2.0  # nose tip within 2 px of the crop centre
    assert (pts[36:48, 1] < 60).all()  # both eyes in the upper half
    left, right = pts[36:42].mean(0), pts[42:48].mean(0)
    assert left[0] < 60 < right[0]
    # the network's central 96x96 still contains both eyes and the mouth
    assert c.center(96).shape == (96, 96)
    mapped = c.to_crop(astronaut_face.landmarks)
    assert ((mapped[36:68] > 12) & (mapped[36:68] < 108)).all()


def test_real_photo_all_policies(crops, astronaut, astronaut_face):
    for name in ("landmark", "aligned", "box"):
        c = crops.create(name).crop(astronaut, astronaut_face)
        assert c.image.shape == (120, 120) and c.policy == name
        nose = c.to_crop(astronaut_face.landmarks[30])[0]
        assert np.hypot(*(nose - 59.5)) < 12  # box crop: box centre is near the nose too
        assert c.image.std() > 20  # a face, not padding


def test_landmark_shift_moves_the_centre_down_the_face(crops):
    """``shift`` moves the crop centre by that fraction of the side along the face's
    downward axis: for the upright face the nose lands that much higher in the crop."""
    from fertk.types import get_scheme

    pts = np.array([[40.0 + 20 * np.cos(a), 50.0 + 25 * np.sin(a)] for a in np.linspace(0, 6, 68)])
    nose = get_scheme("dlib68").nose
    pts[nose] = (40.0, 52.0)
    face = Face(box=(20, 25, 60, 75), landmarks=pts, scheme="dlib68")
    img = np.zeros((100, 100), np.uint8)
    plain = crops.create("landmark", alpha=1.2).crop(img, face)
    moved = crops.create("landmark", alpha=1.2, shift=0.1).crop(img, face)
    side_px = 120  # crop size: the shift is 0.1 of the side, i.e. 12 crop pixels
    p0 = plain.matrix @ np.array([40.0, 52.0, 1.0])
    p1 = moved.matrix @ np.array([40.0, 52.0, 1.0])
    assert np.allclose(p0, [59.5, 59.5], atol=1e-6)
    assert np.allclose(p1 - p0, [0.0, -0.1 * side_px], atol=1e-6)
    assert crops.create("landmark", shift=0.1).options()["shift"] == 0.1
