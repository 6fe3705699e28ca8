"""Every bundled model on the same faces under both label sets: FER+ (ten annotators, majority
label) and FER2013 (one worker's label), each scored on the classes the model and the labels
share.

    python benchmarks/bench_ferplus.py --ferplus /data/ferplus --fer2013 /data/fer2013 [--write]
    python benchmarks/bench_ferplus.py --ferplus DIR --weights RUN/folds/standard/frame  # any checkpoint

For each model: accuracy, UAR, macro-F1 and per-class recall on FER+ Valid (= PublicTest,
where FER+ decisions are made) and FER+ Test (= PrivateTest, reported), and on FER2013
PublicTest and PrivateTest; single centre crop, flip TTA reported separately. A model is
scored on the rows whose class it knows (a FER2013 model has no contempt: FER+'s contempt
faces are left out for it, and counted), its prediction being its most probable class among
those the labels have (a FER+ model on FER2013 cannot answer contempt). ``shared`` repeats
the figures on the seven classes every model knows, so that all models are compared on the
same rows. Faces are framed as each model was trained (``bench_fer2013.preprocessing``).
``--write`` stores them in each bundled asset's JSON: a FER+ model's ``metrics`` (FER+'s
splits), ``cross_metrics`` (FER2013's) and ``cost`` (parameters, MACs, CPU latency); a FER2013
model's ``cross_metrics["ferplus"]`` (its ``metrics`` and ``cost`` stay bench_fer2013.py's);
:func:`fertk.weights.choose_default` reads them. Without data it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from bench_fer2013 import preprocessing  # noqa: E402 - a script beside it

from fertk.weights import ASSETS_DIR, BUNDLED

#: (registered data set, its split names in fertk (subjects ``<split>/<id>``)).
DATASETS = {"ferplus": ("PublicTest", "PrivateTest"), "fer2013": ("PublicTest", "PrivateTest")}
#: The classes every model knows: FER2013's seven.
SHARED = ("anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral")


def score(probs: torch.Tensor, flip: torch.Tensor, labels: np.ndarray, classes: list[str],
          known: list[str]) -> dict:
    """Metrics of a model's probabilities (columns ``classes``) against ``labels`` (indices of
    ``known``, the classes both know, in the model's order)."""
    from fertk.training.metrics import compute_metrics

    cols = [classes.index(c) for c in known]
    pred = probs[:, cols].argmax(1).numpy()
    tta = (probs + flip)[:, cols].argmax(1).numpy()
    m = compute_metrics(labels, pred, known)
    return {"accuracy": round(float(m["accuracy"]), 4), "uar": round(float(m["uar"]), 4),
            "macro_f1": round(float(m["macro_f1"]), 4), "n": int(m["n"]),
            "accuracy_flip_tta": round(float((tta == labels).mean()), 4),
            "recall": {r["class"]: round(r["recall"], 4) for r in m["per_class"]}}


def split_scores(net, pipe, ckpt, ds, known: list[str]) -> dict:
    """``score`` on the rows of ``ds`` whose class is in ``known``."""
    from fertk.training.arrays import illuminate
    from fertk.training.stages import predict

    keep = np.isin(np.asarray(ds.classes)[ds.labels], known)
    crops = np.asarray(illuminate(np.asarray(ds.crops)[keep], ckpt.metadata.get("illumination") or "none"))
    labels = np.asarray([known.index(ds.classes[i]) for i in ds.labels[keep]])
    p = predict(net, pipe.test, crops).softmax(1)
    pf = predict(net, lambda c: pipe.test(c, flip=True), crops).softmax(1)
    out = score(p, pf, labels, ckpt.classes, known)
    out["left_out"] = int((~keep).sum())
    shared = [c for c in known if c in SHARED]
    if shared != known:
        sub = np.isin(np.asarray(known)[labels], shared)
        lab = np.asarray([shared.index(known[i]) for i in labels[sub]])
        out["shared"] = score(p[torch.from_numpy(sub)], pf[torch.from_numpy(sub)], lab, ckpt.classes, shared)
    else:
        out["shared"] = {k: out[k] for k in ("accuracy", "uar", "n")}
    return out


