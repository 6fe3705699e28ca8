"""Benchmark of ``fertk run``: end-to-end fps on a 640x480 single-face video vs a naive loop.

Builds a real face video (scikit-image's astronaut moving across a 640x480 frame), saves a
``compact`` + ``gru`` checkpoint with random weights (speed does not depend on the values),
then in the same process measures:

- naive: decode, detect (dlib), crop, classify, GRU window, frame by frame, no outputs;
- fertk run: :func:`fertk.pipeline.run_job` end to end (decode thread, detection every N
  frames with landmark flow, batched classification in a second thread, CSV + JSONL written)
  for a few settings (``detect_every``, engine);
- peak memory (RSS high-water mark of a child process) on a short and a 4x longer video, to
  show it is flat in the video length.

Usage: ``python benchmarks/bench_run.py [--quick] [--frames N]``. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_video(path: Path, n: int, fps: float = 30.0) -> Path:
    import cv2
    from skimage import data

    from fertk.io.video import VideoWriter

    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:300, 90:370]
    with VideoWriter(path, fps=fps) as w:
        for i in range(n):
            canvas = np.full((480, 640, 3), 50, np.uint8)
            x = int(150 + 120 * np.sin(i / 25.0))
            canvas[90:390, x:x + 280] = img
            w.write(canvas)
    return path


def make_checkpoint(base: Path) -> Path:
    import torch

    import fertk
    from fertk.backbones.base import input_spec_of
    from fertk.checkpoint import save_checkpoint

    torch.manual_seed(0)
    classes = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
    net = fertk.create("backbones", "compact", num_classes=7)
    head = fertk.create("temporal", "gru", num_classes=7, input_dim=7)
    save_checkpoint(base, {"backbone": net.state_dict(), "temporal": head.state_dict()}, {
        "classes": classes, "backbone": {"name": "compact", "options": {}},
        "temporal": {"name": "gru", "options": {}}, "crop": {"name": "landmark", "options": {}},
        "detector": "dlib", "input_spec": input_spec_of(net)})
    return base


def naive(video: Path, ckpt: Path, detector_options: dict) -> tuple[float, int]:
    """Frame by frame: decode, detect, crop, classify one face at a time, GRU over 9 frames."""
    from collections import deque

    import cv2
    import torch

    import fertk
    from fertk.checkpoint import build_from_checkpoint, load_checkpoint
    from fertk.preprocess import FrameTransform

    net, head = build_from_checkpoint(load_checkpoint(str(ckpt)))
    det = fertk.create("detectors", "dlib", **detector_options)
    crop = fertk.create("crops", "landmark")
    tf = FrameTransform(net.input_spec)
    window: deque = deque(maxlen=9)
    cap = cv2.VideoCapture(str(video))
    n = 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            n += 1
            for face in det.detect(frame)[:1]:
                c = crop.crop(frame, face)
                p = torch.softmax(net(tf(c.image)), -1)[0]
                window.append(p)
                head.predict_window(torch.stack(list(window)))
    return time.perf_counter() - t0, n


def pipelined(video: Path, ckpt: Path, out: Path, **config) -> tuple[float, int]:
    from fertk.io.video import expand_sources
    from fertk.pipeline import OutputOptions, Pipeline, run_job

    pipe = Pipeline(weights=str(ckpt), **config)
    (item,) = expand_sources([str(video)])
    t0 = time.perf_counter()
    res = run_job(pipe, item, out, OutputOptions(annotate=False, timeline=False))
    if res.get("error"):
        raise RuntimeError(res["error"])
    return time.perf_counter() - t0, int(res["frames"])


def peak_rss_mb(video: Path, ckpt: Path, out: Path, config: dict) -> float:
    """Peak RSS of a child process running the pipeline on ``video`` (ru_maxrss)."""
    code = f"""
import json, resource
from fertk.io.video import expand_sources
from fertk.pipeline import OutputOptions, Pipeline, run_job
pipe = Pipeline(weights={str(ckpt)!r}, **{config!r})
(item,) = expand_sources([{str(video)!r}])
run_job(pipe, item, {str(out)!r}, OutputOptions(annotate=True, timeline=True))
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(res.stdout.strip().splitlines()[-1]) / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short videos, fewer settings")
    ap.add_argument("--frames", type=int, default=None)
    args = ap.parse_args()
    n = args.frames or (45 if args.quick else 300)
    det_opts = {"upsample": 0}  # 640x480 with a ~150 px face: no upsampling needed
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = make_video(tmp / "face640.mp4", n)
        ckpt = make_checkpoint(tmp / "compact_gru")
        rows = []
        dt, frames = naive(video, ckpt, det_opts)
        base_fps = frames / dt
        rows.append(["naive loop (decode, detect, crop, classify per frame)", "torch", 1,
                     frames, f"{base_fps:.1f}", "1.00x"])
        settings = [("torch", 1), ("torch", 5)] if args.quick else \
            [("torch", 1), ("torch", 3), ("torch", 5), ("onnxruntime", 5), ("onnxruntime", 10)]
        for engine, every in settings:
            cfg = dict(engine=engine, detect_every=every, detector_options=det_opts)
            dt, frames = pipelined(video, ckpt, tmp / f"out_{engine}_{every}", **cfg)
            fps = frames / dt
            rows.append(["fertk run (pipelined, CSV+JSONL)", engine, every, frames, f"{fps:.1f}",
                         f"{fps / base_fps:.2f}x"])
        print(f"\n### fertk run, 640x480 single-face video, dlib + compact + gru "
              f"({os.cpu_count()} CPUs)\n")
        print("| loop | engine | detect every | frames | fps | vs naive |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print("| " + " | ".join(str(v) for v in r) + " |")
        cfg = dict(engine="torch", detect_every=5, detector_options=det_opts)
        short = make_video(tmp / "short.mp4", n)
        long = make_video(tmp / "long.mp4", 4 * n)
        m1 = peak_rss_mb(short, ckpt, tmp / "mem1", cfg)
        m2 = peak_rss_mb(long, ckpt, tmp / "mem2", cfg)
        print("\n| video | frames | peak RSS (MB) |\n|---|---|---|")
        print(f"| short | {n} | {m1:.0f} |\n| long (4x) | {4 * n} | {m2:.0f} |")
        print(f"\nmemory growth for 4x the frames: {m2 - m1:+.0f} MB")
        print(json.dumps({"naive_fps": round(base_fps, 2)}), file=sys.stderr)


if __name__ == "__main__":
    main()
