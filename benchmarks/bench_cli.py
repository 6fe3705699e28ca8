"""Benchmark: CLI start-up time (`fertk --help`, `fertk list backbones --json`) and heavy imports.

Usage: python benchmarks/bench_cli.py [--repeat N] [--quick]
Prints a Markdown table: median wall time of each command over N runs in fresh processes, and
whether `import fertk.cli` pulled in torch, cv2, dlib, timm or onnxruntime (from -X importtime).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("torch", "cv2", "dlib", "timm", "onnxruntime", "mediapipe")


def fertk_exe() -> list[str]:
    exe = Path(sys.executable).with_name("fertk")
    return [str(exe)] if exe.exists() else [shutil.which("fertk") or "fertk"]


def time_cmd(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def heavy_imports() -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import fertk.cli"],
        capture_output=True,
        text=True,
        check=True,
    )
    mods = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    return sorted(m for m in mods if m.split(".")[0] in HEAVY)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    repeat = 2 if args.quick else args.repeat
    exe = fertk_exe()
    rows = [
        ("python -c 'pass' (interpreter floor)", time_cmd([sys.executable, "-c", "pass"], repeat)),
        ("fertk --help", time_cmd([*exe, "--help"], repeat)),
        ("fertk --version", time_cmd([*exe, "--version"], repeat)),
        ("fertk list backbones --json", time_cmd([*exe, "list", "backbones", "--json"], repeat)),
        ("fertk plugins --all --json", time_cmd([*exe, "plugins", "--all", "--json"], repeat)),
    ]
    print(f"| command | median of {repeat} (ms) |\n|---|---|")
    for name, t in rows:
        print(f"| `{name}` | {t * 1000:.0f} |")
    heavy = heavy_imports()
    print(f"\nheavy modules imported by `import fertk.cli`: {', '.join(heavy) if heavy else 'none'}")


if __name__ == "__main__":
    main()
