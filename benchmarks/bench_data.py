"""Data benchmarks: ``fertk prepare`` throughput (dlib, 1 and 2 workers) and loader speed vs training.

Run ``python benchmarks/bench_data.py`` (``--quick`` for a smoke run). Prints a Markdown
table: frames per second of prepare on synthetic CK+ (256×256 frames, dlib HOG + 68
landmarks + the paper's crop), images per second of the loader with the paper's "Aug"
illumination scheme and the batched geometric augmentation, and images per second of one
training step (forward + backward + SGD) of ``compact`` and ``compact_tiny`` on CPU.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def bench_prepare(root: Path, cache: Path, workers: int, detector: str) -> tuple[int, float]:
    from fertk.data import prepare

    t = time.perf_counter()
    ps = prepare("ckplus", root, detector=detector, cache_dir=cache / f"{detector}-{workers}",
                 workers=workers, progress=False)
    dt = time.perf_counter() - t
    assert not ps.cache_hit
    t = time.perf_counter()
    again = prepare("ckplus", root, detector=detector, cache_dir=cache / f"{detector}-{workers}",
                    workers=workers, progress=False)
    assert again.cache_hit
    return len(ps), len(ps) / dt, time.perf_counter() - t, int(ps.found.sum())


def bench_loader(ps, batches: int, illumination, augment) -> float:
    """Images/second of the engine's batch path: the illumination scheme's copies (computed
    once, as training does) then the geometric augmentation and normalisation per batch."""
    import numpy as np
    import torch

    from fertk.training.arrays import Illuminated, as_array_set
    from fertk.training.batching import BatchPipeline
    from fertk.training.config import AugmentConfig

    ds = as_array_set(ps)
    aug = AugmentConfig(illumination=illumination or "none", geometric=augment or "none",
                        rotate=10.0, scale=0.1)
    spec = {"input_size": [96, 96], "in_chans": 1, "crop_size": 96, "mean": [0.5], "std": [0.5]}
    pipe, gen = BatchPipeline(spec, aug), torch.Generator().manual_seed(0)
    t = time.perf_counter()
    x_u8, _ = Illuminated(ds).training(aug, np.arange(len(ds.labels)))
    n = 0
    while n < batches * 64:
        for i in range(0, len(x_u8), 64):
            n += len(pipe.train(x_u8[i : i + 64], gen))
            if n >= batches * 64:
                break
    return n / (time.perf_counter() - t)


def bench_train(name: str, steps: int) -> float:
    import torch

    import fertk

    model = fertk.create("backbones", name, num_classes=7)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x, y = torch.randn(64, 1, 96, 96), torch.randint(0, 7, (64,))
    for i in range(steps + 1):
        if i == 1:
            t = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * 64 / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, to check the script runs")
    args = ap.parse_args()
    from fertk.synth import SynthConfig, synthesize

    ids, frames, batches, steps = (2, 4, 3, 1) if args.quick else (10, 10, 30, 5)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root, cache = Path(tmp) / "synth", Path(tmp) / "cache"
        t = time.perf_counter()
        synthesize(root, SynthConfig(identities=ids, frames=frames, layouts=("ckplus",), unlabelled=0))
        n_frames = ids * 7 * frames
        rows.append(("synth (render + write, 256x256)", f"{n_frames / (time.perf_counter() - t):.1f}",
                     "frames/s", f"{n_frames} frames"))
        for workers in (1, 2):
            n, fps, hit, found = bench_prepare(root, cache, workers, "dlib")
            rows.append((f"prepare dlib, {workers} worker(s)", f"{fps:.1f}", "frames/s",
                         f"{found}/{n} faces; cached rerun {hit * 1000:.0f} ms"))
        n, fps, hit, _ = bench_prepare(root, cache, 2, "dataset")
        rows.append(("prepare dataset landmarks, 2 workers", f"{fps:.1f}", "frames/s",
                     f"cached rerun {hit * 1000:.0f} ms"))
        from fertk.data import prepare

        ps = prepare("ckplus", root, detector="dataset", cache_dir=cache / "dataset-2", progress=False)
        for ill, aug in ((None, None), (None, "geometric"), ("aug", "geometric")):
            ips = bench_loader(ps, batches, ill, aug)
            rows.append((f"loader illum={ill or 'none'} geo={aug or 'centre'}", f"{ips:.0f}", "images/s",
                         "batch 64, 1 process"))
    for name in ("compact", "compact_tiny"):
        rows.append((f"train step {name} (fwd+bwd+SGD)", f"{bench_train(name, steps):.0f}", "images/s",
                     "batch 64, 96x96, CPU"))
    print("| measurement | value | unit | notes |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
