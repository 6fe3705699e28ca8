"""Benchmark of the faces stage: time per 640x480 frame of each detector and crop policy.

    python benchmarks/bench_faces.py            # full run (lead, quiet machine)
    python benchmarks/bench_faces.py --quick    # smoke run: few repeats

The frame is the astronaut photo (tests/data) scaled into a 640x480 canvas (one face, about
90 px). Detectors from plugins (mediapipe, insightface) are included when installed and
usable (insightface needs its model pack). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from fertk.errors import FertkError
from fertk.io.images import read_image
from fertk.plugins import get_registry

ROOT = Path(__file__).resolve().parents[1]

DETECTORS = [
    ("dlib", {}, "HOG, upsample 1, 68 landmarks (default)"),
    ("dlib", {"upsample": 0}, "HOG, upsample 0, 68 landmarks"),
    ("dlib", {"landmarks": 0}, "HOG, upsample 1, boxes only"),
    ("dlib", {"model": "cnn", "upsample": 0}, "CNN (MMOD), upsample 0"),
    ("opencv", {}, "Haar cascade, boxes only"),
    ("mediapipe", {}, "face detection + mesh (478)"),
    ("mediapipe", {"mesh": False}, "face detection only (6 keypoints)"),
    ("insightface", {}, "SCRFD (buffalo_l det_10g), 5 points"),
]
CROPS = ["landmark", "aligned", "box"]


def frame() -> np.ndarray:
    img = read_image(ROOT / "tests" / "data" / "astronaut.png")
    canvas = np.zeros((480, 640, 3), np.uint8)
    canvas[:, 80:560] = cv2.resize(img, (480, 480), interpolation=cv2.INTER_AREA)
    return canvas


def time_it(fn, repeats: int, warmup: int = 1) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, min(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few repeats, smoke test")
    args = ap.parse_args()
    repeats = 3 if args.quick else 20
    img = frame()
    registry = get_registry("detectors")
    print(f"Faces benchmark, 640x480 frame, {platform.processor() or platform.machine()}, "
          f"cv2 threads {cv2.getNumThreads()}, {repeats} repeats (median / best)\n")
    print("| detector | options | faces | landmarks | ms / frame (median) | best ms | fps |")
    print("|---|---|---|---|---|---|---|")
    reference = None
    for name, opts, note in DETECTORS:
        if name not in registry:
            print(f"| {name} | {note} | - | - | not installed | | |")
            continue
        try:
            det = registry.create(name, **opts)
        except FertkError as exc:
            print(f"| {name} | {note} | - | - | unavailable: {str(exc)[:60]}… | | |")
            continue
        reps = max(2, repeats // 5) if opts.get("model") == "cnn" else repeats
        faces = det.detect(img)
        med, best = time_it(lambda d=det: d.detect(img), reps)
        lm = faces[0].landmarks.shape[0] if faces and faces[0].landmarks is not None else 0
        if name == "dlib" and not opts:
            reference = faces[0] if faces else None
        print(f"| {name} | {note} | {len(faces)} | {lm} | {med:.1f} | {best:.1f} | {1000 / med:.1f} |")
    print()
    if reference is None:
        print("(no dlib face: crop timings skipped)")
        return
    print("| crop policy | output | ms / crop (median) | best ms |")
    print("|---|---|---|---|")
    crops = get_registry("crops")
    for name in CROPS:
        pol = crops.create(name)
        out = pol.crop(img, reference)
        med, best = time_it(lambda p=pol: p.crop(img, reference), repeats * 10)
        print(f"| {name} | {out.image.shape[0]}x{out.image.shape[1]} {out.image.dtype} gray | {med:.3f} | {best:.3f} |")


if __name__ == "__main__":
    main()
