"""The prepared-data cache: one folder of ``.npy`` arrays (crops memory-mapped) plus ``meta.json``.

Layout of ``<cache_dir>/<dataset>-<key16>/``: ``crops.npy`` (N, S, S) uint8,
``landmarks.npy`` (N, P, 2) float32 image pixels (NaN where no face/landmarks),
``matrices.npy`` (N, 2, 3) float32 image → crop, ``labels.npy`` int64 (-1 = none),
``frame_index.npy`` int64, ``peak.npy`` / ``found.npy`` bool, ``scores.npy`` float32,
``targets.npy`` (N, C) float32 where the data set gives label distributions (FER+; their use
is ``target_kind`` in the meta), and ``meta.json`` (classes, subjects, sequences, paths, report, options, key). ``meta.json`` is
written last and the folder is renamed into place atomically, so a folder with it is complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fertk.errors import FertkError

CACHE_FORMAT = 1
ARRAYS = ("crops", "landmarks", "matrices", "labels", "frame_index", "peak", "found", "scores")


class DamagedCacheError(FertkError):
    """A prepared-data cache folder whose files cannot be read back (truncated, replaced)."""


class PreparedSet:
    """Preprocessed frames of one data set (see the module docstring for the files).

    ``cache_hit`` tells whether this object was loaded from an existing cache (True) or
    just built (False).
    """

    def __init__(self, path: str | Path, cache_hit: bool = True) -> None:
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DamagedCacheError(_damaged(meta_path, f"not a complete fertk prepared cache: "
                                                        f"{exc}")) from None
        if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise FertkError(f"{self.path}: cache format {found} is not {CACHE_FORMAT}")
        self.meta: dict[str, Any] = meta
        self.cache_hit = cache_hit
        n = len(meta.get("paths") or [])
        for name in ARRAYS:
            file = self.path / f"{name}.npy"
            try:
                arr = np.load(file, mmap_mode="r" if name == "crops" else None,
                              allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:  # truncated, missing, not .npy
                why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise DamagedCacheError(_damaged(file, why)) from None
            if arr.ndim == 0 or arr.shape[0] != n:
                raise DamagedCacheError(_damaged(file, f"{arr.shape[0] if arr.ndim else 0} rows, "
                                                       f"meta.json lists {n} frames"))
            setattr(self, name, arr)
        self.targets: np.ndarray | None = None  # annotators' distributions, where given
        if (self.path / "targets.npy").is_file():
            try:
                self.targets = np.load(self.path / "targets.npy", allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise DamagedCacheError(_damaged(self.path / "targets.npy", str(exc))) from None
            if self.targets.shape != (n, len(meta["classes"])):
                raise DamagedCacheError(_damaged(self.path / "targets.npy", f"shape "
                                                 f"{self.targets.shape}, expected {(n, len(meta['classes']))}"))
        self.target_kind: str = meta.get("target_kind", "")
        self.subjects = np.asarray(meta["subjects"], dtype=str)
        self.sequences = np.asarray(meta["sequences"], dtype=str)
        self.paths = np.asarray(meta["paths"], dtype=str)
        self.classes: list[str] = list(meta["classes"])
        self.report: dict[str, Any] = meta["report"]
        self.key: str = meta["key"]
        self.dataset: str = meta["dataset"]

    crops: np.ndarray
    landmarks: np.ndarray
    matrices: np.ndarray
    labels: np.ndarray
    frame_index: np.ndarray
    peak: np.ndarray
    found: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        return (f"PreparedSet({self.dataset!r}, {len(self)} frames, {int(self.found.sum())} faces, "
                f"classes={self.classes}, key={self.key[:12]})")

    @property
    def options(self) -> dict[str, Any]:
        return self.meta["options"]

    def frame_indices(self, peak_only: bool = True, found_only: bool = True,
                      labelled_only: bool = True) -> np.ndarray:
        """Row indices of frames for the frame model (peak frames by default)."""
        mask = np.ones(len(self), bool)
        if peak_only:
            mask &= self.peak
        if found_only:
            mask &= self.found
        if labelled_only:
            mask &= self.labels >= 0
        return np.flatnonzero(mask)

    def sequence_groups(self, found_only: bool = True, labelled_only: bool = True) -> dict[str, np.ndarray]:
        """``sequence id → row indices ordered by frame index``."""
        idx = np.arange(len(self))
        if found_only:
            idx = idx[self.found[idx]]
        if labelled_only:
            idx = idx[self.labels[idx] >= 0]
        return group_sequences(self.sequences, self.frame_index, idx)

    def crop_landmarks(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Landmarks in crop pixel coordinates ``(n, P, 2)`` (NaN where absent)."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows)
        pts = self.landmarks[rows].astype(np.float64)
        m = self.matrices[rows].astype(np.float64)
        return np.einsum("npk,njk->npj", pts, m[:, :, :2]) + m[:, None, :, 2]

    def class_counts(self, rows: np.ndarray | None = None) -> dict[str, int]:
        labels = self.labels if rows is None else self.labels[np.asarray(rows)]
        return {c: int((labels == i).sum()) for i, c in enumerate(self.classes)}

    def summary(self) -> dict[str, Any]:
        peaks = self.frame_indices(peak_only=True)
        return {
            "dataset": self.dataset,
            "frames": len(self),
            "faces_found": int(self.found.sum()),
            "no_face": int((~self.found).sum()),
            "subjects": int(len(set(self.subjects.tolist()))),
            "sequences": int(len(set(self.sequences.tolist()))),
            "peak_frames": int(len(peaks)),
            "classes": self.class_counts(peaks),
            "cache": str(self.path),
            "cache_hit": self.cache_hit,
            "key": self.key,
        }


def _damaged(file: Path, why: str) -> str:
    return (f"{file}: the prepared-data cache is damaged ({why}); `fertk prepare ... --rebuild` "
            f"mends it (or delete {file.parent})")


def group_sequences(sequences: np.ndarray, frame_index: np.ndarray,
                    rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``sequence id → row indices ordered by frame index`` over ``rows`` (default: all rows).

    The one grouping of frames into sequences: :meth:`PreparedSet.sequence_groups` and the
    training engine both use it.
    """
    sequences = np.asarray(sequences)
    idx = np.arange(len(sequences)) if rows is None else np.asarray(rows, dtype=np.int64)
    order = np.lexsort((np.asarray(frame_index)[idx], sequences[idx]))
    idx = idx[order]
    groups: dict[str, np.ndarray] = {}
    if idx.size == 0:
        return groups
    seqs = sequences[idx]
    starts = np.flatnonzero(np.r_[True, seqs[1:] != seqs[:-1]])
    for s, e in zip(starts, np.r_[starts[1:], idx.size], strict=True):
        groups[str(seqs[s])] = idx[s:e]
    return groups
