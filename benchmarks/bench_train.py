"""Benchmark: ``fertk train`` frame-stage throughput vs a minimal hand-written PyTorch loop.

``fertk train``'s frame stage (the FER2013 recipes' augmentation: random window, flip,
rotation, scale, HE; precise batch norm; validation every epoch) against the floor: a plain
forward/backward/AdamW loop on batches already in memory as network input, with no data
loading or augmentation at all. Same backbone, batch size and process; the table gives
images/second, the ratio (goal ≥ 0.85 on 2 CPU cores) and the minutes one FER2013 epoch
(28,709 images) takes at the measured rate, for each model of the FER2013 recipes by default.
``--sweep`` adds the plain loop over threads × channels_last × batch size (how the CPU
settings were chosen); ``--tenfold`` the wall time of the 10-fold compact_tiny protocol on
CK+-sized synthetic data. With CUDA, GPU rows use bf16 autocast + channels_last (+ compile).

    python benchmarks/bench_train.py [--quick] [--model compact@input_size=48,batch_norm=fold]
        [--backbone minixception] [--sweep] [--tenfold] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F


def fake_set(n_subjects: int, n_seq: int, frames: int, seed: int = 0):
    """A CK+-sized ArraySet of random-textured crops (speed only, not accuracy)."""
    from fertk.training.arrays import ArraySet

    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(n_subjects), int(np.ceil(n_seq / n_subjects)))[:n_seq]
    rows = n_seq * frames
    crops = rng.integers(0, 256, (rows, 120, 120), dtype=np.uint8)
    labels = np.repeat(rng.integers(0, 7, n_seq), frames)
    return ArraySet(
        crops=crops, labels=labels, subjects=np.repeat([f"S{s:03d}" for s in subj], frames),
        sequences=np.repeat([f"q{i:04d}" for i in range(n_seq)], frames),
        frame_index=np.tile(np.arange(frames), n_seq), peak=np.tile(np.arange(frames) == frames - 1, n_seq),
        classes=["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"],
    )


def plain_loop(backbone: str, options: dict, crops: np.ndarray, labels: np.ndarray, steps: int,
               batch: int, device: torch.device, amp: bool, channels_last: bool, compile_: bool) -> float:
    """The floor: forward + backward + AdamW on batches already in memory as network input
    (normalised float tensors, no augmentation, no data loading); returns images/second."""
    import fertk
    from fertk.backbones.base import input_spec_of
    from fertk.preprocess import FrameTransform

    torch.manual_seed(0)
    model = fertk.create("backbones", backbone, num_classes=7, **options).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    fwd = torch.compile(model) if compile_ else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ft = FrameTransform(input_spec_of(model))
    n = min(len(crops), 8 * batch)
    x_all = ft(crops[:n]).to(device)
    if channels_last:
        x_all = x_all.contiguous(memory_format=torch.channels_last)
    y_all = torch.from_numpy(labels[:n]).long().to(device)
    model.train()
    seen, t0 = 0, 0.0
    for step in range(steps + 3):  # 3 warm-up steps
        if step == 3:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0, seen = time.perf_counter(), 0
        i = (step * batch) % max(1, n - batch + 1)
        xb, yb = x_all[i : i + batch], y_all[i : i + batch]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(fwd(xb).float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(yb)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - t0)


def engine_loop(backbone: str, options: dict, ds, epochs: int, batch: int, device: str, amp: bool,
                compile_: bool, out: str) -> tuple[float, float, int]:
    """fertk's frame stage; images/second of its training loop and of whole epochs
    (training + validation), over the epochs after the first (warm-up) one."""
    import json
    from pathlib import Path

    from fertk.training.config import build_config
    from fertk.training.train import Trainer

    cfg = build_config({
        "name": "bench", "model": {"backbone": backbone, "backbone_options": options, "temporal": None},
        "protocol": {"kind": "subject_kfold", "folds": 10, "only_folds": [0], "val_fraction": 0.1},
        "frame": {"epochs": epochs + 1, "batch_size": batch, "frames": "all", "warmup_epochs": 0,
                  "eval_every": 1, "patience": 10_000,
                  # the FER2013 recipes' augmentation: shift, flip, rotation, scale, HE
                  "augment": {"illumination": "he", "test_illumination": "he"}},
        "run": {"progress": False, "device": device, "amp": "bf16" if amp else "off",
                "compile": compile_},  # channels_last: auto (on), as every run
    })
    Trainer(cfg, out=out, data=ds).run()
    res = json.loads(next(Path(out).glob("folds/*/result.json")).read_text())
    hist = res["frame"]["history"][1:]
    images = sum(h["images"] for h in hist)
    return (images / sum(h["train_s"] for h in hist), images / sum(h["epoch_s"] for h in hist),
            res["frames"]["train"])


def pipeline_rate(backbone: str, options: dict, crops: np.ndarray, batch: int, device: str) -> float:
    import fertk
    from fertk.backbones.base import input_spec_of
    from fertk.training.batching import BatchPipeline
    from fertk.training.config import AugmentConfig

    spec = input_spec_of(fertk.create("backbones", backbone, num_classes=7, **options))
    pipe = BatchPipeline(spec, AugmentConfig(rotate=10.0, scale=0.1), device)
    g = torch.Generator().manual_seed(0)
    t, n = time.perf_counter(), 0
    for i in range(0, len(crops), batch):
        pipe.train(crops[i : i + batch], g)
        n += len(crops[i : i + batch])
    return n / (time.perf_counter() - t)


#: FER2013's Training split: images per epoch.
FER_EPOCH = 28_709
#: Batch size of each FER2013 recipe (examples/configs/fer2013_*.yaml), chosen with --sweep.
RECIPE_BATCH = {"compact": 32, "compact_tiny": 64}
#: The models of the FER2013 recipes (examples/configs/fer2013_*.yaml), as name=options.
DEFAULT_MODELS = ("compact_tiny@input_size=48,batch_norm=fold", "compact@input_size=48,batch_norm=fold")


def parse_model(text: str) -> tuple[str, dict]:
    """``name[@key=value,...]`` (``compact@input_size=48,batch_norm=fold``, ``timm:resnet18``)."""
    from fertk.clitools import parse_options

    name, _, rest = text.partition("@")
    return name, parse_options(list(filter(None, rest.split(","))), "--model")


def sweep(name: str, opts: dict, crops: np.ndarray, labels: np.ndarray, steps: int) -> None:
    from fertk.training.fold_runner import cpu_channels_last

    """Plain-loop images/second over threads, channels_last and batch size (the settings the
    trainer uses on CPU are chosen from this table)."""
    dev = torch.device("cpu")
    print(f"\n## settings sweep: {name} {opts} (plain loop, {steps} steps)\n")
    print("| threads | channels_last | batch | img/s |")
    print("|---:|---|---:|---:|")
    old = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for cl in (False, True) if cpu_channels_last(name) else (False,):
                for batch in (32, 64, 128):
                    r = plain_loop(name, opts, crops, labels, steps, batch, dev, False, cl, False)
                    print(f"| {threads} | {'on' if cl else 'off'} | {batch} | {r:.0f} |", flush=True)
    finally:
        torch.set_num_threads(old)


def main() -> None:
    import tempfile

    from fertk.training.fold_runner import cpu_channels_last

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--model", action="append", default=None,
                    help="backbone[@key=value,...], repeatable (default: the FER2013 recipes' models)")
    ap.add_argument("--backbone", default=None, help="one backbone with default options")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None,
                    help="batch size (default: the FER2013 recipe's, 64 for compact_tiny, 32 for compact)")
    ap.add_argument("--sweep", action="store_true", help="also sweep threads/channels_last/batch")
    ap.add_argument("--tenfold", action="store_true", help="also time the 10-fold CK+-sized protocol")
    args = ap.parse_args()
    dev = torch.device("cuda" if (args.device == "auto" and torch.cuda.is_available()) else
                       (args.device if args.device != "auto" else "cpu"))
    epochs = args.epochs or (1 if args.quick else 2)
    models = [parse_model(m) for m in (args.model or ([args.backbone] if args.backbone else DEFAULT_MODELS))]
    ds = fake_set(118, 327, 2 if args.quick else 4)  # 654 / 1,308 rows, FER-like 120x120 crops
    settings = [("cpu", False, False)]
    if dev.type == "cuda":
        settings = [("cuda", True, False), ("cuda", True, True)]
    print(f"torch threads {torch.get_num_threads()}, {epochs} timed epoch(s) after a warm-up one")
    with tempfile.TemporaryDirectory() as tmp:
        for name, opts in models:
            batch = args.batch or RECIPE_BATCH.get(name, 64)
            rows = []
            for i, (d, amp, comp) in enumerate(settings):
                e_rate, e_epoch, n_train = engine_loop(name, opts, ds, epochs, batch, d, amp, comp,
                                                       f"{tmp}/{name}-{i}")
                steps = max(10, int(e_rate * 10 / batch))  # about 10 s of training
                nhwc = d == "cuda" or cpu_channels_last(name)  # the memory format fertk trains in
                p_rate = plain_loop(name, opts, ds.crops, ds.labels, steps, batch,
                                    torch.device(d), amp, nhwc, comp)
                label = f"{d}{' bf16' if amp else ' fp32'}{' channels_last' if nhwc else ''}{' compile' if comp else ''}"
                rows.append((label, p_rate, e_rate, e_epoch))
            pipe = pipeline_rate(name, opts, ds.crops, batch, settings[0][0])
            print(f"\n## {name} {opts}: fertk train vs plain forward/backward loop (batch {batch})\n")
            print("| setting | plain loop img/s | fertk train img/s | ratio | incl. validation img/s | ratio "
                  "| FER2013 epoch, training (min) |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            for label, p, e, ee in rows:
                print(f"| {label} | {p:.1f} | {e:.1f} | {e / p:.2f} | {ee:.1f} | {ee / p:.2f} "
                      f"| {FER_EPOCH / e / 60:.1f} |")
            print(f"\nbatch pipeline alone (augment + normalise): {pipe:.0f} img/s "
                  f"({pipe / max(r[2] for r in rows):.0f}x the training rate)", flush=True)
            if args.sweep:
                sweep(name, opts, ds.crops, ds.labels, max(10, int(rows[0][1] * 5 / 64)))
        if args.tenfold:
            from fertk.training.config import build_config
            from fertk.training.train import Trainer

            full = fake_set(118, 327, 4)
            cfg = build_config({
                "name": "tenfold", "model": {"backbone": "compact_tiny", "temporal": "gru"},
                "protocol": {"folds": 10, "val_fraction": 0.1},
                "frame": {"epochs": 30, "batch_size": 64, "patience": 10},
                "sequence": {"iterations": 500, "eval_every": 100},
                "run": {"progress": False, "device": str(dev.type)},
            })
            t = time.perf_counter()
            Trainer(cfg, out=f"{tmp}/tenfold", data=full).run()
            print(f"10-fold compact_tiny + GRU protocol on CK+-sized synthetic data "
                  f"(327 sequences, 118 subjects, 30 epochs max, default recipe): "
                  f"{time.perf_counter() - t:.0f} s wall on {dev}")


if __name__ == "__main__":
    main()
