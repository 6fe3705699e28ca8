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
