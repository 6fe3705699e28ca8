"""The label table of examples/media/README.md, measured with the default model.

    python tools/demo_labels.py            # print the table the default model gives
    python tools/demo_labels.py --write    # and replace the README's table with it

Photos: ``fertk.Pipeline().analyze`` (one face each). The video: ``fertk.Pipeline().run``
(the frame model over the face track, smoothed, as ``make demo``); a span runs from half-way between the
last frame of the previous label and its first frame to half-way after its last frame, the
first from 0 and the last to the end of the video (its last frame's time plus one frame). ``tests/run/test_demo_labels.py``
checks the README's table against the model; run this after the default model changes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

MEDIA = Path(__file__).resolve().parents[1] / "examples" / "media"
PHOTOS = ("astronaut_eileen_collins.jpg", "obama_official_portrait_2012.jpg", "grace_hopper.jpg")
VIDEO = "pexels_wolfgang_langer.mp4"
HEADER = "| file | seconds | label |"


def spans(times: list[float], labels: list[str], end: float | None = None) -> list[tuple[float, float, str]]:
    """Runs of equal labels as ``(start, end, label)``, edges half-way between frames; the
    last run ends at ``end`` (default: the last frame's time)."""
    out: list[tuple[float, float, str]] = []
    for i, (t, label) in enumerate(zip(times, labels, strict=True)):
        if i and label == out[-1][2]:
            continue
        start = 0.0 if i == 0 else (times[i - 1] + t) / 2
        if out:
            out[-1] = (out[-1][0], start, out[-1][2])
        out.append((start, t, label))
    if out:
        out[-1] = (out[-1][0], times[-1] if end is None else end, out[-1][2])
    return out


def table() -> list[str]:
    import numpy as np

    import fertk

    pipe = fertk.Pipeline()
    rows = [HEADER, "| --- | --- | --- |"]
    for name in PHOTOS:
        (face,) = pipe.analyze(str(MEDIA / name)).faces
        rows.append(f"| `{name}` | | {face.label} |")
    frames = [(rec.time, rec.faces[0].label) for rec in pipe.run(str(MEDIA / VIDEO)) if rec.faces]
    times = [t for t, _ in frames]
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    for a, b, label in spans(times, [lab for _, lab in frames], end=times[-1] + step if times else None):
        rows.append(f"| `{VIDEO}` | {round(a, 2):g}-{round(b, 2):g} | {label} |")
    return rows


def replace_table(text: str, rows: list[str]) -> str:
    lines = text.splitlines()
    start = lines.index(HEADER)
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join(lines[:start] + rows + lines[end:]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="replace the table in examples/media/README.md")
    args = ap.parse_args()
    rows = table()
    print("\n".join(rows))
    if args.write:
        readme = MEDIA / "README.md"
        readme.write_text(replace_table(readme.read_text(encoding="utf-8"), rows), encoding="utf-8")
        print(f"wrote {readme}")


if __name__ == "__main__":
    main()
