"""Rebuild ``group.jpg``: a composite "group photo" of real public-domain portraits.

Run once by hand (``python tests/data/make_group_photo.py``); the output is committed. The
tiles are head-and-shoulders cuts of scikit-image's ``astronaut`` (Eileen Collins, NASA,
public domain) and matplotlib's ``grace_hopper.jpg`` (US Navy, public domain) at several
scales, one of them mirrored, so the faces have different sizes (about 55 to 130 px wide).
The face boxes expected by the tests are printed and stored in ``group.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import matplotlib.cbook as cbook
import numpy as np
from skimage import data

HERE = Path(__file__).parent


def main() -> None:
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:300, 90:370]
    hopper = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))[40:460, 90:460]
    # (tile, scale, mirror)
    tiles = [
        (astronaut, 1.4, False),
        (hopper, 0.5, False),
        (astronaut, 0.6, True),
        (hopper, 0.3, True),
        (astronaut, 0.95, False),
    ]
    pieces = []
    for img, scale, mirror in tiles:
        t = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        pieces.append(t[:, ::-1] if mirror else t)
    height = max(p.shape[0] for p in pieces)
    gap = 12
    width = sum(p.shape[1] for p in pieces) + gap * (len(pieces) + 1)
    canvas = np.full((height + 2 * gap, width, 3), (180, 186, 190), np.uint8)
    x = gap
    offsets = []
    for p in pieces:
        y = canvas.shape[0] - gap - p.shape[0]  # bottom-aligned, like people standing in a row
        canvas[y : y + p.shape[0], x : x + p.shape[1]] = p
        offsets.append((x, y, p.shape[1], p.shape[0]))
        x += p.shape[1] + gap
    cv2.imwrite(str(HERE / "group.jpg"), canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])
    (HERE / "group.json").write_text(json.dumps({"tiles": offsets}, indent=1) + "\n")
    print(canvas.shape, offsets)


if __name__ == "__main__":
    main()
