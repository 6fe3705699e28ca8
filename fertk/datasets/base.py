"""Common machinery of the data sets: canonical labels, reports, frame modes, image reading.

A data set object has ``name``, ``root``, ``classes`` (canonical names, canonical order),
``samples() -> list[Sample]`` (one frame per sample: ``paths == [frame]``; labels index
``classes``), ``report`` (counts and examples of what was skipped), ``options()`` (what
changes its output, for cache keys), ``read_frame(path)`` and ``landmarks(sample)``
(landmarks shipped with the data set, or ``None``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fertk.errors import FertkError
from fertk.types import CANONICAL_CLASSES, Sample

#: Spellings found in data sets, mapped to :data:`fertk.types.CANONICAL_CLASSES`.
LABEL_ALIASES: dict[str, str] = {
    "angry": "anger", "anger": "anger", "an": "anger",
    "contempt": "contempt", "co": "contempt",
    "disgust": "disgust", "disgusted": "disgust", "di": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear", "fe": "fear",
    "happy": "happy", "happiness": "happy", "joy": "happy", "smile": "happy", "ha": "happy",
    "sad": "sadness", "sadness": "sadness", "sa": "sadness",
    "surprise": "surprise", "surprised": "surprise", "su": "surprise",
    "neutral": "neutral", "ne": "neutral",
}

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
FRAME_MODES = ("peak", "last", "sequence")


def canonical_label(name: str) -> str | None:
    """The canonical class of a label spelling, or ``None`` if it is not a canonical class."""
    return LABEL_ALIASES.get(name.strip().lower())


def order_classes(names: Iterable[str]) -> list[str]:
    """Canonical classes in canonical order, then any other names sorted."""
    names = set(names)
    canon = [c for c in CANONICAL_CLASSES if c in names]
    return canon + sorted(names - set(canon))


def parse_classes(classes: str | Sequence[str] | None) -> list[str] | None:
    if classes is None:
        return None
    if isinstance(classes, str):
        classes = [c for c in re.split(r"[,\s]+", classes) if c]
    out = []
    for c in classes:
        out.append(canonical_label(c) or c)
    return out


def is_image(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(IMAGE_EXTS)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image(p.name))


def describe_dir(root: Path, limit: int = 6) -> str:
    """A short 'what was found' for layout errors."""
    if not root.exists():
        return "the path does not exist"
    if not root.is_dir():
        return "a file, not a folder"
    entries = sorted(os.listdir(root))
    if not entries:
        return "an empty folder"
    shown = ", ".join(e + ("/" if (root / e).is_dir() else "") for e in entries[:limit])
    more = f" (+{len(entries) - limit} more)" if len(entries) > limit else ""
    return f"{shown}{more}"


class DataReport(dict):
    """Counts plus a few examples of what a data set skipped: ``{kind: {"count", "examples"}}``."""

    def add(self, kind: str, example: str | None = None, n: int = 1) -> None:
        entry = self.setdefault(kind, {"count": 0, "examples": []})
        entry["count"] += n
        if example is not None and len(entry["examples"]) < 10:
            entry["examples"].append(str(example))

    def counts(self) -> dict[str, int]:
        return {k: int(v["count"]) for k, v in self.items()}


#: What a data set skips by design (CK+'s sequences without an emotion file, classes left out
#: with ``-o classes=``): counted, not listed, by :func:`report_lines`.
EXPECTED_SKIPS = ("unlabelled_sequence", "dropped_class")


def report_lines(report: dict[str, Any], limit: int = 10) -> list[str]:
    """What a data set skipped, kind by kind, naming the files: ``bad_label_file (2):`` then
    one indented line per example (a :class:`DataReport`, or one read back from JSON); the
    kinds of :data:`EXPECTED_SKIPS` by their count only. The one wording of ``fertk prepare``
    and ``fertk splits``."""
    out = []
    for kind, entry in report.items():
        if not isinstance(entry, dict) or not entry.get("count"):
            continue
        shown = 0 if kind in EXPECTED_SKIPS else limit
        examples = [str(e) for e in entry.get("examples") or []][:shown]
        out.append(f"{kind} ({entry['count']}):" if examples else f"{kind} ({entry['count']})")
        out += [f"  {e}" for e in examples]
        if entry["count"] > len(examples) and examples:
            out.append(f"  … {entry['count'] - len(examples)} more")
    return out


class BaseDataset:
    """Shared behaviour; subclasses implement :meth:`_scan` returning samples."""

    name = "dataset"
    #: The detector :func:`fertk.data.prepare` uses when none is named; ``None``: fertk's
    #: default (:data:`fertk.faces.DEFAULT_DETECTOR`).
    default_detector: str | None = None
    #: The landmark scheme of the landmarks shipped with the data set, if any.
    landmark_scheme: str | None = None
    #: A standard test split that ``fertk eval`` scores by default (subjects ``<split>/<id>``).
    standard_test: str | None = None

    def __init__(self, root: str | os.PathLike, *, mode: str = "sequence", last_k: int = 3,
                 neutral: bool = False, neutral_frames: int = 1,
                 classes: str | Sequence[str] | None = None) -> None:
        self.root = Path(root).expanduser()
        if mode not in FRAME_MODES:
            raise FertkError(f"{self.name}: mode must be one of {', '.join(FRAME_MODES)}, got '{mode}'")
        if int(last_k) < 1:
            raise FertkError(f"{self.name}: last_k must be at least 1, got {last_k}")
        self.mode = mode
        self.last_k = int(last_k)
        self.neutral = bool(neutral)
        self.neutral_frames = int(neutral_frames)
        self.keep_classes = parse_classes(classes)
        self.report = DataReport()
        self._samples: list[Sample] | None = None
        self._classes: list[str] = []

    @property
    def classes(self) -> list[str]:
        """Class names (canonical order) that the labels index; scans the data on first use."""
        self.samples()
        return self._classes

    # -- public API ----------------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        return {"mode": self.mode, "last_k": self.last_k, "neutral": self.neutral,
                "neutral_frames": self.neutral_frames, "classes": self.keep_classes}

    def samples(self) -> list[Sample]:
        if self._samples is None:
            self._samples = []  # guards the classes property during the scan
            try:
                self._samples = self._finish(self._scan())
            except BaseException:
                self._samples = None
                raise
        return self._samples

    def __len__(self) -> int:
        return len(self.samples())

    def __iter__(self):
        return iter(self.samples())

    def read_frame(self, path: str) -> np.ndarray:
        from fertk.io.images import read_image

        return read_image(path)

    def landmarks(self, sample: Sample) -> np.ndarray | None:
        """Landmarks shipped with the data set for this frame (image pixels), or ``None``."""
        return None

    def summary(self) -> dict[str, Any]:
        samples = self.samples()
        counts = {c: 0 for c in self.classes}
        for s in samples:
            if s.label is not None and s.label >= 0:
                counts[self.classes[s.label]] += 1
        return {
            "dataset": self.name,
            "frames": len(samples),
            "subjects": len({s.subject for s in samples}),
            "sequences": len({s.sequence for s in samples}),
            "per_class": counts,
            "report": self.report.counts(),
        }

    # -- helpers for subclasses -----------------------------------------------------------
    def _scan(self) -> list[tuple[str, list[str], str, str, dict]]:  # pragma: no cover
        """``(label name, frame paths, subject, sequence id, meta)`` per sequence or still."""
        raise NotImplementedError

    def _frames_of(self, n: int) -> list[int]:
        if self.mode == "peak":
            return [n - 1]
        if self.mode == "last":
            return list(range(max(0, n - self.last_k), n))
        return list(range(n))

    def _finish(self, items: list[tuple[str, list[str], str, str, dict]]) -> list[Sample]:
        """Frame selection, neutral frames, class filtering and label indices."""
        present = {lab for lab, *_ in items}
        if self.neutral:
            present.add("neutral")
        if self.keep_classes is not None:
            dropped = sorted(present - set(self.keep_classes))
            for lab in dropped:
                self.report.add("dropped_class", lab, sum(1 for i in items if i[0] == lab))
            present &= set(self.keep_classes)
        self._classes = order_classes(present)
        index = {c: i for i, c in enumerate(self._classes)}
        out: list[Sample] = []
        for lab, frames, subject, seq, meta in items:
            if not frames:
                self.report.add("empty_sequence", seq)
                continue
            if lab in index:
                picks = self._frames_of(len(frames))
                for i in picks:
                    out.append(Sample([frames[i]], index[lab], subject, seq, i, i == len(frames) - 1,
                                      self.name, dict(meta)))
            if self.neutral and "neutral" in index and len(frames) > 1 and lab != "neutral":
                for i in range(min(self.neutral_frames, len(frames) - 1)):
                    out.append(Sample([frames[i]], index["neutral"], subject, f"{seq}:neutral", i,
                                      True, self.name, dict(meta, neutral_from=seq)))
        if not out:
            raise FertkError(f"{self.name}: no labelled frames found under {self.root} "
                             f"(report: {self.report.counts() or 'nothing skipped'})")
        return out
