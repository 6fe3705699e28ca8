"""The shared file helpers: atomic writes and the numpy-aware JSON encoder (fertk.fsutil)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fertk.fsutil import atomic_path, atomic_write, to_json, write_json


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    atomic_write(target, "one")
    atomic_write(target, b"two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["a.txt"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer crashed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_json_numpy_values_nan_and_paths(tmp_path):
    data = {"n": np.int64(3), "x": np.float32(0.5), "a": np.arange(2), "nan": float("nan"),
            "t": (1, 2), "p": tmp_path}
    assert json.loads(to_json(data)) == {"n": 3, "x": 0.5, "a": [0, 1], "nan": None,
                                         "t": [1, 2], "p": str(tmp_path)}
    path = write_json(tmp_path / "d.json", data)
    assert json.loads(path.read_text()) == json.loads(to_json(data))


def test_staged_files_appear_together_keep_their_suffix_and_vanish_on_discard(tmp_path):
    from fertk.fsutil import Staged, is_temporary

    staged = Staged()
    a, b = staged.path(tmp_path / "x.csv"), staged.path(tmp_path / "x.summary.json")
    assert a.suffix == ".csv" and b.suffix == ".json" and is_temporary(a) and is_temporary(b)
    assert staged.path(tmp_path / "x.csv") == a  # one temporary name per final name
    a.write_text("rows")
    b.write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir() if not is_temporary(p)) == []
    staged.commit(last=tmp_path / "x.summary.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv", "x.summary.json"]
    again = Staged()
    again.path(tmp_path / "y.csv").write_text("half")
    again.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv", "x.summary.json"]
    assert not is_temporary(tmp_path / "x.csv") and not is_temporary(tmp_path / ".hidden.csv")
