"""Diagnostic: can a model memorise a few hundred FER2013 training faces under each augmentation?

A model that cannot fit 256 images in a few hundred steps will not learn FER2013 either. This
probe trains a fresh model on a fixed, shuffled subset of the Training split (plain loop, AdamW,
batch 32, HE-normalised crops through fertk's own batch pipeline, as ``fertk train`` feeds them) once per augmentation setting and prints the training
accuracy and loss over the last 50 steps of each. It is how the leaderboard's MobileNetV3-small
and EfficientNet-B0 entries were diagnosed (docs/benchmarks.md): they memorise the faces when
the crops are not shifted, or when their squeeze-and-excitation blocks are removed
(``--no-se``), and not at all with both.

    python benchmarks/memorise_probe.py --root /data/fer2013 --backbone timm:mobilenetv3_small_100
        [--backbone timm:resnet18] [--no-se] [--aug none --aug shift] [--images 256] [--steps 300]
        [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

#: Augmentation settings tried, by name: changes to the leaderboard recipe's augmentation
#: (shift + flip + ±10° rotation + ±10 % scale, HE illumination).
SETTINGS = {
    "none": {"shift": False, "flip": False, "rotate": 0.0, "scale": 0.0},
    "flip": {"shift": False, "flip": True, "rotate": 0.0, "scale": 0.0},
    "shift": {"shift": True, "flip": False, "rotate": 0.0, "scale": 0.0},
    "recipe": {},
}


def drop_squeeze_excite(model: torch.nn.Module) -> int:
    """Replace every squeeze-and-excitation block (timm's ``SqueezeExcite``) by an identity."""
    n = 0
    for mod in list(model.modules()):
        for key, child in list(mod.named_children()):
            if type(child).__name__ in ("SqueezeExcite", "SEModule"):
                setattr(mod, key, torch.nn.Identity())
                n += 1
    return n


def probe(backbone: str, crops: torch.Tensor, labels: torch.Tensor, augment, steps: int,
          no_se: bool, seed: int = 0) -> tuple[float, float, float]:
    """(accuracy, loss) over the last 50 steps and seconds, training a fresh model."""
    import fertk
    from fertk.backbones.base import input_spec_of
    from fertk.training.batching import BatchPipeline

    torch.manual_seed(seed)
    model = fertk.create("backbones", backbone, num_classes=7, input_size=48)
    if no_se and not drop_squeeze_excite(model):
        raise SystemExit(f"--no-se: {backbone} has no squeeze-and-excitation blocks")
    pipe = BatchPipeline(input_spec_of(model), augment, "cpu", False)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    g = torch.Generator().manual_seed(seed)
    model.train()
    accs, losses, t = [], [], time.perf_counter()
    for _ in range(steps):
        j = torch.randint(0, len(labels), (32,), generator=g)
        out = model(pipe.train(crops[j], g))
        loss = F.cross_entropy(out, labels[j])
        opt.zero_grad()
        loss.backward()
        opt.step()
        accs.append(float((out.argmax(1) == labels[j]).float().mean()))
        losses.append(loss.item())
    return float(np.mean(accs[-50:])), float(np.mean(losses[-50:])), time.perf_counter() - t


def main() -> None:
    import dataclasses

    from fertk.training.arrays import illuminate, load_data
    from fertk.training.config import build_config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="FER2013 folder (any layout fertk prepare reads)")
    ap.add_argument("--backbone", action="append", required=True)
    ap.add_argument("--no-se", action="store_true", help="also each model without its SE blocks")
    ap.add_argument("--aug", action="append", choices=list(SETTINGS),
                    help="augmentation settings to try (repeatable; default: all)")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # the leaderboard's data preparation and augmentation (examples/configs/leaderboard/*.yaml)
    cfg = build_config({"preset": "default", "data": {
        "dataset": "fer2013", "root": args.root, "detector": "none", "crop": "box",
        "crop_options": {"margin": 0.25}}, "protocol": {"kind": "standard"},
        "frame": {"augment": {"illumination": "he", "test_illumination": "he"}}})
    ds = load_data(cfg.data, progress=False)
    train = np.flatnonzero(np.char.startswith(ds.subjects.astype(str), "Training/"))
    idx = np.random.default_rng(0).choice(train, args.images, replace=False)  # folders are class-ordered
    crops = torch.from_numpy(np.ascontiguousarray(illuminate(ds.crops[idx], "he")))  # as trained
    labels = torch.from_numpy(ds.labels[idx]).long()
    prior = float(np.bincount(labels.numpy()).max() / len(labels))
    print(f"{args.images} shuffled Training faces (majority class {100 * prior:.1f} %), "
          f"{args.steps} steps of batch 32, AdamW lr 0.002, {args.threads} threads; "
          "training accuracy and loss over the last 50 steps\n")
    print("| model | augmentation | train accuracy % | loss | seconds |")
    print("|---|---|---:|---:|---:|")
    for backbone in args.backbone:
        for no_se in (False, True) if args.no_se else (False,):
            for name in args.aug or list(SETTINGS):
                change = SETTINGS[name]
                augment = dataclasses.replace(cfg.frame.augment, **change)
                acc, loss, sec = probe(backbone, crops, labels, augment, args.steps, no_se)
                label = backbone + (" without SE" if no_se else "")
                print(f"| {label} | {name} | {100 * acc:.1f} | {loss:.3f} | {sec:.0f} |", flush=True)


if __name__ == "__main__":
    main()
