"""Pack FER2013 into one small file (to carry it to a GPU machine), and unpack it there.

    python tools/pack_fer2013.py pack ROOT fer2013.u8.xz    # any layout fertk reads
    python tools/pack_fer2013.py unpack fer2013.u8.xz DIR   # writes DIR/fer2013.csv

The pack is an xz stream: one JSON header line (format, count, side, class names in FER
order) then per image one label byte (FER code 0-6), one usage byte (0 Training,
1 PublicTest, 2 PrivateTest) and side*side gray pixels, in the data set's order. The 35,887
images of FER2013 take 61.9 MiB (the JPEG export 63 MiB of files, 75 MiB as a zlib npz).
Unpacking writes the original CSV layout (``emotion,pixels,Usage``), which
``fertk.datasets.fer2013`` reads with the same labels and splits; pixels are the decoded
images, so the same crops come out (tested on a generated export).
"""

from __future__ import annotations

import argparse
import json
import lzma
from pathlib import Path

import numpy as np

FORMAT = "fertk-fer2013-u8/1"
FER_CODES = {"anger": 0, "disgust": 1, "fear": 2, "happy": 3, "sadness": 4, "surprise": 5, "neutral": 6}
USAGES = ("Training", "PublicTest", "PrivateTest")


def pack(root: str, dest: str, side: int = 48) -> dict:
    import fertk

    ds = fertk.create("datasets", "fer2013", root=root)
    samples = ds.samples()
    with lzma.open(dest, "wb", preset=6) as out:
        header = {"format": FORMAT, "count": len(samples), "side": side, "report": ds.report.counts()}
        out.write((json.dumps(header) + "\n").encode())
        for s in samples:
            img = ds.read_frame(s.paths[0])
            if img.ndim == 3:
                img = img[..., 0] if np.ptp(img.astype(int), axis=2).max() == 0 else \
                    np.asarray(img.mean(axis=2), dtype=np.uint8)
            if img.shape != (side, side):
                raise SystemExit(f"{s.paths[0]}: {img.shape} is not {side}x{side}")
            out.write(bytes([FER_CODES[ds.classes[s.label]], USAGES.index(s.meta["usage"])]))
            out.write(np.ascontiguousarray(img, dtype=np.uint8).tobytes())
    return header


def unpack(src: str, folder: str) -> Path:
    out_dir = Path(folder)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / "fer2013.csv"
    with lzma.open(src, "rb") as fh, open(csv, "w", encoding="utf-8") as out:
        header = json.loads(fh.readline())
        if header.get("format") != FORMAT:
            raise SystemExit(f"{src}: not a {FORMAT} pack")
        n, side = int(header["count"]), int(header["side"])
        out.write("emotion,pixels,Usage\n")
        for _ in range(n):
            rec = fh.read(2 + side * side)
            if len(rec) != 2 + side * side:
                raise SystemExit(f"{src}: truncated pack")
            pixels = " ".join(map(str, rec[2:]))
            out.write(f"{rec[0]},{pixels},{USAGES[rec[1]]}\n")
    return csv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("root")
    p.add_argument("dest")
    u = sub.add_parser("unpack")
    u.add_argument("src")
    u.add_argument("folder")
    args = ap.parse_args()
    if args.cmd == "pack":
        print(json.dumps(pack(args.root, args.dest)))
    else:
        print(unpack(args.src, args.folder))


if __name__ == "__main__":
    main()
