"""Start-up of the Python API: ``import fertk; fertk.Pipeline()`` in a fresh process.

Each repeat is a new Python process (nothing imported, every file in the OS cache after the
first) that times, in wall-clock seconds and in CPU seconds of the process (``time.process_time``,
which another program's load barely changes, unlike the wall clock):

- ``import``: ``import fertk`` (light: no torch);
- ``torch``: ``import torch`` (what every PyTorch program pays; fertk's model needs it);
- ``Pipeline()``: the rest of ``fertk.Pipeline()`` (the checkpoint, the onnxruntime session of
  its cached ONNX export, dlib's face detector and landmark model, the crop);
- ``first image``: ``pipe.analyze(photo)`` on ``examples/media/grace_hopper.jpg``.

Usage: ``python benchmarks/bench_startup.py [--repeats N]``. Prints a Markdown table of the
medians; compare CPU seconds across machines and loads, wall seconds only on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

PHOTO = Path(__file__).resolve().parent.parent / "examples" / "media" / "grace_hopper.jpg"

CHILD = r"""
import json, sys, time
marks = [("start", time.perf_counter(), time.process_time())]
def mark(name):
    marks.append((name, time.perf_counter(), time.process_time()))
import fertk
mark("import")
import torch
mark("torch")
pipe = fertk.Pipeline()
mark("Pipeline()")
pipe.analyze(sys.argv[1])
mark("first image")
print(json.dumps([(n, w - marks[i][1], c - marks[i][2]) for i, (n, w, c) in enumerate(marks[1:])]))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    runs = []
    for _ in range(args.repeats + 1):  # the first fills the OS file cache (and the ONNX cache)
        out = subprocess.run([sys.executable, "-c", CHILD, str(PHOTO)], capture_output=True,
                             text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    runs = runs[1:]
    print("| step | wall s | CPU s |\n|---|---|---|")
    total_w = total_c = 0.0
    for k, (name, _, _) in enumerate(runs[0]):
        wall = statistics.median(r[k][1] for r in runs)
        cpu = statistics.median(r[k][2] for r in runs)
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")
        if name != "first image":
            total_w, total_c = total_w + wall, total_c + cpu
    print(f"| **import fertk + Pipeline()** | **{total_w:.2f}** | **{total_c:.2f}** |")


if __name__ == "__main__":
    main()
