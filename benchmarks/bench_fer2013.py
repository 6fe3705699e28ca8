"""Every bundled FER2013 model on FER2013's PublicTest and PrivateTest, measured in one run.

    python benchmarks/bench_fer2013.py --root /data/fer2013 [--write] [--out FILE.json]
    python benchmarks/bench_fer2013.py --latency-only --out benchmarks/results/cpu_latency.json

For each bundled weight trained on FER2013 (fertk's own and the imported mini-Xception):
accuracy, UAR and macro-F1 on PublicTest (where fertk's models were selected) and PrivateTest
(where they are reported), single centre crop, plus horizontal-flip test-time augmentation
reported separately; parameters, MACs and CPU batch-1 latency (2 threads). Faces are framed
as each model was trained: fertk's models by their recorded training preprocessing, the
mini-Xception by the whole image (``box`` margin 0, what its authors trained on). ``--write``
stores ``metrics`` and ``cost`` in each asset's JSON (which ``fertk weights list`` shows and
:func:`fertk.weights.choose_default` reads). Without ``--root`` (no FER2013 here) it says so
and exits 0, like the other benchmarks' optional parts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from fertk.weights import ASSETS_DIR, BUNDLED

SPLITS = ("PublicTest", "PrivateTest")
WHOLE_IMAGE = {"detector": "none", "crop": {"name": "box", "options": {"margin": 0.0}}}


def preprocessing(meta: dict) -> dict:
    train = meta.get("train") or {}
    return train.get("preprocessing") or WHOLE_IMAGE


def measure(name: str, root: str) -> dict:
    from fertk.checkpoint import build_from_checkpoint, load_checkpoint
    from fertk.data import prepare
    from fertk.models.cost import model_cost
    from fertk.training.arrays import as_array_set, illuminate
    from fertk.training.batching import BatchPipeline
    from fertk.training.metrics import compute_metrics
    from fertk.training.stages import predict

    ckpt = load_checkpoint(name)
    net, _ = build_from_checkpoint(ckpt)
    prep = preprocessing(ckpt.metadata)
    pipe = BatchPipeline(ckpt.input_spec, None, "cpu")
    out: dict = {"name": name, "backbone": ckpt.metadata["backbone"]["name"], "preprocessing": prep,
                 "metrics": {}}
    for usage in SPLITS:
        ds = as_array_set(prepare("fer2013", root, detector=prep["detector"], crop=prep["crop"]["name"],
                                  crop_options=prep["crop"].get("options") or None, usage=usage,
                                  progress=False))
        crops = np.asarray(illuminate(ds.crops, ckpt.metadata.get("illumination") or "none"))
        labels = np.asarray([ckpt.classes.index(ds.classes[i]) for i in ds.labels])
        p = predict(net, pipe.test, crops).softmax(1)
        m = compute_metrics(labels, p.argmax(1).numpy(), ckpt.classes)
        pf = p + predict(net, lambda c: pipe.test(c, flip=True), crops).softmax(1)
        out["metrics"][usage] = {"accuracy": round(float(m["accuracy"]), 4),
                                 "uar": round(float(m["uar"]), 4),
                                 "macro_f1": round(float(m["macro_f1"]), 4), "n": int(m["n"]),
                                 "accuracy_flip_tta": round(float((pf.argmax(1).numpy() == labels).mean()), 4)}
    torch.set_num_threads(2)
    cost = model_cost(net, timing=True, iters=50, max_seconds=5.0)
    out["cost"] = {"params": cost["params"], "macs": cost["macs"],
                   "cpu_ms_batch1_2cores": cost["latency_ms"]}
    return out


LEADERBOARD = ("compact", "compact_tiny", "compact_bn", "dtan", "minixception",
               "timm:mobilenetv3_small_100", "timm:efficientnet_b0", "timm:resnet18",
               "timm:convnext_nano")


def latency_table(out: Path | None) -> None:
    """Parameters, MACs and CPU batch-1 latency (eager fp32, 2 threads, median of up to 50
    calls) of the leaderboard's backbones, built untrained (latency does not depend on weights)."""
    import platform

    import fertk
    from fertk.models.cost import model_cost

    torch.set_num_threads(2)
    rows = {}
    for name in LEADERBOARD:
        c = model_cost(fertk.create("backbones", name, num_classes=7), timing=True, iters=50,
                       max_seconds=5.0)
        rows[name] = {"params": c["params"], "macs": c["macs"], "input": c["input_shape"],
                      "cpu_ms_batch1_2threads": c["latency_ms"]}
        print(f"{name:28s} {c['params']:>12,} params {c['macs'] / 1e6:9.1f} MMACs "
              f"{c['latency_ms']:8.2f} ms", flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"command": " ".join(sys.argv), "machine": platform.processor()
                                   or platform.machine(), "torch": torch.__version__,
                                   "threads": 2, "models": rows}, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None, help="FER2013 (CSV or image-folder export)")
    ap.add_argument("--latency-only", action="store_true",
                    help="only the leaderboard backbones' cost (no data needed)")
    ap.add_argument("--write", action="store_true", help="store metrics and cost in the asset JSONs")
    ap.add_argument("--out", type=Path, default=None, help="also write the results to this JSON file")
    args = ap.parse_args()
    if args.latency_only:
        latency_table(args.out)
        return
    if not args.root:
        print("bench_fer2013: no --root given (FER2013 is not shipped); nothing measured")
        return
    results = []
    for name, (base, _sha) in BUNDLED.items():
        meta = json.loads((ASSETS_DIR / f"{base}.json").read_text())
        if "fer2013" not in json.dumps(meta.get("train") or {}).lower():
            continue
        r = measure(name, args.root)
        results.append(r)
        pub, priv = r["metrics"]["PublicTest"], r["metrics"]["PrivateTest"]
        print(f"{name:24s} PublicTest {100 * pub['accuracy']:.2f}  PrivateTest {100 * priv['accuracy']:.2f} "
              f"(flip {100 * priv['accuracy_flip_tta']:.2f})  UAR {100 * priv['uar']:.2f}  "
              f"F1 {100 * priv['macro_f1']:.2f}  {r['cost']['params']:,} params  "
              f"{r['cost']['macs'] / 1e6:.0f} M MACs  {r['cost']['cpu_ms_batch1_2cores']:.2f} ms", flush=True)
        if args.write:
            meta["metrics"], meta["cost"] = r["metrics"], r["cost"]
            (ASSETS_DIR / f"{base}.json").write_text(json.dumps(meta, indent=2) + "\n")
    from fertk.weights import choose_default

    entries = {r["name"]: r for r in results}
    print(f"default by the rule of fertk.weights.choose_default: {choose_default(entries)}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
