"""FER2013 (Kaggle ICML 2013 challenge): ``fer2013.csv`` with columns emotion, pixels, Usage.

Rows are 48×48 gray faces, already cropped; labels 0 angry, 1 disgust, 2 fear, 3 happy,
4 sad, 5 surprise, 6 neutral. Every row is its own subject (the data set has no subject
ids); ``Usage`` (Training / PublicTest / PrivateTest) is kept in ``meta["usage"]`` and as
the sample's sequence prefix so fixed splits can be built from it. Frames are addressed as
``<csv>#<row>``. The default detector is ``none`` (the whole image is the face).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from fertk.datasets.base import BaseDataset, describe_dir
from fertk.errors import FertkError

FER_LABELS = {0: "anger", 1: "disgust", 2: "fear", 3: "happy", 4: "sadness", 5: "surprise", 6: "neutral"}
LAYOUT = "<root>/fer2013.csv (or the CSV itself) with columns emotion, pixels, Usage"


class FER2013(BaseDataset):
    name = "fer2013"
    default_detector = "none"

    def __init__(self, root, *, usage: str = "all", **options: Any) -> None:
        options.setdefault("mode", "peak")
        super().__init__(root, **options)
        path = self.root
        if path.is_dir():
            cands = sorted(path.glob("*.csv"))
            named = [c for c in cands if c.name.lower() == "fer2013.csv"]
            if not (named or len(cands) == 1):
                raise FertkError(f"fer2013: {self.root} is not in the FER2013 layout: expected {LAYOUT}; "
                                 f"found {describe_dir(self.root)}")
            path = (named or cands)[0]
        elif not path.is_file():
            raise FertkError(f"fer2013: {self.root} does not exist: expected {LAYOUT}")
        self.csv = path
        self.usage = usage
        self._pixels: dict[int, str] | None = None

    def options(self) -> dict[str, Any]:
        return {**super().options(), "usage": self.usage}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_pixels"] = None  # workers re-read the CSV lazily
        return state

    def _rows(self):
        with open(self.csv, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            cols = {c.lower(): c for c in (reader.fieldnames or [])}
            if "emotion" not in cols or "pixels" not in cols:
                raise FertkError(f"fer2013: {self.csv} has columns {reader.fieldnames}: expected {LAYOUT}")
            for i, row in enumerate(reader):
                yield i, row.get(cols["emotion"], ""), row[cols["pixels"]], row.get(cols.get("usage", ""), "")

    def _scan(self):
        items = []
        self._pixels = {}
        for i, emotion, pixels, usage in self._rows():
            if self.usage != "all" and usage.lower() != self.usage.lower():
                continue
            try:
                label = FER_LABELS[int(emotion)]
            except (ValueError, KeyError):
                self.report.add("bad_label", f"row {i}: {emotion!r}")
                continue
            self._pixels[i] = pixels
            items.append((label, [f"{self.csv}#{i}"], f"fer{i:05d}", f"{usage or 'all'}/{i:05d}",
                          {"usage": usage}))
        return items

    def read_frame(self, path: str) -> np.ndarray:
        _, _, row = path.rpartition("#")
        if self._pixels is None:
            self._pixels = {i: px for i, _, px, _ in self._rows()}
        try:
            values = np.array(self._pixels[int(row)].split(), dtype=np.float64)
            side = int(round(values.size ** 0.5))
            if side * side != values.size or side == 0:
                raise ValueError(f"{values.size} pixels is not a square image")
            return np.clip(values, 0, 255).astype(np.uint8).reshape(side, side)
        except (KeyError, ValueError) as exc:
            raise FertkError(f"{path}: unreadable FER2013 row ({exc})") from exc


def build_fer2013(root, **options: Any) -> FER2013:
    return FER2013(Path(root), **options)
