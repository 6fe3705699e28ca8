"""Calibrate and check the run-time crop of models trained on FER2013's whole 48x48 images.

FER2013-trained models (``examples/configs/fer2013_*.yaml``) see, in the centre 96x96 of their
120x120 crop, exactly one FER2013 image (``box`` crop of the whole image, margin 0.25). At run
time the face comes from a detector instead. This tool finds the ``box`` (margin, shift) and
``landmark`` (alpha, shift) options under which a dlib detection reproduces that framing:

1. **calibrate** on PublicTest (FER2013's selection split): every image is upscaled 4x and
   padded (so that dlib sees a face with context, as in a photo), dlib finds the face and its
   68 landmarks, and each image's own ideal options are computed; the medians are the choice,
   the interquartile ranges say how consistently each policy frames FER2013's faces;
2. **check** on PrivateTest (``--check-split``) with a trained checkpoint: accuracy with the
   whole image (the training crop) against dlib + each calibrated policy (``box``,
   ``landmark`` and ``aligned``: the landmark crop turned to level the eyes), and how many
   faces dlib found.

FER+ (``--dataset ferplus``) has FER2013's images, so the same framing; its labels are the
majority of ten votes, and decisions are read on its Valid split (``--check-split PublicTest``).

    python tools/calibrate_fer_crop.py --root /data/fer2013 [--checkpoint NAME|PATH] [--limit N]
    python tools/calibrate_fer_crop.py --dataset ferplus --root /data/ferplus \
        --checkpoint compact-ferplus --check-split PublicTest

Prints one JSON document (the numbers in docs/weights.md come from it).
"""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np

import fertk
from fertk.types import Face, get_scheme

SCALE, PAD = 4, 64  # 48 px → 192 px, plus 64 px of replicated border on each side


def detect(detector, img48: np.ndarray) -> Face | None:
    """dlib on the upscaled, padded image; the face in 48-px image coordinates (or None)."""
    big = cv2.resize(img48, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(big, PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE)
    faces = detector.detect(big)
    if not faces:
        return None
    f = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    box = (np.asarray(f.box, np.float64) - PAD) / SCALE
    lm = None if f.landmarks is None else (np.asarray(f.landmarks, np.float64) - PAD) / SCALE
    return Face(box=tuple(box), score=f.score, landmarks=lm, scheme=f.scheme)


def ideal(face: Face, side: int = 48) -> dict[str, float]:
    """Per image: the options under which the crop's centre 96/120 is exactly the image."""
    x1, y1, x2, y2 = face.box
    bw, bh = x2 - x1, y2 - y1
    crop_side = 1.25 * side  # the training crop: the whole image plus 12.5 % each side
    centre = np.array([side / 2.0 - 0.5, side / 2.0 - 0.5])
    out = {"box_margin": crop_side / max(bw, bh) - 1.0,
           "box_shift": (centre[1] - ((y1 + y2) / 2.0 - 0.5)) / bh}
    if face.landmarks is not None:
        pts = np.asarray(face.landmarks)
        ext = pts.max(0) - pts.min(0)
        nose = pts[get_scheme(face.scheme or "dlib68").nose]
        out["landmark_alpha"] = crop_side / float(max(ext))
        out["landmark_shift"] = (centre[1] - nose[1]) / crop_side
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--dataset", default="fer2013", choices=("fer2013", "ferplus"))
    ap.add_argument("--checkpoint", default=None, help="trained FER2013 or FER+ model to check")
    ap.add_argument("--check-split", default="PrivateTest", choices=("PublicTest", "PrivateTest"),
                    help="the split the checkpoint is checked on (PublicTest: for decisions)")
    ap.add_argument("--limit", type=int, default=None,
                    help="at most this many images per split, drawn at random (seed 0) across all "
                         "classes: the data set lists its images class by class")
    args = ap.parse_args()
    detector = fertk.create("detectors", "dlib", upsample=0)

    def split(usage: str):
        ds = fertk.create("datasets", args.dataset, root=args.root, usage=usage)
        samples = ds.samples()
        if args.limit and args.limit < len(samples):  # a random draw: the list is class by class
            keep = np.random.default_rng(0).choice(len(samples), args.limit, replace=False)
            samples = [samples[i] for i in sorted(keep)]
        return ds, samples

    ds, samples = split("PublicTest")
    per = [ideal(f) for s in samples if (f := detect(detector, _gray(ds.read_frame(s.paths[0]))))]
    stats = {}
    for key in ("box_margin", "box_shift", "landmark_alpha", "landmark_shift"):
        v = np.array([p[key] for p in per if key in p])
        q1, med, q3 = np.percentile(v, [25, 50, 75])
        stats[key] = {"median": round(float(med), 3), "iqr": round(float(q3 - q1), 3),
                      "iqr_rel": round(float((q3 - q1) / abs(med)) if med else 0.0, 3)}
    report = {"calibration": {"split": "PublicTest", "images": len(samples), "found": len(per),
                              "options": stats}}
    if args.checkpoint:
        report["check"] = check(args.checkpoint, detector, *split(args.check_split), stats,
                                args.check_split)
    print(json.dumps(report, indent=1))


def _gray(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def check(checkpoint: str, detector, ds, samples, stats, split: str = "PrivateTest") -> dict:
    import torch

    from fertk.checkpoint import build_from_checkpoint, load_checkpoint
    from fertk.preprocess import FrameTransform
    from fertk.training.arrays import illuminate

    ckpt = load_checkpoint(checkpoint)
    net, _ = build_from_checkpoint(ckpt)
    ft = FrameTransform(ckpt.input_spec)
    ill = ckpt.metadata.get("illumination") or "none"
    policies = {
        "whole image (training crop)": None,
        "box": fertk.create("crops", "box", margin=stats["box_margin"]["median"],
                            shift=stats["box_shift"]["median"]),
        "landmark": fertk.create("crops", "landmark", alpha=stats["landmark_alpha"]["median"],
                                 shift=stats["landmark_shift"]["median"]),
        "aligned": fertk.create("crops", "aligned", alpha=stats["landmark_alpha"]["median"],
                                shift=stats["landmark_shift"]["median"]),
    }
    whole = fertk.create("crops", "box", margin=0.25)
    index = {c: i for i, c in enumerate(ckpt.classes)}
    crops = {k: [] for k in policies}
    labels, found, hit = [], 0, []
    for s in samples:
        img = _gray(ds.read_frame(s.paths[0]))
        face = detect(detector, img)
        labels.append(index[ds.classes[s.label]])
        crops["whole image (training crop)"].append(whole.crop(img, Face(box=(0, 0, 48, 48))).image)
        found += face is not None
        hit.append(face is not None)
        for name, pol in policies.items():
            if pol is None:
                continue
            crops[name].append(pol.crop(img, face).image if face is not None else None)
    labels = np.asarray(labels)
    out = {"split": split, "images": len(samples), "dlib_found": found}
    for name, cs in crops.items():
        ok = np.array([c is not None for c in cs])
        x = illuminate(np.stack([c for c in cs if c is not None]), ill)
        with torch.no_grad():
            pred = net(ft(torch.from_numpy(x))).argmax(1).numpy()
        correct = (pred == labels[ok]).sum()
        out[name] = {"accuracy_on_found": round(float(correct / ok.sum()), 4),
                     "accuracy_all_missed_wrong": round(float(correct / len(labels)), 4)}
        if ok.all() and found:  # the training crop on the images dlib found: like for like
            same = np.asarray(hit)
            out[name]["accuracy_on_dlib_found"] = round(float((pred[same] == labels[same]).mean()), 4)
    return out


if __name__ == "__main__":
    main()
