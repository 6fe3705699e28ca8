"""Benchmark of the frame models through every inference engine (CPU, batch 1).

Measures the machine's fp32 matmul rate, the FLOP floor of each model (2 * MACs / rate), the
batch-1 latency of compact, compact_tiny and dtan through each engine of
:mod:`fertk.engines`, the largest difference to eager, and the accuracy change of the int8
engines on a held-out synthetic set (compact_tiny trained briefly inside the benchmark on
drawn "mouth shape" classes). Prints Markdown tables.

    python benchmarks/bench_models.py            # full run (a few minutes)
    python benchmarks/bench_models.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

import fertk
from fertk.engines import ENGINES, build_variant
from fertk.models.cost import count_macs, matmul_gflops, measure_latency
from fertk.preprocess import FrameTransform

MODELS = ("compact", "compact_tiny", "dtan")


def synthetic_faces(n: int, seed: int, classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """120×120 uint8 gray cartoon faces of 4 classes (smile, frown, surprise, flat) with
    jittered position, brightness and noise: a quick, learnable stand-in for expressions."""
    import cv2

    rng = np.random.default_rng(seed)
    crops = np.empty((n, 120, 120), np.uint8)
    labels = rng.integers(0, classes, n)
    for i, label in enumerate(labels):
        bg = rng.uniform(60, 90)
        img = np.full((120, 120), bg, np.float32)
        cx, cy = 60 + rng.uniform(-3, 3), 60 + rng.uniform(-3, 3)
        face = rng.uniform(170, 200)
        cv2.ellipse(img, (int(cx), int(cy)), (int(rng.uniform(34, 42)), int(rng.uniform(42, 50))), 0, 0, 360,
                    float(face), -1)
        dark = float(face - rng.uniform(110, 130))
        for side in (-1, 1):  # eyes and brows: wide open for "surprise", slanted for "frown"
            ex, ey = int(cx + 15 * side), int(cy - 12)
            cv2.circle(img, (ex, ey), 7 if label == 2 else 4, dark, -1)
            tilt = {0: -3, 1: 6, 2: -6, 3: 0}[int(label)]
            brow_y = ey - (16 if label == 2 else 11)
            cv2.line(img, (ex - 8 * side, brow_y + tilt), (ex + 8 * side, brow_y - tilt), dark, 3)
        mx, my, w = int(cx), int(cy + 18 + rng.uniform(-2, 2)), int(rng.uniform(20, 26))
        if label == 0:
            cv2.ellipse(img, (mx, my - 8), (w, 12), 0, 20, 160, dark, 5)  # smile
        elif label == 1:
            cv2.ellipse(img, (mx, my + 8), (w, 12), 0, 200, 340, dark, 5)  # frown
        elif label == 2:
            cv2.ellipse(img, (mx, my), (w - 6, 10), 0, 0, 360, dark, -1)  # open mouth
        else:
            cv2.line(img, (mx - w, my), (mx + w, my), dark, 5)  # flat
        img += rng.normal(0, 6, img.shape)
        crops[i] = np.clip(img, 0, 255).astype(np.uint8)
    return crops, labels


def train_tiny(train_x: torch.Tensor, train_y: torch.Tensor, steps: int, seed: int = 0) -> torch.nn.Module:
    """compact_tiny (the paper's layout, dropout 0.6) trained with Adam, batch 16."""
    torch.manual_seed(seed)
    model = fertk.create("backbones", "compact_tiny", num_classes=int(train_y.max()) + 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    perm = torch.randperm(len(train_x))
    for step in range(steps):
        start = (step * 16) % len(train_x)
        if start + 16 > len(train_x):
            perm = torch.randperm(len(train_x))
            start = 0
        idx = perm[start : start + 16]
        loss = torch.nn.functional.cross_entropy(model(train_x[idx]), train_y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def predictions(fn, x: torch.Tensor) -> torch.Tensor:
    """Class predictions of ``fn`` over ``x`` in batches of 64 (the same batching for every engine)."""
    with torch.inference_mode():
        return torch.cat([fn(x[i : i + 64]).argmax(-1) for i in range(0, len(x), 64)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations, smaller synthetic set")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated engines")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated backbones")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    engines = [e for e in args.engines.split(",") if e]
    if args.quick and "compile" in engines and args.engines == ",".join(ENGINES):
        engines.remove("compile")  # compiling takes 10-30 s per model
    iters = 10 if args.quick else 50
    rate = matmul_gflops(1024, seconds=0.5 if args.quick else 3.0)
    print(f"# fertk model benchmark\n\ntorch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"fp32 matmul (1024²): **{rate:.0f} GFLOP/s**\n")

    # int8 calibration / accuracy data: a synthetic task, held-out split
    n_train, n_test, steps = (480, 200, 120) if args.quick else (1280, 800, 300)
    tr_c, tr_y = synthetic_faces(n_train, seed=1)
    te_c, te_y = synthetic_faces(n_test, seed=2)
    transform = FrameTransform(fertk.create("backbones", "compact_tiny"))
    tr_x, te_x = transform(tr_c), transform(te_c)
    tr_t, te_t = torch.as_tensor(tr_y), torch.as_tensor(te_y)
    t0 = time.perf_counter()
    trained = train_tiny(tr_x, tr_t, steps=steps)
    train_s = time.perf_counter() - t0
    calibration = [tr_x[i : i + 32] for i in range(0, min(len(tr_x), 256), 32)]

    print("## Batch-1 latency (median ms) through each engine\n")
    print("| model | MMAC | floor ms | engine | build s | median ms | min ms | × floor | max abs diff |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    best: dict[str, tuple[str, float, float]] = {}
    for name in [m for m in args.models.split(",") if m]:
        if name == "compact_tiny":
            model, probe, cal = trained, te_x[:8], calibration
        else:
            model = fertk.create("backbones", name, num_classes=4).eval()
            g = torch.Generator().manual_seed(123)
            shape = (model.in_chans, *model.input_size)
            probe = torch.randn(8, *shape, generator=g)
            cal = [torch.randn(16, *shape, generator=g) for _ in range(4)]
        x = probe[:1]
        macs = count_macs(model, x)
        floor = 2 * macs / (rate * 1e9) * 1000
        with torch.inference_mode():
            ref = model(probe)
        for engine in engines:
            t0 = time.perf_counter()
            try:
                run = build_variant(model, engine, x, calibration=cal)
            except Exception as exc:
                print(f"| {name} | {macs / 1e6:,.0f} | {floor:.2f} | {engine} | failed: {type(exc).__name__} |||||")
                continue
            build_s = time.perf_counter() - t0
            diff = (run(probe).float() - ref).abs().max().item()
            lat = measure_latency(run, x, warmup=3, iters=iters, max_seconds=3 if args.quick else 15)
            ratio = lat["median_ms"] / floor
            print(f"| {name} | {macs / 1e6:,.0f} | {floor:.2f} | {engine} | {build_s:.1f} | "
                  f"{lat['median_ms']:.2f} | {lat['min_ms']:.2f} | {ratio:.2f} | {diff:.1e} |")
            if run.precision == "fp32" and (name not in best or lat["median_ms"] < best[name][1]):
                best[name] = (engine, lat["median_ms"], ratio)
    print()
    for name, (engine, ms, ratio) in best.items():
        verdict = "meets" if ratio <= 1.5 else "misses"
        print(f"- best fp32 engine for **{name}**: {engine}, {ms:.2f} ms = {ratio:.2f}× the FLOP floor "
              f"({verdict} the 1.5× goal)")

    print(f"\n## int8 accuracy change (compact_tiny, synthetic 4-class task, {n_train} train / "
          f"{n_test} held-out, {steps} Adam steps of 16 in {train_s:.0f} s)\n")
    print("| engine | held-out accuracy | change vs fp32 eager (points) | prediction agreement |")
    print("|---|---:|---:|---:|")
    fp32_pred = predictions(trained, te_x)
    fp32_acc = float((fp32_pred == te_t).float().mean())
    print(f"| eager (fp32) | {100 * fp32_acc:.2f}% | 0.00 | 100.0% |")
    for engine in [e for e in engines if e.startswith("int8") or e.endswith("int8")]:
        try:
            run = build_variant(trained, engine, te_x[:1], calibration=calibration)
        except Exception as exc:
            print(f"| {engine} | failed: {type(exc).__name__} | | |")
            continue
        pred = predictions(run, te_x)
        acc = float((pred == te_t).float().mean())
        agree = float((pred == fp32_pred).float().mean())
        print(f"| {engine} | {100 * acc:.2f}% | {100 * (acc - fp32_acc):+.2f} | {100 * agree:.1f}% |")


if __name__ == "__main__":
    main()
