"""FER+ (Barsoum et al., ICMI 2016): FER2013's 35,887 faces re-labelled by ten annotators each.

Two layouts, told apart by what ``root`` holds:

- **Split folders** as Microsoft's FERPlus tools write them (``generate_training_data.py``):
  ``root/FER2013Train``, ``FER2013Valid``, ``FER2013Test`` (or ``root/data/...``), each with
  48×48 PNGs and a ``label.csv`` of rows ``name, "(x, y, w, h)", ten vote counts``.
- **The original CSVs**: ``fer2013.csv`` (``emotion, pixels, Usage``) and ``fer2013new.csv``
  (``Usage, Image name, ten vote counts``) side by side, row *i* of one being row *i* of the
  other; rows without an image name (removed by FER+) are left out. Frames are addressed as
  ``<fer2013.csv>#<row>``.

The ten votes are, in order, neutral, happiness, surprise, sadness, anger, disgust, fear,
contempt, unknown and not-a-face (NF). Each face's target follows
``FERPlusReader._process_data`` of ``src/ferplus.py`` in ``microsoft/FERPlus`` exactly, for the
label mode ``labels``:

- every count of one vote (or less) is set to 0 (outlier removal);
- ``majority``: the class with more than half of the remaining votes, else *unknown*;
- ``crossentropy`` and ``probability``: the largest counts are taken, largest first (ties
  together), while they hold less than 75 % of the votes and fewer than three classes; the
  face becomes *unknown* when an unknown/NF count is reached alone, or when what was taken is
  at most half of the votes or more than three classes;
- ``multilabel``: every class with at least 30 % of the votes; *unknown* if they hold at most
  half of the votes;

then a face whose largest entry is *unknown* or NF is dropped, and the eight emotion entries
are renormalised to sum to one. The mode applies to the training faces; validation and test
faces always use ``majority``, as the reference ``train.py`` scores them. How the target is
trained on is part of the mode too (``target_kind``, read by the trainer's loss,
:mod:`fertk.training.losses`): ``majority`` and ``crossentropy`` minimise the cross-entropy
with the target, ``probability`` draws one class from it for every batch, ``multilabel``
minimises ``-log max_c(t_c p_c)``.

Classes map onto fertk's canonical names (happiness → happy), so FER2013 models and FER+
models can be scored on the same faces. Subjects are ``<Usage>/<id>`` (Training, PublicTest,
PrivateTest, FER2013's own names), which is what the ``standard`` protocol reads. The default
detector is ``none``: the faces are already cropped.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import numpy as np

from fertk.datasets.base import BaseDataset, describe_dir
from fertk.errors import FertkError

#: The ten vote columns of FER+, in order, as fertk's canonical class names (the last two are
#: not emotions).
VOTE_CLASSES = ("neutral", "happy", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                "unknown", "not_a_face")
EMOTIONS = 8
LABEL_MODES = ("majority", "probability", "crossentropy", "multilabel")
#: How the trainer uses each mode's targets (fertk.training.losses.TARGET_LOSSES).
TARGET_KIND = {"majority": "soft", "crossentropy": "soft", "probability": "sample",
               "multilabel": "max"}
SPLIT_FOLDERS = {"FER2013Train": "Training", "FER2013Valid": "PublicTest", "FER2013Test": "PrivateTest"}
USAGES = ("Training", "PublicTest", "PrivateTest")
LAYOUT = ("<root>/FER2013Train|FER2013Valid|FER2013Test/ with 48x48 PNGs and label.csv (the "
          "FERPlus tools' output), or <root>/fer2013.csv beside <root>/fer2013new.csv")


def process_votes(votes: Any, mode: str) -> np.ndarray:
    """The ten-entry target of one face's vote counts under ``mode``: FERPlus's
    ``_process_data`` (src/ferplus.py), entry for entry. Unknown faces come back as the one-hot
    *unknown* vector (index 8)."""
    raw = [float(v) for v in votes]
    size = len(raw)
    unknown = [0.0] * size
    unknown[-2] = 1.0
    for i in range(size):  # remove emotions with a single vote (outlier removal)
        if raw[i] < 1.0 + sys.float_info.epsilon:
            raw[i] = 0.0
    total = sum(raw)
    emotion = [0.0] * size
    if mode == "majority":
        top = max(raw)
        if top > 0.5 * total:
            emotion[int(np.argmax(raw))] = top
        else:
            emotion = unknown
    elif mode in ("probability", "crossentropy"):
        emotion = _top_votes(raw, total, unknown)
    elif mode == "multilabel":
        for i in range(size):
            if raw[i] >= 0.3 * total:
                emotion[i] = raw[i]
        if sum(emotion) <= 0.5 * total:
            emotion = unknown
    else:
        raise FertkError(f"ferplus: labels must be one of {', '.join(LABEL_MODES)} (got {mode!r})")
    s = sum(emotion)
    return np.asarray([v / s for v in emotion], dtype=np.float64)


def _top_votes(raw: list[float], total: float, unknown: list[float]) -> list[float]:
    """The ``probability``/``crossentropy`` branch of ``_process_data``: largest counts first."""
    size = len(raw)
    emotion = [0.0] * size
    part, count, valid = 0.0, 0, True
    while part < 0.75 * total and count < 3 and valid:
        top = max(raw)
        for i in range(size):
            if raw[i] == top:
                emotion[i] = top
                raw[i] = 0
                part += emotion[i]
                count += 1
                if i >= EMOTIONS:  # unknown or NF share the largest count
                    valid = False
                    if sum(emotion) > top:  # other emotions came before it
                        emotion[i] = 0
                        count -= 1
                    break
    if sum(emotion) <= 0.5 * total or count > 3:
        return unknown
    return emotion


def face_target(votes: Any, mode: str) -> np.ndarray | None:
    """The eight emotion probabilities (FER+ order) of a face, or ``None`` when the reference
    reader drops it (its largest entry is unknown or not-a-face)."""
    t = process_votes(votes, mode)
    if int(np.argmax(t)) >= EMOTIONS:
        return None
    e = t[:EMOTIONS]
    return e / e.sum()


class FERPlus(BaseDataset):
    name = "ferplus"
    default_detector = "none"
    standard_test = "PrivateTest"

    def __init__(self, root, *, labels: str = "majority", usage: str = "all", **options: Any) -> None:
        options.setdefault("mode", "peak")
        super().__init__(root, **options)
        if labels not in LABEL_MODES:
            raise FertkError(f"ferplus: labels must be one of {', '.join(LABEL_MODES)} (got {labels!r})")
        if usage != "all" and usage not in USAGES:
            raise FertkError(f"ferplus: usage must be all, {', '.join(USAGES)} (got {usage!r})")
        self.labels, self.usage = labels, usage
        self.target_kind = TARGET_KIND[labels]
        self.csv: Path | None = None
        self._pixels: dict[int, str] | None = None
        self.folders = self._split_folders()
        if not self.folders:
            self.csv, self.votes_csv = self._csv_pair()

    def options(self) -> dict[str, Any]:
        return {**super().options(), "labels": self.labels, "usage": self.usage}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_pixels"] = None  # workers re-read the CSV lazily
        return state

    # -- layouts --------------------------------------------------------------------------
    def _split_folders(self) -> dict[str, Path]:
        if not self.root.is_dir():
            raise FertkError(f"ferplus: {self.root} is not a folder: expected {LAYOUT}")
        for base in (self.root, self.root / "data"):
            found = {usage: base / name for name, usage in SPLIT_FOLDERS.items()
                     if (base / name / "label.csv").is_file()}
            if found:
                return found
        return {}

    def _csv_pair(self) -> tuple[Path, Path]:
        images, votes = self.root / "fer2013.csv", self.root / "fer2013new.csv"
        if not (images.is_file() and votes.is_file()):
            raise FertkError(f"ferplus: {self.root} is not in the FER+ layout: expected {LAYOUT}; "
                             f"found {describe_dir(self.root)}")
        return images, votes

    def _mode_for(self, usage: str) -> str:
        return self.labels if usage == "Training" else "majority"

    def _item(self, votes: list[str], usage: str, frame: str, stem: str, where: str):
        """One face's ``(label, [frame], subject, sequence, meta)``, or None when dropped."""
        try:
            counts = [float(v) for v in votes]
            if len(counts) != len(VOTE_CLASSES) or min(counts) < 0:
                raise ValueError(f"{len(counts)} vote counts, expected {len(VOTE_CLASSES)} >= 0")
        except ValueError as exc:
            self.report.add("bad_votes", f"{where}: {exc}")
            return None
        target = face_target(counts, self._mode_for(usage))
        if target is None:
            self.report.add("unknown_or_not_a_face", where)
            return None
        label = VOTE_CLASSES[int(np.argmax(target))]
        meta = {"usage": usage, "votes": counts, "target": dict(zip(VOTE_CLASSES[:EMOTIONS], target.tolist(), strict=True))}
        return label, [frame], f"{usage}/{stem}", f"{usage}/{stem}", meta

    def _folder_items(self) -> list:
        items = []
        for usage, folder in sorted(self.folders.items(), key=lambda kv: USAGES.index(kv[0])):
            if self.usage not in ("all", usage):
                continue
            with open(folder / "label.csv", newline="", encoding="utf-8") as fh:
                for n, row in enumerate(csv.reader(fh)):
                    if len(row) < 3:
                        self.report.add("bad_row", f"{folder / 'label.csv'}:{n + 1}")
                        continue
                    image = folder / row[0]
                    if not image.is_file():
                        self.report.add("missing_image", str(image))
                        continue
                    item = self._item(row[2:], usage, str(image), image.stem, str(image))
                    if item:
                        items.append(item)
        return items

    def _csv_items(self) -> list:
        assert self.csv is not None
        items = []
        self._pixels = {}
        with open(self.csv, newline="", encoding="utf-8") as fi, \
                open(self.votes_csv, newline="", encoding="utf-8") as fv:
            images, votes = csv.DictReader(fi), csv.reader(fv)
            next(votes, None)  # header: Usage, Image name, ten classes
            for i, (img, vote) in enumerate(zip(images, votes, strict=False)):
                if len(vote) < 2 or not vote[1].strip():
                    self.report.add("removed_by_ferplus", f"row {i}")
                    continue
                usage = vote[0].strip()
                if usage not in USAGES or self.usage not in ("all", usage):
                    continue
                self._pixels[i] = img.get("pixels", "")
                item = self._item(vote[2:], usage, f"{self.csv}#{i}", Path(vote[1]).stem, f"row {i}")
                if item:
                    items.append(item)
        return items

    def _scan(self):
        items = self._csv_items() if self.csv is not None else self._folder_items()
        if not items:
            raise FertkError(f"ferplus: no labelled faces under {self.root} (report: "
                             f"{self.report.counts() or 'nothing read'}); expected {LAYOUT}")
        return items

    def _finish(self, items):
        """Samples as every data set makes them, each with its target over ``classes``."""
        samples = super()._finish(items)
        for s in samples:
            t = np.array([s.meta["target"].get(c, 0.0) for c in self._classes])
            s.target = tuple((t / t.sum()).tolist()) if t.sum() > 0 else None
        return samples

    def read_frame(self, path: str) -> np.ndarray:
        if self.csv is None or "#" not in path:
            return super().read_frame(path)
        from fertk.datasets.fer2013 import pixels_image

        row = int(path.rpartition("#")[2])
        if self._pixels is None:
            with open(self.csv, newline="", encoding="utf-8") as fh:
                self._pixels = {i: r.get("pixels", "") for i, r in enumerate(csv.DictReader(fh))}
        try:
            return pixels_image(self._pixels[row])  # type: ignore[index]
        except (KeyError, ValueError) as exc:
            raise FertkError(f"{path}: unreadable FER2013 row ({exc})") from exc


def build_ferplus(root, **options: Any) -> FERPlus:
    return FERPlus(Path(root), **options)
