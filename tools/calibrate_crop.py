"""Choose the ``box`` crop options that make fertk's input match fer's own face crops.

For the committed photos and every 16th frame of the demo video, compare the bundled model's
probabilities on (a) fer's crop (Haar box, squared, +10 px, resize 64) and (b) fertk's dlib
box + ``box`` crop policy with a grid of ``margin``/``shift`` values; print the mean L1
distance and the top-1 agreement. The bundled metadata uses the best setting
(``margin=0.2, shift=-0.12``: L1 0.269, agreement 0.97 on 33 faces). See docs/weights.md.

    python tools/calibrate_crop.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_parity_reference import MEDIA, PHOTOS, fer_crops  # noqa: E402

import fertk  # noqa: E402
from fertk.checkpoint import build_from_checkpoint, load_checkpoint  # noqa: E402
from fertk.preprocess import FrameTransform  # noqa: E402


def main() -> None:
    ckpt = load_checkpoint("minixception-fer2013")
    net, _ = build_from_checkpoint(ckpt)
    transform = FrameTransform(ckpt.input_spec)
    detector = fertk.create("detectors", "dlib")
    images = [cv2.imread(str(MEDIA / p)) for p in PHOTOS]
    cap = cv2.VideoCapture(str(MEDIA / "pexels_wolfgang_langer.mp4"))
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if index % 16 == 0:
            images.append(frame)
        index += 1

    def probs(crops: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(net(transform(crops)), 1).numpy()

    ref, faces = [], []
    for image in images:
        fer_faces, found = fer_crops(image), detector.detect(image)
        if fer_faces and found:
            ref.append(probs(fer_faces[0][None])[0])
            faces.append((image, found[0]))
    ref_arr = np.array(ref)
    print(f"{len(ref_arr)} faces")
    for margin in (0.0, 0.1, 0.2, 0.3):
        for shift in (0.0, -0.06, -0.12):
            policy = fertk.create("crops", "box", margin=margin, shift=shift)
            p = np.array([probs(policy.crop(im, f).image[None])[0] for im, f in faces])
            l1 = np.abs(p - ref_arr).sum(1).mean()
            agree = (p.argmax(1) == ref_arr.argmax(1)).mean()
            print(f"| margin={margin} | shift={shift} | L1 {l1:.3f} | top-1 agreement {agree:.2f} |")


if __name__ == "__main__":
    main()
