"""Folds for the engine, from :mod:`fertk.splits`, as subject lists per fold.

The engine always works on *subject* ids: the paper's subject k-fold and leave-one-subject-out
come straight from :mod:`fertk.splits`; ``standard`` is a data set's own fixed split
(FER2013: Training / PublicTest / PrivateTest), read from ``<split>/<id>`` subject ids; for
leave-one-set-out the data set names of a fold are expanded to the subjects of those sets. Validation subjects are carved from the training
subjects of the same fold (:func:`fertk.splits.with_validation`), never from the test fold.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fertk import splits
from fertk.errors import FertkError

FoldSplit = splits.Fold


def folds_digest(folds: Sequence[Any]) -> str:
    """SHA-256 (16 hex) of the folds' names and their train, validation and test subjects:
    what a run was trained on, whatever file the folds were read from."""
    doc = [[f.name, list(map(str, f.train)), list(map(str, f.val)), list(map(str, f.test))]
           for f in folds]
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:16]


def make_folds(ds: Any, protocol: Any, seed: int) -> list[splits.Fold]:
    """Folds for a :class:`~fertk.training.config.ProtocolConfig` on data ``ds``.

    ``selection: test-fold`` (the paper's optimistic reporting) keeps every training subject
    for training and selects on the test fold itself; otherwise ``val_fraction`` of the
    training subjects (at least one) is held out for model selection.
    """
    if protocol.kind == "splits":
        if not protocol.splits or not Path(protocol.splits).is_file():
            raise FertkError(f"protocol.splits: split file {protocol.splits} does not exist")
        return splits.load_splits(protocol.splits)
    labelled = ds.labels >= 0
    subjects = ds.subjects[labelled]
    if protocol.kind == "subject_kfold":
        folds = splits.subject_kfold(subjects, k=protocol.folds)
    elif protocol.kind == "standard":  # its own validation split: no carving from training
        optimistic = protocol.selection == "test-fold"
        folds = splits.standard_split(subjects, protocol.standard_train,
                                      "" if optimistic else protocol.standard_val,
                                      protocol.standard_test)
        if not optimistic and not len(folds[0].val):
            raise FertkError(f"protocol standard: no '{protocol.standard_val}' subjects to select on")
        return folds
    elif protocol.kind == "loso":
        folds = splits.leave_one_subject_out(subjects)
    elif protocol.kind == "leave_one_set_out":
        sets = ds.sets[labelled].astype(str)
        names = sorted(set(sets))
        if len(names) < 2:
            raise FertkError("protocol.kind=leave_one_set_out needs data.sets with two or more data sets")
        _, set_folds = splits.leave_one_set_out({n: list(ds.classes) for n in names})

        def subj(groups: np.ndarray) -> list[str]:
            return sorted(set(subjects[np.isin(sets, groups)].astype(str)))

        folds = [splits.Fold(f.name, subj(f.train), [], subj(f.test), f.meta) for f in set_folds]
    else:
        raise FertkError(f"protocol.kind={protocol.kind!r} is not known")
    if protocol.selection != "test-fold":
        folds = splits.with_validation(folds, protocol.val_fraction, seed)
    return folds


def select_folds(folds: list[splits.Fold], only: list[int] | None) -> list[splits.Fold]:
    """The folds a run trains: those numbered in ``protocol.only_folds`` (0-based), else all."""
    if not only:
        return folds
    chosen = [folds[i] for i in only if 0 <= i < len(folds)]
    if not chosen:
        raise FertkError(f"protocol.only_folds={only}: no such fold (0..{len(folds) - 1})")
    return chosen


def save_splits(path: str | Path, folds: list[splits.Fold], meta: dict[str, Any] | None = None) -> Path:
    return splits.save_splits(path, folds, **(meta or {}))


def load_splits(path: str | Path) -> list[splits.Fold]:
    return splits.load_splits(path)
