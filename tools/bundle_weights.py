"""Turn a FER2013 ``fertk train`` run into bundled weights (``fertk/assets/``) with provenance.

    python tools/bundle_weights.py RUN_DIR NAME --root FER2013_ROOT [--command "fertk train ..."]

Reads the run's frame checkpoint (``RUN_DIR/folds/standard/frame``), evaluates it through
``fertk.engine.evaluate.evaluate_dataset`` on PublicTest (where it was selected) and
PrivateTest (where it is reported), single centre crop, plus horizontal-flip test-time
augmentation reported separately; measures parameters, MACs and CPU batch-1 latency; then
writes ``fertk/assets/<NAME with _>.safetensors`` + ``.json`` whose metadata holds the recipe
(the run's config.yaml and command), seed, data set, split, selection, epochs, training time
and the metrics. Prints the sha256 to pin in ``fertk.weights.BUNDLED``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from fertk.checkpoint import build_from_checkpoint, load_checkpoint, sha256_file
from fertk.engine.evaluate import evaluate_dataset
from fertk.weights import ASSETS_DIR

SPLITS = ("PublicTest", "PrivateTest")


def flip_accuracy(ckpt_path: str, root: str, usage: str) -> float:
    """PrivateTest/PublicTest accuracy with centre + mirrored crop probabilities averaged."""
    from fertk.data import prepare
    from fertk.engine.batching import BatchPipeline
    from fertk.engine.data import as_array_set, illuminate
    from fertk.engine.stages import predict

    ckpt = load_checkpoint(ckpt_path)
    net, _ = build_from_checkpoint(ckpt)
    crop = ckpt.metadata["crop"]
    ds = as_array_set(prepare("fer2013", root, detector="none", crop=crop["name"],
                              crop_options=crop.get("options") or None, usage=usage, progress=False))
    crops = np.asarray(illuminate(ds.crops, ckpt.metadata.get("illumination") or "none"))
    pipe = BatchPipeline(ckpt.input_spec, None, "cpu")
    p = predict(net, pipe.test, crops).softmax(1)
    p = p + predict(net, lambda c: pipe.test(c, flip=True), crops).softmax(1)
    labels = np.asarray([ckpt.classes.index(ds.classes[i]) for i in ds.labels])
    return float((p.argmax(1).numpy() == labels).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("name")
    ap.add_argument("--root", required=True, help="FER2013 root (CSV or image folders)")
    ap.add_argument("--command", default=None, help="the exact command that trained the run")
    ap.add_argument("--description", default=None)
    args = ap.parse_args()

    src = args.run / "folds" / "standard" / "frame"
    result = json.loads((args.run / "folds" / "standard" / "result.json").read_text())
    manifest = json.loads((args.run / "manifest.json").read_text())
    ckpt = load_checkpoint(src)
    meta = dict(ckpt.metadata)
    metrics = {}
    for usage in SPLITS:
        rep = evaluate_dataset(str(src), "fer2013", args.root, None, rows="all", usage=usage,
                               progress=False, device="cpu")
        metrics[usage] = {k: round(float(rep["frame"][k]), 4) for k in ("accuracy", "uar", "macro_f1")}
        metrics[usage]["n"] = int(rep["frame"]["n"])
        metrics[usage]["accuracy_flip_tta"] = round(flip_accuracy(str(src), args.root, usage), 4)
        print(usage, metrics[usage], flush=True)
    net, _ = build_from_checkpoint(ckpt)
    from fertk.models.cost import model_cost

    torch.set_num_threads(2)
    cost = model_cost(net, timing=True, iters=50, max_seconds=5.0)
    frame = result["frame"]
    hist = frame.get("history") or []
    train_s = sum(float(h.get("train_s", 0.0)) for h in hist)
    base = args.name.replace("-", "_")
    train = dict(meta.get("train") or {})
    train.pop("test_subjects", None)
    train.update({
        "dataset": "fer2013", "protocol": "standard", "train_split": "Training",
        "val_split": "PublicTest", "test_split": "PrivateTest",
        "selection": "best PublicTest accuracy (epoch)", "best_epoch": frame.get("best_epoch"),
        "epochs_run": frame.get("epochs_run"), "train_seconds": round(train_s, 1),
        "config": (args.run / "config.yaml").read_text(encoding="utf-8"),
        "command": args.command or " ".join(manifest.get("argv") or []),
        "machine": manifest.get("machine") or manifest.get("host"),
        "test": metrics["PrivateTest"],
    })
    meta.update({
        "description": args.description or f"{meta['backbone']['name']} trained by fertk on FER2013",
        "train": train, "metrics": metrics,
        "cost": {"params": cost["params"], "macs": cost["macs"],
                 "cpu_ms_batch1_2cores": cost["latency_ms"]},
        "licence": "weights: MIT, like fertk; trained on FER2013, whose images are for research use",
        "source": "fertk train (tools/bundle_weights.py)",
    })
    meta.pop("sha256", None)
    meta.pop("parts", None)
    dest = ASSETS_DIR / base
    from fertk.checkpoint import save_checkpoint

    state = {"backbone": net.state_dict()}
    save_checkpoint(dest, state, meta)
    sha = sha256_file(str(dest) + ".safetensors")
    print(json.dumps({"name": args.name, "asset": str(dest), "sha256": sha, "metrics": metrics,
                      "cost": meta["cost"]}, indent=1))


if __name__ == "__main__":
    main()
