"""Fixtures of the run tests: real face videos made from a real photo, a saved checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parent.parent / "data"
CLASSES = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]


def astronaut_face() -> np.ndarray:
    """Head and shoulders of scikit-image's astronaut (Eileen Collins, public domain), BGR."""
    import cv2

    path = DATA / "astronaut.png"
    if path.is_file():
        img = cv2.imread(str(path))
    else:  # pragma: no cover - FACES commits tests/data/astronaut.png
        from skimage import data

        img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    face = img[10:250, 130:330]
    return cv2.resize(face, None, fx=0.55, fy=0.55, interpolation=cv2.INTER_AREA)  # ~110x132


def make_frames(n: int, *, size=(320, 240), faces: int = 1, blank: set[int] = frozenset(),
                step: int = 2) -> list[np.ndarray]:
    """``n`` frames with ``faces`` copies of the face moving ``step`` px per frame.

    The second face (mirrored) moves the other way; frames in ``blank`` hold no face.
    """
    face = astronaut_face()
    fh, fw = face.shape[:2]
    w, h = size
    frames = []
    for i in range(n):
        canvas = np.full((h, w, 3), 60, np.uint8)
        if i not in blank:
            x = 10 + step * i
            canvas[40:40 + fh, x:x + fw] = face
            if faces == 2:
                x2 = w - fw - 10 - step * i
                canvas[60:60 + fh, x2:x2 + fw] = face[:, ::-1]
        frames.append(canvas)
    return frames


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Real videos written with OpenCV: one face (frames 12-14 blank), two faces, junk."""
    from fertk.io.video import write_video

    root = tmp_path_factory.mktemp("media")
    one = write_video(root / "one.mp4", make_frames(24, blank={12, 13, 14}), fps=12)
    two = write_video(root / "two.mp4", make_frames(16, size=(400, 240), faces=2, step=3), fps=12)
    junk = root / "broken.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    return {"one": one, "two": two, "junk": junk, "root": root}


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A compact_tiny + GRU checkpoint with random weights (speed/plumbing, not accuracy)."""
    import torch

    import fertk
    from fertk.backbones.base import input_spec_of
    from fertk.checkpoint import save_checkpoint

    torch.manual_seed(0)
    net = fertk.create("backbones", "compact_tiny", num_classes=len(CLASSES))
    head = fertk.create("temporal", "gru", num_classes=len(CLASSES), input_dim=len(CLASSES))
    base = tmp_path_factory.mktemp("ckpt") / "tiny_gru"
    save_checkpoint(base, {"backbone": net.state_dict(), "temporal": head.state_dict()}, {
        "classes": CLASSES,
        "backbone": {"name": "compact_tiny", "options": {}},
        "temporal": {"name": "gru", "options": {}},
        "crop": {"name": "landmark", "options": {}},
        "detector": "dlib",
        "input_spec": input_spec_of(net),
    })
    return base
