"""Protocols: subject-independent folds, leave-one-set-out on shared classes, split files."""

from __future__ import annotations

import numpy as np
import pytest

from fertk import splits
from fertk.errors import FertkError


def test_subject_kfold_is_subject_independent_and_sorted(prepared_last3):
    subjects = prepared_last3.subjects
    folds = splits.with_validation(splits.subject_kfold(subjects, k=5), 0.2, seed=1)
    assert len(folds) == 5
    seen_test = []
    for f in folds:
        tr, va, te = f.rows(subjects)
        assert not (set(subjects[tr]) & set(subjects[te]))
        assert not (set(subjects[va]) & set(subjects[te])) and not (set(subjects[va]) & set(subjects[tr]))
        assert len(tr) + len(va) + len(te) == len(subjects)
        assert len(f.val) >= 1
        seen_test += list(f.test)
    assert seen_test == sorted(set(subjects))  # sorted ids, contiguous groups, each once


def test_kfold_groups_and_errors():
    ids = [f"S{i:03d}" for i in (5, 1, 3, 2, 4, 10, 8, 9, 7, 6, 11)]
    folds = splits.subject_kfold(ids + ids, k=3)
    assert [list(f.test) for f in folds] == [["S001", "S002", "S003", "S004"],
                                             ["S005", "S006", "S007", "S008"],
                                             ["S009", "S010", "S011"]]
    rr = splits.subject_kfold(ids, k=3, assign="round_robin")
    assert list(rr[0].test) == ["S001", "S004", "S007", "S010"]
    with pytest.raises(FertkError, match="k=20"):
        splits.subject_kfold(ids, k=20)
    loso = splits.leave_one_subject_out(ids)
    assert len(loso) == 11 and all(len(f.test) == 1 and f.test[0] not in f.train for f in loso)


def test_leave_one_set_out_on_common_classes():
    sets = {"ckplus": ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"],
            "oulu": ["anger", "disgust", "fear", "happy", "sadness", "surprise"],
            "fer": ["anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral"]}
    classes, folds = splits.leave_one_set_out(sets)
    assert classes == ["anger", "disgust", "fear", "happy", "sadness", "surprise"]
    assert [list(f.test) for f in folds] == [["ckplus"], ["oulu"], ["fer"]]
    set_of_row = np.array(["ckplus", "oulu", "fer", "oulu"])
    tr, va, te = folds[1].rows(set_of_row)
    assert list(te) == [1, 3] and list(tr) == [0, 2]
    labels = splits.remap_labels(np.array([1, 0, 6, -1]), sets["ckplus"], classes)
    assert labels.tolist() == [-1, 0, 5, -1]  # contempt is dropped
    with pytest.raises(FertkError, match="fewer than two"):
        splits.leave_one_set_out({"a": ["happy", "anger"], "b": ["happy", "neutral"]})


def test_split_file_round_trip(tmp_path):
    folds = splits.with_validation(splits.subject_kfold([f"P{i:03d}" for i in range(20)], 4), 0.25, 3)
    again = splits.with_validation(splits.subject_kfold([f"P{i:03d}" for i in range(20)], 4), 0.25, 3)
    assert [list(f.val) for f in folds] == [list(f.val) for f in again]  # seeded
    path = splits.save_splits(tmp_path / "s.json", folds, dataset="oulu_casia", seed=3)
    loaded = splits.load_splits(path)
    assert [f.as_dict() for f in loaded] == [f.as_dict() for f in folds]
    assert splits.splits_meta(path)["dataset"] == "oulu_casia"
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(FertkError, match="not a fertk split file"):
        splits.load_splits(tmp_path / "bad.json")
    with pytest.raises(FertkError, match="two sides"):
        splits.Fold("x", ["a"], [], ["a"])


def test_cli_splits(synth_root, tmp_path):
    from click.testing import CliRunner

    from fertk.cli import cli

    root, _ = synth_root
    out = tmp_path / "splits.json"
    r = CliRunner().invoke(cli, ["splits", "ckplus", "--root", str(root), "-k", "5", "--out", str(out)])
    assert r.exit_code == 0, r.output
    folds = splits.load_splits(out)
    assert len(folds) == 5 and all(len(f.test) == 2 for f in folds)
