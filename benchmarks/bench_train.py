"""Benchmark: ``fertk train`` frame-stage throughput vs a minimal hand-written PyTorch loop.

Both loops train the same backbone on the same in-memory uint8 crops with the same batch
size, optimizer and augmentation (random 96 window of 120 + flip), in the same process; the
table gives images/second and the ratio (goal ≥ 0.85). It also times the batch pipeline
alone (data loading must never be the bottleneck) and, unless ``--quick``, the wall time of
the full 10-fold compact_tiny protocol on CK+-sized synthetic data (327 sequences of
118 subjects). With CUDA, GPU rows use bf16 autocast + channels_last (+ torch.compile).

    python benchmarks/bench_train.py [--quick] [--backbone compact_tiny] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F


def fake_set(n_subjects: int, n_seq: int, frames: int, seed: int = 0):
    """A CK+-sized ArraySet of random-textured crops (speed only, not accuracy)."""
    from fertk.engine.arrays import ArraySet

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


def plain_loop(backbone: str, crops: np.ndarray, labels: np.ndarray, epochs: int, batch: int,
               device: torch.device, amp: bool, channels_last: bool, compile_: bool) -> float:
    """The minimal loop a user would write; returns images/second."""
    import fertk

    torch.manual_seed(0)
    model = fertk.create("backbones", backbone, num_classes=7).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    fwd = torch.compile(model) if compile_ else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x_all = torch.from_numpy(crops).to(device)
    y_all = torch.from_numpy(labels).to(device)
    n = len(crops)
    seen, t0 = 0, None
    for ep in range(epochs + 1):  # epoch 0 is warm-up
        if ep == 1:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0, seen = time.perf_counter(), 0
        perm = torch.randperm(n, device=device)
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            xb = x_all[idx].unsqueeze(1).float() / 255
            oy, ox = np.random.randint(0, 25, 2)
            xb = xb[..., oy : oy + 96, ox : ox + 96]
            if np.random.rand() < 0.5:
                xb = xb.flip(-1)
            xb = (xb - 0.5) / 0.5
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = F.cross_entropy(fwd(xb).float(), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - t0)


def engine_loop(backbone: str, ds, epochs: int, batch: int, device: str, amp: bool,
                compile_: bool, out: str) -> tuple[float, float, int]:
    """fertk's frame stage; images/second of its training loop and of whole epochs
    (training + validation), over the epochs after the first (warm-up) one."""
    import json
    from pathlib import Path

    from fertk.engine.config import build_config
    from fertk.engine.train import Trainer

    cfg = build_config({
        "name": "bench", "model": {"backbone": backbone, "temporal": None},
        "protocol": {"kind": "subject_kfold", "folds": 10, "only_folds": [0], "val_fraction": 0.1},
        "frame": {"epochs": epochs + 1, "batch_size": batch, "frames": "all", "warmup_epochs": 0,
                  "eval_every": 1, "patience": 10_000,
                  "augment": {"illumination": "none", "test_illumination": "none",
                              "rotate": 0.0, "scale": 0.0}},
        "run": {"progress": False, "device": device, "amp": "bf16" if amp else "off",
                "channels_last": "on" if device.startswith("cuda") else "off", "compile": compile_},
    })
    Trainer(cfg, out=out, data=ds).run()
    res = json.loads(next(Path(out).glob("folds/*/result.json")).read_text())
    hist = res["frame"]["history"][1:]
    images = sum(h["images"] for h in hist)
    return (images / sum(h["train_s"] for h in hist), images / sum(h["epoch_s"] for h in hist),
            res["frames"]["train"])


def pipeline_rate(backbone: str, crops: np.ndarray, batch: int, device: str) -> float:
    import fertk
    from fertk.backbones.base import input_spec_of
    from fertk.engine.batching import BatchPipeline
    from fertk.engine.config import AugmentConfig

    spec = input_spec_of(fertk.create("backbones", backbone, num_classes=7))
    pipe = BatchPipeline(spec, AugmentConfig(), device)
    g = torch.Generator().manual_seed(0)
    t, n = time.perf_counter(), 0
    for i in range(0, len(crops), batch):
        pipe.train(crops[i : i + batch], g)
        n += len(crops[i : i + batch])
    return n / (time.perf_counter() - t)


def main() -> None:
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--backbone", default="compact_tiny")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    dev = torch.device("cuda" if (args.device == "auto" and torch.cuda.is_available()) else
                       (args.device if args.device != "auto" else "cpu"))
    epochs = args.epochs or (1 if args.quick else 3)
    ds = fake_set(118, 327, 1 if args.quick else 3)
    rows = []
    settings = [("cpu", False, False)]
    if dev.type == "cuda":
        settings = [("cuda", True, False), ("cuda", True, True)]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (d, amp, comp) in enumerate(settings):
            e_rate, e_epoch, n_train = engine_loop(args.backbone, ds, epochs, args.batch, d, amp, comp, f"{tmp}/e{i}")
            keep = np.isin(ds.subjects, sorted(set(ds.subjects))[12:])  # ≈ the fold's training rows
            p_rate = plain_loop(args.backbone, ds.crops[keep][:n_train], ds.labels[keep][:n_train],
                                epochs, args.batch, torch.device(d), amp, d == "cuda", comp)
            label = f"{d}{' bf16' if amp else ' fp32'}{' channels_last' if d == 'cuda' else ''}{' compile' if comp else ''}"
            rows.append((label, p_rate, e_rate, e_epoch))
        pipe = pipeline_rate(args.backbone, ds.crops, args.batch, settings[0][0])
        print(f"\n## fertk train vs plain PyTorch loop ({args.backbone}, batch {args.batch}, "
              f"{epochs} timed epoch(s))\n")
        print("| setting | plain loop img/s | fertk train img/s | ratio | fertk incl. validation img/s | ratio |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, p, e, ee in rows:
            print(f"| {label} | {p:.1f} | {e:.1f} | {e / p:.2f} | {ee:.1f} | {ee / p:.2f} |")
        print(f"\nbatch pipeline alone (augment + normalise): {pipe:.0f} img/s "
              f"({pipe / max(r[2] for r in rows):.0f}x the training rate)\n")
        if not args.quick:
            from fertk.engine.config import build_config
            from fertk.engine.train import Trainer

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
