"""The extended Cohn-Kanade data set (CK+) in its official layout.

``<root>/cohn-kanade-images/S005/001/S005_001_00000001.png`` (frames, onset → apex),
``<root>/Emotion/S005/001/S005_001_00000011_emotion.txt`` (one whole number written as a
float: 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise; anything else,
0 = neutral included, is counted as ``bad_label_file`` with its path) and optionally
``<root>/Landmarks/S005/001/S005_001_00000001_landmarks.txt`` (68 "x y" lines, dlib order).
Only 327 of the 593 sequences are labelled; unlabelled ones are skipped (and counted) unless
``labelled_only=False``, which yields them with label ``-1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fertk.datasets.base import BaseDataset, describe_dir, list_images
from fertk.errors import FertkError
from fertk.types import Sample

#: CK+ emotion codes → canonical classes. 0 (neutral) does not occur in the official files and
#: is refused as a label (``neutral=True`` adds neutral frames).
CKPLUS_LABELS = {1: "anger", 2: "contempt", 3: "disgust", 4: "fear", 5: "happy",
                 6: "sadness", 7: "surprise"}

LAYOUT = ("<root>/cohn-kanade-images/S###/###/*.png with labels in "
          "<root>/Emotion/S###/###/*_emotion.txt (optional <root>/Landmarks/)")


class CKPlus(BaseDataset):
    """CK+: modes ``peak`` (last frame), ``last`` (last ``last_k``), ``sequence`` (all frames);
    ``neutral=True`` adds the first ``neutral_frames`` frames of each sequence as *neutral*;
    ``classes`` keeps a subset (e.g. drop ``contempt`` for a 6-class protocol)."""

    name = "ckplus"
    landmark_scheme = "dlib68"

    def __init__(self, root, *, labelled_only: bool = True, **options: Any) -> None:
        super().__init__(root, **options)
        self.labelled_only = bool(labelled_only)
        if self.root.name == "cohn-kanade-images":
            self.root = self.root.parent
        self.images = self.root / "cohn-kanade-images"
        if not self.images.is_dir():
            raise FertkError(f"ckplus: {self.root} is not in the CK+ layout: expected {LAYOUT}; "
                             f"found {describe_dir(self.root)}")
        self.emotion = self.root / "Emotion"
        self.landmark_dir = self.root / "Landmarks"

    def options(self) -> dict[str, Any]:
        return {**super().options(), "labelled_only": self.labelled_only}

    def _label(self, subject: str, seq: str) -> tuple[str | None, str]:
        folder = self.emotion / subject / seq
        files = sorted(folder.glob("*_emotion.txt")) if folder.is_dir() else []
        if not files:
            return None, "missing"
        try:
            text = files[-1].read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            text = None
        problem = _label_problem(text)
        if problem is not None:
            self.report.add("bad_label_file", f"{files[-1]} ({problem})")
            return None, "bad"
        return CKPLUS_LABELS[int(float(text))], "ok"

    def _scan(self):
        if not self.emotion.is_dir():
            self.report.add("missing_emotion_folder", self.emotion)
        items = []
        subjects = sorted(p for p in self.images.iterdir() if p.is_dir())
        if not subjects:
            raise FertkError(f"ckplus: {self.images} has no subject folders (S###/): expected "
                             f"{LAYOUT}; found {describe_dir(self.images)}")
        for subj in subjects:
            for seq_dir in sorted(p for p in subj.iterdir() if p.is_dir()):
                frames = [str(p) for p in list_images(seq_dir)]
                seq_id = f"{subj.name}/{seq_dir.name}"
                if not frames:
                    self.report.add("empty_sequence", seq_id)
                    continue
                label, status = self._label(subj.name, seq_dir.name)
                if label is None:
                    if status == "missing":
                        self.report.add("unlabelled_sequence", seq_id)
                    if self.labelled_only:
                        continue
                items.append((label or "", frames, subj.name, seq_id, {}))
        return items

    def _finish(self, items):
        unlabelled = [i for i in items if i[0] == ""]
        labelled = [i for i in items if i[0] != ""]
        out = super()._finish(labelled) if labelled else []
        for _, frames, subject, seq, meta in unlabelled:
            for i in self._frames_of(len(frames)):
                out.append(Sample([frames[i]], -1, subject, seq, i, i == len(frames) - 1, self.name,
                                  dict(meta)))
        if not out:
            raise FertkError(f"ckplus: no labelled sequences under {self.root} "
                             f"({self.report.counts()}); expected {LAYOUT}")
        return out

    def landmarks(self, sample: Sample) -> np.ndarray | None:
        frame = Path(sample.paths[0])
        seq = frame.parent
        path = self.landmark_dir / seq.parent.name / seq.name / f"{frame.stem}_landmarks.txt"
        return read_landmark_file(path)

    def landmark_path(self, sample: Sample) -> Path:
        frame = Path(sample.paths[0])
        seq = frame.parent
        return self.landmark_dir / seq.parent.name / seq.name / f"{frame.stem}_landmarks.txt"


def _label_problem(text: str | None) -> str | None:
    """What is wrong with the text of an ``*_emotion.txt`` file, ``None`` if it is one whole
    emotion code 1-7 (``3.0000000e+00``). Neutral (0) is never a CK+ emotion label: the
    ``neutral`` option adds neutral frames."""
    if text is None:
        return "unreadable or not text"
    tokens = text.split()
    if len(tokens) != 1:
        return f"expected one number, found {len(tokens)}: {' '.join(tokens)[:40]!r}"
    try:
        value = float(tokens[0])
    except ValueError:
        return f"not a number: {tokens[0][:40]!r}"
    if not value.is_integer() or not 1 <= value <= 7:
        return f"code {tokens[0]}: expected a whole emotion code 1-7"
    return None


def read_landmark_file(path: Path) -> np.ndarray | None:
    """Points of a CK+ ``*_landmarks.txt`` file (``(N, 2)`` float), ``None`` if absent/bad."""
    try:
        values = np.array(path.read_text().split(), dtype=np.float64)
    except (OSError, ValueError):
        return None
    if values.size < 10 or values.size % 2:
        return None
    return values.reshape(-1, 2)


def build_ckplus(root, **options: Any) -> CKPlus:
    return CKPlus(root, **options)
