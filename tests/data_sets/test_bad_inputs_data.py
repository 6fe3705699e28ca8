"""Bad inputs and leftovers of ``fertk prepare`` and ``fertk splits`` (issue #24): a damaged
cache is named and mended, skipped label files are named, a killed prepare's temporary
folder does not stay for ever."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from fertk.cli import main
from fertk.data import PreparedSet, prepare


def _fer_csv(root, n=4):
    rows = ["emotion,pixels,Usage"]
    for i in range(n):
        rows.append(f"{i % 7},{' '.join(['10'] * 24 * 48 + ['200'] * 24 * 48)},Training")
    root.mkdir(parents=True, exist_ok=True)
    (root / "fer2013.csv").write_text("\n".join(rows) + "\n")
    return root


# -- C6 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["labels", "crops"])
def test_damaged_cache_is_named_and_rebuilt(name, tmp_path, capsys):
    root = _fer_csv(tmp_path / "fer")
    cache = tmp_path / "cache"
    ps = prepare("fer2013", root, cache_dir=cache, workers=1, progress=False)
    file = ps.path / f"{name}.npy"
    good = file.read_bytes()
    file.write_bytes(good[: len(good) - 40])  # a truncated .npy
    from fertk.data.prepared import DamagedCacheError

    with pytest.raises(DamagedCacheError) as info:
        PreparedSet(ps.path)
    msg = str(info.value)
    assert msg.startswith(f"{file}: the prepared-data cache is damaged") and "--rebuild" in msg
    assert "\n" not in msg
    capsys.readouterr()
    code = main(["prepare", "fer2013", "--root", str(root), "--cache-dir", str(cache), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err
    assert f"{file}: the prepared-data cache is damaged" in err and "rebuilding it" in err
    again = PreparedSet(ps.path)  # mended
    assert len(again) == 4 and again.found.all()


# -- U3 --------------------------------------------------------------------------------------------
@pytest.fixture
def ck_with_bad_labels(tmp_path):
    from fertk.synth import SynthConfig, synthesize

    root = tmp_path / "ck"
    synthesize(root, SynthConfig(identities=2, frames=2, size=(128, 128), seed=1, unlabelled=0,
                                 layouts=("ckplus",)))
    files = sorted((root / "Emotion").rglob("*_emotion.txt"))
    files[0].write_text("banana\n")
    files[1].write_text("9\n")
    return root, files[:2]


def test_prepare_and_splits_name_the_bad_label_files(ck_with_bad_labels, tmp_path, capsys):
    root, bad = ck_with_bad_labels
    args = ["prepare", "ckplus", "--root", str(root), "--detector", "dataset", "--cache-dir",
            str(tmp_path / "cache"), "-o", "mode=peak", "--quiet"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "bad_label_file (2):" in err
    for f in bad:
        assert str(f) in err
    assert main(args + ["--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dataset_report"]["bad_label_file"] == 2
    assert sorted(e.split(" (")[0] for e in doc["dataset_skipped"]["bad_label_file"]) == \
        sorted(str(f) for f in bad)
    assert main(["splits", "ckplus", "--root", str(root), "-k", "2", "--out",
                 str(tmp_path / "splits.json")]) == 0
    err = capsys.readouterr().err
    assert "bad_label_file (2):" in err and all(str(f) in err for f in bad)


# -- U7 --------------------------------------------------------------------------------------------
def test_a_killed_prepares_temporary_folder_is_removed(tmp_path):
    root = _fer_csv(tmp_path / "fer")
    cache = tmp_path / "cache"
    cache.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = cache / f".fer2013-0123456789abcdef.tmp-{gone.pid}"  # the format before the host
    (stale / "sub").mkdir(parents=True)
    np.save(stale / "crops.npy", np.zeros(3))
    import socket

    stale2 = cache / f".fer2013-0123456789abcdef.tmp-{socket.gethostname()}-{gone.pid}"
    stale2.mkdir()
    running = cache / f".fer2013-fedcba9876543210.tmp-{socket.gethostname()}-1"  # pid 1 runs
    running.mkdir()
    elsewhere = cache / f".fer2013-fedcba9876543210.tmp-otherhost-{gone.pid}"
    elsewhere.mkdir()
    ps = prepare("fer2013", root, cache_dir=cache, workers=1, progress=False)
    assert not stale.exists() and not stale2.exists()
    assert running.exists() and elsewhere.exists()  # a live process's, another machine's
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == [ps.path.name]
