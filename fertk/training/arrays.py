"""The engine's in-memory arrays (:class:`ArraySet`): prepared crops, folds' rows, sequences,
illumination. Not to be confused with :mod:`fertk.datasets` (data set readers, ``--dataset``)
and :mod:`fertk.data` (``fertk prepare``: the on-disk cache these arrays are loaded from).

The engine consumes a *prepared set*: any object with the numpy arrays of
``fertk.data.PreparedSet`` (``crops`` (N,120,120) uint8, ``labels``, ``subjects``,
``sequences``, ``frame_index``, ``peak``, optionally ``found``) plus ``classes`` and ``key``.
:class:`ArraySet` is a plain in-memory one (tests, notebooks, concatenated data sets).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fertk.errors import FertkError


@dataclass
class ArraySet:
    """An in-memory prepared set (same fields as ``fertk.data.PreparedSet``).

    ``sets`` names the source data set of each row (leave-one-set-out); empty strings when
    there is a single source. ``targets`` (N, C) are label distributions where the data set
    gives them (FER+'s votes; ``labels`` are then their majority classes), trained on as
    ``target_kind`` says (:mod:`fertk.training.losses`).
    """

    crops: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    sequences: np.ndarray
    frame_index: np.ndarray
    peak: np.ndarray
    classes: list[str]
    found: np.ndarray | None = None
    sets: np.ndarray | None = None
    key: str = ""
    report: dict[str, Any] = field(default_factory=dict)
    targets: np.ndarray | None = None
    target_kind: str = ""

    def __post_init__(self) -> None:
        n = len(self.crops)
        for name in ("labels", "subjects", "sequences", "frame_index", "peak"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"ArraySet.{name} has {len(getattr(self, name))} rows, crops {n}")
        if self.found is None:
            self.found = np.ones(n, dtype=bool)
        if self.sets is None:
            self.sets = np.full(n, "", dtype=object)
        if self.targets is not None and np.shape(self.targets) != (n, len(self.classes)):
            raise ValueError(f"ArraySet.targets has shape {np.shape(self.targets)}, expected "
                             f"{(n, len(self.classes))}")
        if not self.key:
            self.key = data_hash(self)


def as_array_set(ds: Any) -> ArraySet:
    """Wrap a ``PreparedSet`` (or anything with its arrays) as an :class:`ArraySet`."""
    if isinstance(ds, ArraySet):
        return ds
    missing = [a for a in ("crops", "labels", "subjects", "classes") if not hasattr(ds, a)]
    if missing:
        raise TypeError(f"{type(ds).__name__} is not a prepared set: no {', '.join(missing)}")
    n = len(ds.crops)

    def get(name: str, default: Any) -> Any:
        val = getattr(ds, name, None)
        return default if val is None else val

    return ArraySet(
        crops=ds.crops,
        labels=np.asarray(ds.labels, dtype=np.int64),
        subjects=np.asarray(ds.subjects).astype(str),
        sequences=np.asarray(get("sequences", np.arange(n).astype(str))).astype(str),
        frame_index=np.asarray(get("frame_index", np.zeros(n, dtype=np.int64))),
        peak=np.asarray(get("peak", np.ones(n, dtype=bool)), dtype=bool),
        classes=list(ds.classes),
        found=np.asarray(get("found", np.ones(n, dtype=bool)), dtype=bool),
        sets=np.asarray(get("sets", np.full(n, "", dtype=object))),
        # no key: ArraySet computes the content hash (data_hash); the preparation cache's key
        # depends on the files' paths and modification times, and a fresh clone of the same
        # data is the same data
        report=dict(get("report", {}) or {}),
        targets=None if getattr(ds, "targets", None) is None else np.asarray(ds.targets, np.float32),
        target_kind=str(getattr(ds, "target_kind", "") or ""),
    )


def data_hash(ds: Any) -> str:
    """SHA-256 of crops, labels, subjects, sequences and classes: identifies the data by its
    content (the ``data_hash`` every run records and ``fertk compare`` checks), so the same
    data prepared again from another copy or clone has the same hash."""
    h = hashlib.sha256()
    crops = np.ascontiguousarray(ds.crops)
    h.update(str(crops.shape).encode())
    step = max(1, len(crops) // 512)  # sample rows of big sets; every label/subject counts
    h.update(np.ascontiguousarray(crops[::step]).tobytes())
    h.update(np.asarray(ds.labels, dtype=np.int64).tobytes())
    for arr in (ds.subjects, getattr(ds, "sequences", [])):
        h.update("\x00".join(map(str, arr)).encode())
    h.update("\x00".join(ds.classes).encode())
    targets = getattr(ds, "targets", None)
    if targets is not None:  # data without distributions keeps the hash it always had
        h.update(np.ascontiguousarray(targets, dtype=np.float32).tobytes())
        h.update(str(getattr(ds, "target_kind", "")).encode())
    return h.hexdigest()[:16]


def load_data(data_cfg: Any, progress: bool = True, context: Any = None) -> ArraySet:
    """Prepare the data set(s) named by a :class:`~fertk.training.config.DataConfig` with the
    data sets, detectors and crops registered in ``context`` (default: the default one).

    With ``sets`` (leave-one-set-out) every set is prepared and the rows are concatenated on
    the intersection of the class lists; subjects are prefixed with the set name.
    """
    entries = list(data_cfg.sets) if data_cfg.sets else []
    if not entries:
        if not data_cfg.dataset or not data_cfg.root:
            raise FertkError("config: data.dataset and data.root are required (or data.sets)")
        entries = [{"dataset": data_cfg.dataset, "root": data_cfg.root}]
    parts = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "dataset" not in entry or "root" not in entry:
            raise FertkError(f"config: data.sets[{i}] needs 'dataset' and 'root'")
        opts = dict(data_cfg.options)
        opts.update(entry.get("options", {}))
        parts.append((entry.get("name", entry["dataset"]), _prepare(
            entry["dataset"], entry["root"],
            detector=entry.get("detector", data_cfg.detector),
            crop=entry.get("crop", data_cfg.crop),
            detector_options=entry.get("detector_options", data_cfg.detector_options) or None,
            crop_options=entry.get("crop_options", data_cfg.crop_options) or None,
            cache_dir=data_cfg.cache_dir, workers=data_cfg.workers, progress=progress,
            context=context, **opts,
        )))
    if len(parts) == 1:
        return parts[0][1]
    return concat_sets(parts)


def _prepare(dataset: str, root: str, **kwargs: Any) -> ArraySet:
    try:
        from fertk.data import prepare
    except ImportError as exc:  # pragma: no cover - DATA's module is part of fertk
        raise FertkError("fertk.data.prepare is not available in this installation") from exc
    prepared = prepare(dataset, root, **kwargs)
    ds = as_array_set(prepared)
    ds.report = {"dataset": dataset, "root": str(root), **_summary(prepared),
                 "options": dict(getattr(prepared, "options", {}) or {})}
    if ds.found is not None and not ds.found.all():
        keep = np.flatnonzero(ds.found)
        ds = subset(ds, keep)
    return ds


def _summary(prepared: Any) -> dict[str, Any]:
    try:
        return dict(prepared.summary())
    except Exception:  # noqa: BLE001 - the summary is informative only
        return {}


def subset(ds: ArraySet, rows: np.ndarray) -> ArraySet:
    rows = np.asarray(rows, dtype=np.int64)
    return ArraySet(
        crops=np.asarray(ds.crops[rows]), labels=ds.labels[rows], subjects=ds.subjects[rows],
        sequences=ds.sequences[rows], frame_index=ds.frame_index[rows], peak=ds.peak[rows],
        classes=list(ds.classes), found=ds.found[rows], sets=ds.sets[rows],
        key=f"{ds.key}-sub{hashlib.sha256(rows.tobytes()).hexdigest()[:8]}",
        report=ds.report, targets=None if ds.targets is None else ds.targets[rows],
        target_kind=ds.target_kind,
    )


def concat_sets(parts: Sequence[tuple[str, ArraySet]]) -> ArraySet:
    """Rows of several sets on the intersection of their classes (in the first set's order).

    Classes and labels follow :func:`fertk.splits.shared_classes` /
    :func:`fertk.splits.remap_labels` (rows of classes not shared are dropped); subjects
    and sequences are prefixed with the set name, ``sets`` names each row's source.
    """
    from fertk.splits import remap_labels, shared_classes

    common = shared_classes({name: p.classes for name, p in parts}, "data.sets")
    cols: dict[str, list[np.ndarray]] = {k: [] for k in (
        "crops", "labels", "subjects", "sequences", "frame_index", "peak", "found", "sets")}
    for name, p in parts:
        labels = remap_labels(p.labels, p.classes, common)
        keep = labels >= 0
        cols["crops"].append(np.asarray(p.crops)[keep])
        cols["labels"].append(labels[keep])
        cols["subjects"].append(np.char.add(f"{name}/", p.subjects[keep].astype(str)))
        cols["sequences"].append(np.char.add(f"{name}/", p.sequences[keep].astype(str)))
        cols["frame_index"].append(p.frame_index[keep])
        cols["peak"].append(p.peak[keep])
        cols["found"].append(p.found[keep])
        cols["sets"].append(np.full(int(keep.sum()), name, dtype=object))
    arrays = {k: np.concatenate(v) for k, v in cols.items()}
    return ArraySet(classes=common, **arrays, **_concat_targets(parts, common))


def _concat_targets(parts: Sequence[tuple[str, ArraySet]], common: list[str]) -> dict[str, Any]:
    """The concatenated targets on ``common`` classes, when every part has targets of one
    kind (rows renormalised; kept rows as :func:`concat_sets` keeps them); else none."""
    kinds = {p.target_kind for _, p in parts}
    if any(p.targets is None for _, p in parts) or len(kinds) != 1:
        return {}
    from fertk.splits import remap_labels

    out = []
    for _, p in parts:
        keep = remap_labels(p.labels, p.classes, common) >= 0
        t = np.asarray(p.targets, np.float32)[keep][:, [p.classes.index(c) for c in common]]
        out.append(t / np.maximum(t.sum(1, keepdims=True), 1e-12))
    return {"targets": np.concatenate(out), "target_kind": kinds.pop()}


def sequence_groups(ds: ArraySet, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``sequence id -> row indices ordered by frame`` (only labelled rows, only ``rows``);
    :func:`fertk.data.prepared.group_sequences`, the grouping ``PreparedSet`` uses."""
    from fertk.data.prepared import group_sequences

    idx = np.arange(len(ds.labels)) if rows is None else np.asarray(rows, dtype=np.int64)
    return group_sequences(ds.sequences, ds.frame_index, idx[ds.labels[idx] >= 0])


def frame_rows(ds: ArraySet, subjects: Sequence[str], frames: str = "peak") -> np.ndarray:
    """Labelled rows of ``subjects`` used by the frame stage.

    ``frames``: ``peak`` (the peak frame of each sequence, the paper's choice), ``all``, or
    ``last:K`` (the last K frames of each sequence, onset frames left out).
    """
    mask = np.isin(ds.subjects, np.asarray(list(subjects), dtype=str)) & (ds.labels >= 0)
    if frames == "peak":
        mask &= ds.peak
    elif frames.startswith("last:"):
        k = int(frames.split(":", 1)[1])
        keep = np.zeros(len(mask), dtype=bool)
        for rows in sequence_groups(ds, np.flatnonzero(mask)).values():
            keep[rows[-k:]] = True
        mask &= keep
    return np.flatnonzero(mask)


def illumination(name: str, options: dict[str, Any] | None = None, context: Any = None) -> Any:
    """The illumination augmentation ``name`` registered in ``context`` (default: the default
    plugin context), built with ``options``."""
    from fertk.plugins import get_registry

    return get_registry("augmentations", context).create(name, **(options or {}))


def is_scheme(name: str, options: dict[str, Any] | None = None, context: Any = None) -> bool:
    """Whether illumination ``name`` is a training scheme (it has ``expand``: trains on copies
    of every image, like the paper's ``aug``) rather than one normalisation."""
    return callable(getattr(illumination(name, options, context), "expand", None))


def illuminate(crops: np.ndarray, name: str, options: dict[str, Any] | None = None,
               context: Any = None) -> np.ndarray:
    """Apply a registered illumination normalisation (``he``/``lm``/``ws``/a plugin's) to uint8 crops."""
    if name in (None, "", "none"):
        return np.asarray(crops)
    fn = illumination(name, options, context)
    return np.asarray(fn(np.ascontiguousarray(crops)), dtype=np.uint8)


def eval_illumination(aug: Any, context: Any = None) -> str:
    """The normalisation applied at test time (and to the sequence stage's inputs) under the
    ``frame.augment`` config ``aug``: the illumination itself, or a scheme's ``test_illumination``."""
    if is_scheme(aug.illumination, aug.illumination_options, context):
        return aug.test_illumination
    return aug.illumination


class Illuminated:
    """Crops of one data set under each normalisation, computed once per name (the training
    run's shared cache, passed to every fold); names are looked up in ``context``."""

    def __init__(self, ds: ArraySet, context: Any = None) -> None:
        self.ds = ds
        self.context = context
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, name: str) -> np.ndarray:
        if name in ("none", "", None):
            return self.ds.crops
        if name not in self._cache:
            self._cache[name] = illuminate(self.ds.crops, name, context=self.context)
        return self._cache[name]

    def training(self, aug: Any, rows: np.ndarray, targets: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """``(crops, targets)`` the frame stage trains on: ``rows`` under the normalisation, or
        every copy of the registered scheme (``expand``), targets repeated. The targets are
        ``targets`` (one row per data set row, e.g. distilled ones) if given, else the labels,
        or the ``(n, C)`` distributions of a data set that gives them."""
        if targets is None:
            targets = self.ds.labels if self.ds.targets is None else np.asarray(self.ds.targets, np.float32)
        scheme = illumination(aug.illumination, aug.illumination_options, self.context)
        if callable(getattr(scheme, "expand", None)):
            x, at = scheme.expand(np.asarray(self.ds.crops[rows]), np.arange(len(rows)))
            return np.asarray(x, dtype=np.uint8), targets[np.asarray(rows)[np.asarray(at)]]
        if aug.illumination_options:
            x = illuminate(np.asarray(self.ds.crops[rows]), aug.illumination,
                           aug.illumination_options, self.context)
        else:
            x = np.asarray(self(aug.illumination)[rows])
        return x, targets[rows]
