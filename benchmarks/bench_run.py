"""Benchmark of ``fertk run`` with its defaults: speed, detection quality, label flicker.

1. Speed. Builds a real face video (scikit-image's astronaut moving across a 640x480
   frame) and, in the same process, measures end-to-end fps of:

   - naive: decode, detect (the default detector at full quality), crop, classify with the
     default model in PyTorch (as many threads as fertk run's classifier), frame by frame,
     no output files;
   - fertk run with no options: :func:`fertk.jobs.run_job` with ``Pipeline()`` and every
     output (CSV, JSONL, annotated video, timeline PNG), and a few variants;
   - peak memory (RSS high-water marks of a child ``fertk run`` and of its largest worker) on
     videos of 500 and 5,000 frames, with ``--workers 1`` and ``--workers 2``;
   - the workers speed-up: ``fertk run`` over 8 short videos with ``--workers 1`` and 2.

   Compare the ratio to the naive loop more than the absolute fps: both are measured in the
   same run, under the same machine load.
2. Detection quality (skipped with ``--quick``): faces found per frame on the demo video
   ``examples/media/pexels_wolfgang_langer.mp4`` with the defaults vs the full-quality
   detector on every frame, and faces found on every photo of ``examples/media`` and
   ``tests/data`` (still images always get the full-quality detector).
3. Label stability (skipped with ``--quick``): on the demo video's track, for the defaults
   (the labels ``fertk run`` writes) and for other rules computed from the same per-frame
   probabilities (and from the weights' GRU head, ``--temporal gru``): label changes per
   second (flicker), the share of one-second windows whose most frequent label is the frame
   model's most frequent one (agreement; ties agree), and the lag from a change of the frame
   model's expression (its most frequent label in a centred second) to the label showing it
   (median over the changes the label follows; short episodes it skips are counted apart).

Usage: ``python benchmarks/bench_run.py [--quick] [--frames N] [--labels]`` (``--labels``: the
label-stability table alone). Prints Markdown tables.
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

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "media" / "pexels_wolfgang_langer.mp4"
PHOTO_DIRS = (ROOT / "examples" / "media", ROOT / "tests" / "data")


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


def naive(video: Path) -> tuple[float, int]:
    """Frame by frame: decode, detect, crop, classify each face with the default model."""
    import cv2
    import torch

    import fertk
    from fertk.checkpoint import build_from_checkpoint, load_checkpoint
    from fertk.detectors import DEFAULT_DETECTOR
    from fertk.pipeline import default_threads
    from fertk.preprocess import FrameTransform
    from fertk.weights import DEFAULT_WEIGHTS

    torch.set_num_threads(default_threads())  # as many as fertk run's classifier: a fair ratio
    ckpt = load_checkpoint(DEFAULT_WEIGHTS)
    net, _ = build_from_checkpoint(ckpt)
    det = fertk.create("detectors", ckpt.metadata.get("detector") or DEFAULT_DETECTOR)
    crop = fertk.create("crops", ckpt.metadata["crop"]["name"],
                        **(ckpt.metadata["crop"].get("options") or {}))
    tf = FrameTransform(ckpt.metadata["input_spec"])
    cap = cv2.VideoCapture(str(video))
    n = 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            n += 1
            for face in det.detect(frame):
                torch.softmax(net(tf(crop.crop(frame, face).image)), -1)
    return time.perf_counter() - t0, n


def pipelined(video: Path, out: Path, **config) -> tuple[float, int, dict]:
    """``run_job`` end to end with every output; the time includes the pipeline's start-up."""
    from fertk.io.video import expand_sources
    from fertk.jobs import run_job
    from fertk.pipeline import Pipeline

    (item,) = expand_sources([str(video)])
    t0 = time.perf_counter()
    pipe = Pipeline(**config)
    t1 = time.perf_counter()
    res = run_job(pipe, item, out)
    if res.get("error"):
        raise RuntimeError(res["error"])
    return time.perf_counter() - t1, int(res["frames"]), {"startup_s": t1 - t0,
                                                          "engine": pipe.classifier.name,
                                                          "codec": res.get("video_codec")}


