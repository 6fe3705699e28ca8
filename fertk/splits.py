"""Data splits (``fertk splits``): subject-independent k-fold, leave-one-subject-out, leave-one-set-out.

(Formerly ``fertk.protocols``: "protocol" is the evaluation protocol of the training
config, but the module holds the splits, and the typing Protocols live in :mod:`fertk.types`.)

Folds hold **group ids**, not rows: subject ids for the subject protocols, data set names
for leave-one-set-out. :meth:`Fold.rows` turns them into row indices of a prepared set
(``fold.rows(prepared.subjects)``), so one split file serves every preprocessing of the same
data. Validation groups are always carved from the training groups of the same fold
(:func:`with_validation`), never from the test fold, for honest model selection.
Split files (:func:`save_splits`) record everything needed to reproduce a run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fertk.errors import FertkError
from fertk.fsutil import write_json

SPLITS_FORMAT = "fertk-splits/1"


def _ids(values: Any) -> np.ndarray:
    return np.asarray([str(v) for v in values], dtype=object)


@dataclass
class Fold:
    """One fold: ``train``/``val``/``test`` arrays of group ids (subjects or data set names)."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.train, self.val, self.test = _ids(self.train), _ids(self.val), _ids(self.test)
        overlap = (set(self.train) & set(self.test)) | (set(self.val) & set(self.test)) | (
            set(self.train) & set(self.val))
        if overlap:
            raise FertkError(f"fold {self.name}: groups on two sides: {sorted(overlap)[:5]}")

    def rows(self, groups: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row indices ``(train, val, test)`` of data whose rows belong to ``groups``."""
        g = np.asarray([str(x) for x in groups], dtype=object)
        return tuple(np.flatnonzero(np.isin(g, part)) for part in (self.train, self.val, self.test))

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "train": list(self.train), "val": list(self.val),
                "test": list(self.test), **({"meta": self.meta} if self.meta else {})}


def _unique_sorted(subjects: Sequence[Any] | np.ndarray) -> list[str]:
    out = sorted({str(s) for s in subjects})
    if not out:
        raise FertkError("protocol: no subjects given")
    return out


def subject_kfold(subjects: Sequence[Any] | np.ndarray, k: int = 10, assign: str = "contiguous") -> list[Fold]:
    """The paper's protocol: subjects sorted by id into ``k`` groups, each the test set once.

    ``assign="contiguous"`` (default: sorted ids cut into ``k`` consecutive groups, the
    STM-ExpLet protocol) or ``"round_robin"`` (id ``i`` goes to group ``i mod k``).
    """
    ids = _unique_sorted(subjects)
    if len(ids) < 2:
        raise FertkError(f"subject k-fold needs at least 2 subjects, the data has {len(ids)}")
    if not 2 <= k <= len(ids):
        raise FertkError(f"subject k-fold: k={k} needs 2 <= k <= {len(ids)} (the number of subjects)")
    if assign == "contiguous":
        groups = [list(g) for g in np.array_split(np.asarray(ids, dtype=object), k)]
    elif assign == "round_robin":
        groups = [ids[i::k] for i in range(k)]
    else:
        raise FertkError(f"subject k-fold: assign must be 'contiguous' or 'round_robin', got '{assign}'")
    folds = []
    for i, test in enumerate(groups):
        train = [s for s in ids if s not in set(test)]
        folds.append(Fold(f"fold{i + 1:02d}", train, [], test, {"protocol": f"subject_kfold k={k}"}))
    return folds


def leave_one_subject_out(subjects: Sequence[Any] | np.ndarray) -> list[Fold]:
    ids = _unique_sorted(subjects)
    if len(ids) < 2:
        raise FertkError("leave-one-subject-out needs at least two subjects")
    return [Fold(f"subject-{s}", [t for t in ids if t != s], [], [s], {"protocol": "loso"}) for s in ids]


def common_classes(class_lists: Mapping[str, Sequence[str]]) -> list[str]:
    """Classes shared by every data set, in the first data set's order."""
    lists = list(class_lists.values())
    if not lists:
        return []
    return [c for c in lists[0] if all(c in other for other in lists[1:])]


def shared_classes(class_lists: Mapping[str, Sequence[str]], what: str = "data sets") -> list[str]:
    """:func:`common_classes`, or a :class:`FertkError` naming ``what`` if fewer than two remain."""
    classes = common_classes(class_lists)
    if len(classes) < 2:
        raise FertkError(f"{what}: the data sets share fewer than two classes: "
                         + "; ".join(f"{n}: {', '.join(c)}" for n, c in class_lists.items()))
    return classes


def leave_one_set_out(sets: Mapping[str, Sequence[str]]) -> tuple[list[str], list[Fold]]:
    """Each data set in turn is the test set, trained on the others, on their shared classes.

    ``sets`` maps data set name → its class names. Returns ``(classes, folds)``; the fold
    ids are data set names (use ``fold.rows(set_name_per_row)``) and rows whose label is not
    in ``classes`` must be dropped (:func:`remap_labels`).
    """
    if len(sets) < 2:
        raise FertkError(f"leave-one-set-out needs at least two data sets, got {list(sets)}")
    classes = shared_classes(sets, "leave-one-set-out")
    names = list(sets)
    folds = [Fold(f"set-{n}", [m for m in names if m != n], [], [n],
                  {"protocol": "leave_one_set_out", "classes": classes}) for n in names]
    return classes, folds


def remap_labels(labels: np.ndarray, from_classes: Sequence[str], to_classes: Sequence[str]) -> np.ndarray:
    """Labels indexing ``from_classes`` re-expressed in ``to_classes`` (-1 where absent)."""
    table = np.array([list(to_classes).index(c) if c in to_classes else -1 for c in from_classes] + [-1])
    labels = np.asarray(labels, dtype=np.int64)
    return table[np.where(labels >= 0, labels, len(from_classes))]


def fixed_split(train: Sequence[Any], test: Sequence[Any], val: Sequence[Any] = (), name: str = "fixed") -> list[Fold]:
    """One fold from explicit group lists (e.g. FER2013's Training / PublicTest / PrivateTest)."""
    return [Fold(name, list(train), list(val), list(test), {"protocol": "fixed"})]


def standard_split(subjects: Sequence[Any] | np.ndarray, train: str = "Training", val: str = "PublicTest",
                   test: str = "PrivateTest", name: str = "standard") -> list[Fold]:
    """A data set's own fixed split, read from subject ids of the form ``<split>/<id>``.

    FER2013's standard protocol: train on ``Training``, select on ``PublicTest``, report on
    ``PrivateTest`` (:mod:`fertk.datasets.fer2013` names its subjects that way). Subjects of
    other splits are left out; a missing train or test split is an error naming what was found.
    """
    ids = _unique_sorted(subjects)
    parts: dict[str, list[str]] = {}
    for s in ids:
        head, sep, _ = s.partition("/")
        parts.setdefault(head if sep else "", []).append(s)
    for role, split in (("train", train), ("test", test)):
        if not parts.get(split):
            found = ", ".join(f"{k or '(none)'} ({len(v)})" for k, v in sorted(parts.items()))
            raise FertkError(f"protocol standard: no '{split}' subjects for {role} (subject ids "
                             f"'<split>/<id>'; found splits: {found})")
    return [Fold(name, parts[train], parts.get(val, []) if val else [], parts[test],
                 {"protocol": "standard", "train": train, "val": val, "test": test})]


def with_validation(folds: Sequence[Fold], val_fraction: float = 0.1, seed: int = 0) -> list[Fold]:
    """Move ``val_fraction`` of each fold's training groups (at least one) to its validation set.

    The draw depends on ``seed`` and the fold index only, so it is reproducible.
    """
    if not 0 <= val_fraction < 1:
        raise FertkError(f"val_fraction must be in [0, 1), got {val_fraction}")
    out = []
    for i, f in enumerate(folds):
        train = sorted(f.train)
        n = 0 if val_fraction == 0 or len(train) < 2 else max(1, int(round(val_fraction * len(train))))
        n = min(n, len(train) - 1)
        rng = np.random.default_rng([int(seed), i])
        pick = set(np.asarray(train, dtype=object)[rng.permutation(len(train))[:n]]) if n else set()
        out.append(Fold(f.name, [t for t in train if t not in pick], sorted(set(f.val) | pick), f.test,
                        {**f.meta, "val_fraction": val_fraction, "seed": seed}))
    return out


def save_splits(path: str | os.PathLike, folds: Sequence[Fold], **meta: Any) -> Path:
    """Write folds (and free-form ``meta``: data set, key, seed…) to a JSON split file."""
    doc = {"format": SPLITS_FORMAT, "meta": meta, "folds": [f.as_dict() for f in folds]}
    return write_json(path, doc, indent=1)


def load_splits(path: str | os.PathLike) -> list[Fold]:
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FertkError(f"{p}: cannot read split file ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != SPLITS_FORMAT or "folds" not in doc:
        raise FertkError(f"{p}: not a fertk split file (expected format '{SPLITS_FORMAT}')")
    try:
        return [Fold(f["name"], f["train"], f.get("val", []), f["test"], f.get("meta", {}))
                for f in doc["folds"]]
    except (KeyError, TypeError) as exc:
        raise FertkError(f"{p}: malformed fold entry ({exc})") from exc


def splits_meta(path: str | os.PathLike) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8")).get("meta", {})
