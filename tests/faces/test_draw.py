"""fertk.draw: boxes, landmarks and labels land where they should, in place or on a copy."""

from __future__ import annotations

import numpy as np

from fertk.draw import color_for, draw_crop_region, draw_faces, draw_label, ensure_bgr
from fertk.types import Face


def test_draw_faces_on_copy():
    img = np.zeros((200, 300), np.uint8)
    face = Face(box=(50, 40, 150, 160), landmarks=np.array([[100.0, 100.0], [80, 70]]), scheme=None)
    out = draw_faces(img, [face], labels=["happy 0.91"])
    assert out.shape == (200, 300, 3) and img.max() == 0  # gray input untouched
    assert (out[40, 60:140] > 0).any() and (out[159, 60:140] > 0).any()  # box edges
    assert out[100, 100].any() and out[70, 80].any()  # landmark dots
    assert out[190:, :].max() == 0 and out[:, 200:].max() == 0  # nothing far away
    assert (out[:40, 50:150] > 0).any()  # label above the box


def test_label_stays_inside_image_and_crop_outline():
    img = np.zeros((100, 100, 3), np.uint8)
    draw_label(img, "surprise", (90, 2))
    ys, xs = np.nonzero(img.any(axis=2))
    assert ys.min() >= 0 and xs.max() < 100 and len(xs) > 50
    assert color_for(None) != color_for(1) and color_for(1) == color_for(9)
    canvas = ensure_bgr(np.zeros((100, 100), np.uint8))
    m = np.array([[2.0, 0, -40], [0, 2.0, -40]])  # crop of size 20 covers image 20..30
    draw_crop_region(canvas, m, 20)
    assert canvas[20, 25].any() and canvas[25, 25].max() == 0