def table(title: str, cols: list[str], rows: list[list]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(v) for v in r) + " |")


def speed(n: int, quick: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = make_video(tmp / "face640.mp4", n)
        dt, frames = naive(video)
        base = frames / dt
        rows = [["naive loop: decode, detect (full quality), crop, classify (torch), no files",
                 frames, f"{base:.1f}", "1.00x"]]
        settings = [("`fertk run` defaults (all outputs)", {})]
        if not quick:
            settings += [
                ("defaults, `--engine torch`", {"engine": "torch"}),
                ("defaults, `--smooth 0`", {"smoothing": 0.0}),
                ("`--detect-every 1 --scan-every 1` (full quality every frame)",
                 {"detect_every": 1, "scan_every": 1}),
            ]
        result = {"naive_fps": round(base, 2)}
        for name, cfg in settings:
            dt, frames, info = pipelined(video, tmp / f"out{len(result)}", **cfg)
            fps = frames / dt
            rows.append([f"{name} [{info['engine']}, video {info['codec']}]", frames,
                         f"{fps:.1f}", f"{fps / base:.2f}x"])
            result.setdefault("defaults_fps", round(fps, 2))
            result.setdefault("defaults_vs_naive", round(fps / base, 2))
            result.setdefault("startup_s", round(info["startup_s"], 2))
        table(f"Speed: 640x480 single-face video, {n} frames, default model "
              f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})",
              ["loop", "frames", "fps", "vs naive"], rows)
        print(f"\nstart-up of the default pipeline (not in the fps): {result['startup_s']:.1f} s")
        if not quick:
            result.update(memory(tmp))
            result.update(workers_speedup(tmp))
        return result


