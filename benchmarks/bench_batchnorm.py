"""Batch norm on small training sets: validation accuracy with and without ``frame.precise_bn``.

Trains each model from scratch with ``fertk train``'s frame stage on random FER2013 Training
subsets (1,000 and 3,000 images by default), selecting the epoch on a fixed random 1,000-image
PublicTest subset, once with ``frame.precise_bn: 0`` (the running statistics as the layers'
momentum left them: before the fix) and once with the default (statistics recomputed over
training batches before every validation). Everything else is the FER2013 recipe
(``examples/configs/fer2013_*.yaml``: default preset, HE, 48x48 input where the model takes
it). Prints a markdown table (the one in docs/training.md) and writes the JSON with
``--out``.

    python benchmarks/bench_batchnorm.py --root /data/fer2013 [--sizes 1000 3000] [--epochs 8]
        [--model minixception --model compact_bn@input_size=48 ...] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_MODELS = ("minixception", "compact_bn@input_size=48,drop=0.3",
                  "timm:mobilenetv3_small_050@input_size=48")


def subset(ds, sizes: dict[str, int], seed: int):
    """Random rows of each FER2013 usage (``<Usage>/<id>`` subjects), as an ArraySet."""
    from fertk.training.arrays import subset as take

    rng = np.random.default_rng(seed)
    usage = np.char.partition(ds.subjects.astype(str), "/")[:, 0]
    rows = [np.sort(rng.choice(np.flatnonzero(usage == u), n, replace=False)) for u, n in sizes.items()]
    return take(ds, np.concatenate(rows))


def run(model: str, options: dict, data, epochs: int, precise: int, out: Path) -> dict:
    from fertk.training.config import build_config
    from fertk.training.train import Trainer

    cfg = build_config({
        "name": "bn", "protocol": {"kind": "standard"},
        "model": {"backbone": model, "backbone_options": options, "temporal": None},
        "frame": {"epochs": epochs, "patience": epochs, "init": "default", "precise_bn": precise,
                  "augment": {"illumination": "he", "test_illumination": "he"}},
        "run": {"progress": False, "seed": 0},
    })
    t = time.perf_counter()
    Trainer(cfg, out=out, data=data).run()
    res = json.loads((out / "folds" / "standard" / "result.json").read_text())
    hist = res["frame"]["history"]
    return {"val_acc": [round(h["val_acc"], 4) for h in hist],
            "train_acc": [round(h["train_acc"], 4) for h in hist],
            "bn_check": [h.get("bn_check") for h in hist],
            "best_val": res["frame"]["val"]["accuracy"], "warnings": res["frame"]["warnings"],
            "seconds": round(time.perf_counter() - t, 1)}


def main() -> None:
    from bench_train import parse_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--model", action="append", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from fertk.data import prepare
    from fertk.training.arrays import as_array_set

    full = as_array_set(prepare("fer2013", args.root, crop="box", crop_options={"margin": 0.25},
                                progress=False))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.model or DEFAULT_MODELS:
            name, opts = parse_model(spec)
            for size in args.sizes:
                data = subset(full, {"Training": size, "PublicTest": 1000, "PrivateTest": 200}, seed=size)
                row = {"model": name, "options": opts, "train_images": size}
                for label, precise in (("without", 0), ("with", 32)):
                    row[label] = run(name, opts, data, args.epochs, precise, Path(tmp) / f"{name}-{size}-{precise}")
                    print(json.dumps({**row, label: row[label]}), flush=True)
                results.append(row)
    print("\n| model | Training images | best PublicTest % without precise BN | with | "
          "last epoch without | with | guard fired without |\n|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        w, p = r["without"], r["with"]
        print(f"| {r['model']} | {r['train_images']:,} | {100 * w['best_val']:.1f} | {100 * p['best_val']:.1f} | "
              f"{100 * w['val_acc'][-1]:.1f} | {100 * p['val_acc'][-1]:.1f} | {'yes' if w['warnings'] else 'no'} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"epochs": args.epochs, "results": results}, indent=1))


if __name__ == "__main__":
    main()