def measure(name: str, roots: dict[str, str]) -> dict:
    from fertk.checkpoint import build_from_checkpoint, load_checkpoint
    from fertk.data import prepare
    from fertk.models.cost import model_cost
    from fertk.training.arrays import as_array_set
    from fertk.training.batching import BatchPipeline
    from fertk.weights.accuracy import dataset_label

    ckpt = load_checkpoint(name)
    net, _ = build_from_checkpoint(ckpt)
    prep = preprocessing(ckpt.metadata)
    pipe = BatchPipeline(ckpt.input_spec, None, "cpu")
    own = str((ckpt.metadata.get("train") or {}).get("dataset") or "")
    out: dict = {"name": name, "backbone": ckpt.metadata["backbone"]["name"], "dataset": own,
                 "preprocessing": prep, "metrics": {}, "cross_metrics": {}}
    for dataset, splits in DATASETS.items():
        if not roots.get(dataset):
            continue
        mine = dataset_label(dataset) == dataset_label(own)  # "FER2013 (Goodfellow ...)" too
        part = out["metrics"] if mine else out["cross_metrics"].setdefault(dataset, {})
        for usage in splits:
            ds = as_array_set(prepare(dataset, roots[dataset], detector=prep["detector"],
                                      crop=prep["crop"]["name"], usage=usage, progress=False,
                                      crop_options=prep["crop"].get("options") or None))
            known = [c for c in ckpt.classes if c in ds.classes]
            part[usage] = split_scores(net, pipe, ckpt, ds, known)
    torch.set_num_threads(2)
    cost = model_cost(net, timing=True, iters=50, max_seconds=5.0)
    out["cost"] = {"params": cost["params"], "macs": cost["macs"], "cpu_ms_batch1_2cores": cost["latency_ms"]}
    return out


def line(r: dict) -> str:
    def pct(part: dict | None, key: str = "accuracy") -> str:
        return f"{100 * part[key]:.2f}" if part else "  -  "

    fp = r["metrics"] if r["dataset"] == "ferplus" else r["cross_metrics"].get("ferplus", {})
    fe = r["metrics"] if r["dataset"] == "fer2013" else r["cross_metrics"].get("fer2013", {})
    test = fp.get("PrivateTest")
    rec = (test or {}).get("recall", {})
    rare = " ".join(f"{c} {100 * rec[c]:.1f}" for c in ("disgust", "fear", "contempt") if c in rec)
    return (f"{r['name']:24s} FER+ Valid {pct(fp.get('PublicTest'))} Test {pct(test)} "
            f"(7 classes {pct((test or {}).get('shared'))}, UAR {pct(test, 'uar')}) | FER2013 "
            f"PrivateTest {pct(fe.get('PrivateTest'))} | recall {rare} | "
            f"{r['cost']['cpu_ms_batch1_2cores']:.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferplus", default=None, help="FER+ root (FER2013Train|Valid|Test folders)")
    ap.add_argument("--fer2013", default=None, help="FER2013 (CSV or image-folder export)")
    ap.add_argument("--weights", action="append", default=[],
                    help="measure these weights (names or checkpoints) instead of the bundled ones")
    ap.add_argument("--write", action="store_true", help="store metrics in the bundled asset JSONs")
    ap.add_argument("--out", type=Path, default=None, help="also write the results to this JSON file")
    args = ap.parse_args()
    roots = {"ferplus": args.ferplus, "fer2013": args.fer2013}
    if not any(roots.values()):
        print("bench_ferplus: neither --ferplus nor --fer2013 given (no data is shipped); nothing measured")
        return
    names = args.weights or list(BUNDLED)
    results = []
    for name in names:
        r = measure(name, roots)
        results.append(r)
        print(line(r), flush=True)
        if args.write and name in BUNDLED:
            path = ASSETS_DIR / f"{BUNDLED[name][0]}.json"
            meta = json.loads(path.read_text())
            if r["dataset"] == "ferplus":  # a FER+ model: all of it is this script's measurement
                meta["metrics"], meta["cross_metrics"], meta["cost"] = r["metrics"], r["cross_metrics"], r["cost"]
            else:  # its own metrics and cost stay bench_fer2013.py's (measured on an idle machine)
                meta.setdefault("cross_metrics", {}).update(r["cross_metrics"])
            path.write_text(json.dumps(meta, indent=2) + "\n")
    from fertk.weights import choose_default

    entries = {r["name"]: r for r in results}
    print(f"default by the rule of fertk.weights.choose_default: {choose_default(entries)}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