def _cli_child(args: list[str]) -> tuple[float, list[float]]:
    """``fertk run ARGS`` in a child process: its wall time and peak RSS (MB) of the parent
    and of its largest worker (``ru_maxrss``; 0 without workers)."""
    code = (
        "import json, resource, sys, time\n"
        "from fertk.cli import main\n"
        "t0 = time.perf_counter()\n"
        f"code = main({args!r})\n"
        "dt = time.perf_counter() - t0\n"
        "rs = [resource.getrusage(w).ru_maxrss for w in "
        "(resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]\n"
        "print(json.dumps([code, dt, rs]))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    code, dt, rss = json.loads(res.stdout.strip().splitlines()[-1])
    if code:
        raise RuntimeError(res.stderr[-2000:])
    return dt, [r / 1024.0 for r in rss]


def memory(tmp: Path, lengths: tuple[int, ...] = (500, 5000)) -> dict:
    """Peak RSS of ``fertk run`` with the defaults (every output) on videos of ``lengths``
    frames, with ``--workers 1`` (one video) and ``--workers 2`` (two copies, one each)."""
    rows, found = [], {}
    for n in lengths:
        folder = tmp / f"mem{n}"
        folder.mkdir()
        video = make_video(folder / "a.mp4", n)
        os.symlink(video, folder / "b.mp4")
        one = _cli_child(["run", str(video), "--out", str(tmp / f"memout1_{n}")])[1]
        two = _cli_child(["run", str(folder), "--workers", "2", "--out",
                          str(tmp / f"memout2_{n}")])[1]
        rows.append([n, f"{one[0]:.0f}", f"{two[0]:.0f} + {two[1]:.0f} per worker"])
        found[n] = [round(one[0]), round(two[0]), round(two[1])]
    table("Peak memory (RSS, MB), defaults, 640x480 one-face video",
          ["frames", "`--workers 1`", "`--workers 2` (parent + largest worker)"], rows)
    return {"rss_mb": found}


def workers_speedup(tmp: Path, videos: int = 8, frames: int = 90) -> dict:
    """Wall time of ``fertk run`` over ``videos`` short videos with ``--workers 1`` and 2
    (start-up of the process and its workers included)."""
    folder = tmp / "eight"
    folder.mkdir()
    for k in range(videos):
        make_video(folder / f"v{k}.mp4", frames)
    t1 = _cli_child(["run", str(folder), "--out", str(tmp / "w1")])[0]
    t2 = _cli_child(["run", str(folder), "--workers", "2", "--out", str(tmp / "w2")])[0]
    table(f"Workers: {videos} videos of {frames} frames (640x480), defaults, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
          ["workers", "seconds", "speed-up"],
          [[1, f"{t1:.1f}", "1.00x"], [2, f"{t2:.1f}", f"{t1 / t2:.2f}x"]])
    return {"workers_s": [round(t1, 1), round(t2, 1)], "workers_speedup": round(t1 / t2, 2)}


def quality_and_flicker() -> dict:
    import fertk
    from fertk.io.images import read_image

    full = fertk.Pipeline(detect_every=1, scan_every=1, smoothing=0.0)
    default = fertk.Pipeline()
    recs_full = list(full.run(str(DEMO)))
    recs_def = list(default.run(str(DEMO)))
    from fertk.tracking import iou

    n = len(recs_full)
    found_full = sum(len(r.faces) for r in recs_full)
    found_def = sum(len(r.faces) for r in recs_def)
    pairs = [(a.time, a.faces[0], b.faces[0]) for a, b in zip(recs_full, recs_def, strict=True)
             if a.faces and b.faces]
    mean_iou = float(np.mean([iou(a.box, b.box) for _, a, b in pairs]))
    agree = float(np.mean([a.label == b.frame_label(default.classes) for _, a, b in pairs]))
    # what a user sees: the smoothed labels, the reference smoothed the same way
    ref = smoothed_labels(np.stack([a.probs for _, a, _ in pairs]), [t for t, _, _ in pairs],
                          default.smoothing, default.hysteresis)
    agree_smooth = float(np.mean([int(k) == default.classes.index(b.label)
                                  for k, (_, _, b) in zip(ref, pairs, strict=True)]))
    rows = [[f"demo video ({n} frames)", f"{found_full / n:.3f} per frame",
             f"{found_def / n:.3f} per frame",
             f"mean IoU of the boxes {mean_iou:.3f}; same label on {100 * agree:.1f}% of the "
             f"frames (frame model), {100 * agree_smooth:.1f}% (smoothed)"]]
    photos = sorted(p for d in PHOTO_DIRS for p in d.iterdir()
                    if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for p in photos:
        img = read_image(str(p))
        a = len(full.detector.detect(img))
        b = len(default.analyze(img, source=str(p)).faces)
        rows.append([p.relative_to(ROOT), a, b, "stills: full-quality detector"])
    table("Detection quality: faces found, full-quality detector on every frame vs defaults",
          ["input", "full quality, every frame", "defaults", "note"], rows)

    stability = label_stability(recs_def, default)
    return {"faces_per_frame": [found_full / n, found_def / n], "iou": mean_iou,
            "label_agreement": [agree, agree_smooth], **stability}


def smoothed_labels(probs: np.ndarray, times: list[float], width: float, ratio: float
                    ) -> list[int]:
    """Label indices of one track under :class:`LabelSmoother` (offline: every frame known)."""
    from fertk.temporal.smoothing import LabelSmoother

    sm = LabelSmoother(width, ratio)
    for t, p in zip(times, probs, strict=True):
        sm.add(1, t, p)
    return [sm.smooth(1, t)[1] for t in times]


def label_stability(recs_def: list, default) -> dict:
    """Flicker, agreement with the frame model and lag, for the defaults and other rules."""
    from fertk.temporal.smoothing import (
        TrackSmoother,
        change_lags,
        label_changes_per_second,
        window_agreement,
    )

    faces = [(r.time, r.faces[0]) for r in recs_def if r.faces]
    times = [t for t, _ in faces]
    raw = np.stack([f.frame_probs for _, f in faces])
    classes = list(default.classes)
    reference = [classes[int(k)] for k in raw.argmax(1)]
    gru = fertk_pipeline(temporal=default.weights_temporal) if default.weights_temporal else None
    head = None
    if gru is not None:
        head = np.stack([r.faces[0].probs for r in gru.run(str(DEMO)) if r.faces])

    def measure(labels: list) -> list:
        labels = [classes[int(k)] if not isinstance(k, str) else k for k in labels]
        lags = np.array(change_lags(labels, reference, times))
        hit = lags[~np.isnan(lags)]
        return [f"{label_changes_per_second(labels, times):.2f}",
                f"{100 * window_agreement(labels, reference, times):.0f}%",
                f"{np.median(hit):.2f} s ({len(hit)} of {len(lags)})" if len(hit) else "-"]

    def ema(probs: np.ndarray, tau: float) -> np.ndarray:
        sm = TrackSmoother(tau)
        return np.stack([sm.update(1, p, t) for p, t in zip(probs, times, strict=True)])

    used = [f.label for _, f in faces]
    w, m = default.smoothing, default.hysteresis
    rows = [[f"**defaults: frame model, {w:g} s centred window, hysteresis {m:g}x** "
             "(the labels `fertk run` wrote)", *measure(used)],
            ["frame model alone (`--smooth 0`)", *measure(raw.argmax(1))],
            [f"{w:g} s centred window, no hysteresis (`--hysteresis 1`)",
             *measure(smoothed_labels(raw, times, w, 1.0))],
            [f"{w:g} s centred window, hysteresis 1.5x (`--hysteresis 1.5`)",
             *measure(smoothed_labels(raw, times, w, 1.5))],
            [f"{w:g} s centred window, hysteresis 3x (`--hysteresis 3`)",
             *measure(smoothed_labels(raw, times, w, 3.0))],
            [f"0.5 s centred window, hysteresis {m:g}x (`--smooth 0.5`)",
             *measure(smoothed_labels(raw, times, 0.5, m))],
            [f"2 s centred window, hysteresis {m:g}x (`--smooth 2`)",
             *measure(smoothed_labels(raw, times, 2.0, m))],
            ["causal EMA, tau 0.3 s (the previous rule)", *measure(ema(raw, 0.3).argmax(1))]]
    if head is not None:
        name = default.weights_temporal
        rows += [[f"the weights' {name} head (`--temporal {name}`, no smoothing)",
                  *measure(head.argmax(1))],
                 [f"{name} head, causal EMA tau 0.3 s", *measure(ema(head, 0.3).argmax(1))],
                 [f"{name} head, {w:g} s centred window, hysteresis {m:g}x "
                  f"(`--temporal {name} --smooth {w:g}`)", *measure(smoothed_labels(head, times, w, m))]]
    table(f"Label stability on the demo video ({times[-1] - times[0]:.1f} s, one track, "
          f"model {default.model.source})",
          ["labels", "changes / s", "1-s windows agreeing with the frame model",
           "lag to a change (median; changes followed)"], rows)
    defaults = measure(used)
    lags = np.array(change_lags(used, reference, times))
    return {"flicker": float(defaults[0]), "agreement": window_agreement(used, reference, times),
            "lag_s": float(np.nanmedian(lags)) if np.isfinite(lags).any() else None,
            "frame_model_flicker": label_changes_per_second(reference, times)}


def fertk_pipeline(**config):
    import fertk

    return fertk.Pipeline(**config)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="short video, the defaults only, no quality/flicker tables")
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--labels", action="store_true",
                    help="only the label-stability table (the demo video, defaults and other rules)")
    args = ap.parse_args()
    if args.labels:
        import fertk

        default = fertk.Pipeline()
        result = label_stability(list(default.run(str(DEMO))), default)
        print(json.dumps(result, default=float), file=sys.stderr)
        return
    n = args.frames or (60 if args.quick else 300)
    result = speed(n, args.quick)
    if not args.quick:
        result.update(quality_and_flicker())
    print(json.dumps(result, default=float), file=sys.stderr)


if __name__ == "__main__":
    main()
