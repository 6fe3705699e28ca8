"""FER2013 (Goodfellow et al. 2013; Kaggle ICML 2013 challenge): the CSV or an image-folder export.

Two layouts, told apart by what ``root`` holds:

- **CSV**: ``fer2013.csv`` (or the CSV itself) with columns ``emotion, pixels, Usage``;
  labels 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral. Frames are
  addressed as ``<csv>#<row>``.
- **Image folders**, as the data set is commonly redistributed: split folders
  ``root/{train,validation,test}/<class>/<image>`` (``train``/``training`` = Training,
  ``validation``/``val``/``publictest`` = PublicTest, ``test``/``privatetest`` =
  PrivateTest), or class folders ``root/<class>/<image>`` whose file names carry the split as
  a prefix (``Training_123.jpg``, ``PublicTest_…``, ``PrivateTest_…``). A prefix, where
  present, decides the split. Files whose stem itself ends in an image name
  (``Training_1.jpg0.jpg``: augmented copies some exports add) are not FER2013 and are left
  out, as are files of unknown split or class; the report counts each kind.

The faces are 48×48 gray and already cropped, so the default detector is ``none`` (the whole
image is the face). Every image is its own subject (the data set has no subject ids); the
subject id is ``<Usage>/<id>``, which is what the ``standard`` protocol (train on Training,
select on PublicTest, report PrivateTest; :func:`fertk.splits.standard_split`) reads.
``usage=Training`` (or PublicTest, PrivateTest) keeps one split.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import numpy as np

from fertk.datasets.base import BaseDataset, canonical_label, describe_dir, is_image
from fertk.errors import FertkError

FER_LABELS = {0: "anger", 1: "disgust", 2: "fear", 3: "happy", 4: "sadness", 5: "surprise", 6: "neutral"}
USAGES = ("Training", "PublicTest", "PrivateTest")
_USAGE_OF = {u.lower(): u for u in USAGES}  # any spelling's case → FER2013's Usage
#: Split folder names of image-folder exports → FER2013's Usage.
SPLIT_DIRS = {"train": "Training", "training": "Training", "validation": "PublicTest",
              "val": "PublicTest", "valid": "PublicTest", "publictest": "PublicTest",
              "test": "PrivateTest", "privatetest": "PrivateTest"}
LAYOUT = ("<root>/fer2013.csv (or the CSV itself) with columns emotion, pixels, Usage; or image "
          "folders <root>/{train,validation,test}/<class>/*.jpg, or <root>/<class>/"
          "{Training,PublicTest,PrivateTest}_*.jpg")
_PREFIX = re.compile(r"^(Training|PublicTest|PrivateTest)_", re.IGNORECASE)
_COPY = re.compile(r"\.(png|jpe?g|bmp)\d*$", re.IGNORECASE)


class FER2013(BaseDataset):
    name = "fer2013"
    default_detector = "none"
    #: The split ``fertk eval`` scores by default (the standard protocol's test split).
    standard_test = "PrivateTest"

    def __init__(self, root, *, usage: str = "all", **options: Any) -> None:
        options.setdefault("mode", "peak")
        super().__init__(root, **options)
        if usage != "all" and usage.lower() not in _USAGE_OF:
            raise FertkError(f"fer2013: usage must be all, {', '.join(USAGES)} (got {usage!r})")
        self.usage = "all" if usage == "all" else _USAGE_OF[usage.lower()]
        self.csv: Path | None = None
        self._pixels: dict[int, str] | None = None
        path = self.root
        if path.is_file():
            self.csv = path
        elif path.is_dir():
            cands = sorted(path.glob("*.csv"))
            named = [c for c in cands if c.name.lower() == "fer2013.csv"]
            folders = self._folder_layout()
            if named or (len(cands) == 1 and not folders):
                self.csv = (named or cands)[0]
            elif not folders:
                raise FertkError(f"fer2013: {self.root} is not in the FER2013 layout: expected {LAYOUT}; "
                                 f"found {describe_dir(self.root)}")
        else:
            raise FertkError(f"fer2013: {self.root} does not exist: expected {LAYOUT}")

    @property
    def layout(self) -> str:
        return "csv" if self.csv is not None else "folders"

    def options(self) -> dict[str, Any]:
        return {**super().options(), "usage": self.usage}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_pixels"] = None  # workers re-read the CSV lazily
        return state

    def _keep(self, usage: str) -> bool:
        return self.usage == "all" or usage == self.usage

    # -- image folders --------------------------------------------------------------------
    def _folder_layout(self) -> bool:
        """True if ``root`` holds split folders or class folders (the image-folder export)."""
        for p in self.root.iterdir():
            if p.is_dir() and (p.name.lower() in SPLIT_DIRS or canonical_label(p.name)):
                return True
        return False

    def _folder_items(self):
        items = []
        split_dirs = [p for p in sorted(self.root.iterdir()) if p.is_dir() and p.name.lower() in SPLIT_DIRS]
        tops = [(SPLIT_DIRS[p.name.lower()], p) for p in split_dirs] or [(None, self.root)]
        for split, top in tops:
            for cdir in sorted(p for p in top.iterdir() if p.is_dir() and not p.name.startswith(".")):
                label = canonical_label(cdir.name)
                if label is None or label == "contempt":
                    self.report.add("unknown_class", str(cdir), sum(1 for _ in cdir.iterdir()))
                    continue
                for f in sorted(cdir.iterdir()):
                    if not f.is_file() or not is_image(f.name):
                        self.report.add("not_an_image", str(f))
                        continue
                    if _COPY.search(f.stem):
                        self.report.add("augmented_copy", str(f))
                        continue
                    m = _PREFIX.match(f.name)
                    usage = _USAGE_OF[m.group(1).lower()] if m else split
                    if usage is None:
                        self.report.add("unknown_split", str(f))
                        continue
                    if split is not None and usage != split:
                        self.report.add("prefix_overrides_folder", str(f))
                    if not self._keep(usage):
                        continue
                    stem = f.stem[m.end():] if m else f.stem
                    items.append((label, [str(f)], f"{usage}/{stem}", f"{usage}/{label}/{stem}",
                                  {"usage": usage}))
        if not items and not self.report:
            raise FertkError(f"fer2013: no images under {self.root}: expected {LAYOUT}")
        return items

    # -- CSV ------------------------------------------------------------------------------
    def _rows(self):
        assert self.csv is not None
        with open(self.csv, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            cols = {c.lower(): c for c in (reader.fieldnames or [])}
            if "emotion" not in cols or "pixels" not in cols:
                raise FertkError(f"fer2013: {self.csv} has columns {reader.fieldnames}: expected {LAYOUT}")
            for i, row in enumerate(reader):
                yield i, row.get(cols["emotion"], ""), row[cols["pixels"]], row.get(cols.get("usage", ""), "")

    def _csv_items(self):
        items = []
        self._pixels = {}
        for i, emotion, pixels, usage in self._rows():
            usage = _USAGE_OF.get(usage.strip().lower(), usage.strip() or "all")
            if not self._keep(usage):
                continue
            try:
                label = FER_LABELS[int(emotion)]
            except (ValueError, KeyError):
                self.report.add("bad_label", f"row {i}: {emotion!r}")
                continue
            self._pixels[i] = pixels
            items.append((label, [f"{self.csv}#{i}"], f"{usage}/{i:05d}", f"{usage}/{i:05d}",
                          {"usage": usage}))
        return items

    def _scan(self):
        return self._csv_items() if self.csv is not None else self._folder_items()

    def read_frame(self, path: str) -> np.ndarray:
        if self.csv is None or "#" not in path:
            return super().read_frame(path)
        _, _, row = path.rpartition("#")
        if self._pixels is None:
            self._pixels = {i: px for i, _, px, _ in self._rows()}
        try:
            return pixels_image(self._pixels[int(row)])
        except (KeyError, ValueError) as exc:
            raise FertkError(f"{path}: unreadable FER2013 row ({exc})") from exc


def pixels_image(text: str) -> np.ndarray:
    """The square uint8 image of a FER2013 ``pixels`` cell (space-separated gray values)."""
    values = np.array(text.split(), dtype=np.float64)
    side = int(round(values.size ** 0.5))
    if side * side != values.size or side == 0:
        raise ValueError(f"{values.size} pixels is not a square image")
    return np.clip(values, 0, 255).astype(np.uint8).reshape(side, side)


def build_fer2013(root, **options: Any) -> FER2013:
    return FER2013(Path(root), **options)
