"""FER2013 as an image-folder export, its standard protocol, and evaluation on its test split."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fertk
from fertk.errors import FertkError

SPLIT_DIRS = {"train": "Training", "validation": "PublicTest", "test": "PrivateTest"}


def _face(label: str, i: int) -> np.ndarray:
    """48x48 gray image whose brightness pattern depends on the class (learnable)."""
    rng = np.random.default_rng(i)
    img = rng.integers(60, 90, (48, 48)).astype(np.uint8)
    if label == "happy":
        img[28:] += 120
    else:
        img[:20] += 120
    return img


def make_export(root, per_class=(12, 6, 6), classes=("angry", "happy"), split_dirs=True):
    """A small FER2013 export: split folders (or prefixes only) plus noise the reader must skip."""
    import cv2

    n = 0
    for (folder, usage), count in zip(SPLIT_DIRS.items(), per_class, strict=True):
        for label in classes:
            d = (root / folder / label) if split_dirs else (root / label)
            d.mkdir(parents=True, exist_ok=True)
            for _ in range(count):
                n += 1
                cv2.imwrite(str(d / f"{usage}_{n:05d}.jpg"), _face(label, n))
    first = next((root / "train" / classes[0]).iterdir()) if split_dirs else None
    if first is not None:
        for k in range(3):  # augmented copies some exports add: not FER2013
            cv2.imwrite(str(first.parent / f"{first.name}{k}.jpg"), _face(classes[0], 999))
        (root / "train" / "nonsense").mkdir()
        cv2.imwrite(str(root / "train" / "nonsense" / "Training_99999.jpg"), _face("happy", 1))
        (root / "train" / classes[1] / "notes.txt").write_text("not an image")
    return root


def test_split_folder_export(tmp_path):
    make_export(tmp_path)
    ds = fertk.create("datasets", "fer2013", root=tmp_path)
    s = ds.samples()
    assert ds.layout == "folders"
    assert ds.classes == ["anger", "happy"]
    usages = [x.meta["usage"] for x in s]
    assert (usages.count("Training"), usages.count("PublicTest"), usages.count("PrivateTest")) == (24, 12, 12)
    assert all(x.subject == f"{x.meta['usage']}/{x.subject.split('/')[1]}" for x in s)
    counts = ds.report.counts()
    assert counts == {"augmented_copy": 3, "unknown_class": 1, "not_an_image": 1}
    assert not any(".jpg0" in x.paths[0] for x in s)
    img = ds.read_frame(s[0].paths[0])
    assert img.shape[:2] == (48, 48) and img.dtype == np.uint8
    only = fertk.create("datasets", "fer2013", root=tmp_path, usage="privatetest")
    assert {x.meta["usage"] for x in only.samples()} == {"PrivateTest"} and len(only) == 12


def test_prefix_only_export(tmp_path):
    make_export(tmp_path, per_class=(4, 2, 3), split_dirs=False)
    ds = fertk.create("datasets", "fer2013", root=tmp_path)
    usages = [x.meta["usage"] for x in ds.samples()]
    assert (usages.count("Training"), usages.count("PublicTest"), usages.count("PrivateTest")) == (8, 4, 6)


def test_bad_usage_and_empty_root(tmp_path):
    make_export(tmp_path, per_class=(1, 1, 1))
    with pytest.raises(FertkError, match="usage must be"):
        fertk.create("datasets", "fer2013", root=tmp_path, usage="Validation")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FertkError, match="image folders"):
        fertk.create("datasets", "fer2013", root=tmp_path / "empty")


def test_standard_split_from_subject_ids():
    from fertk.splits import standard_split

    subjects = ["Training/1", "Training/2", "PublicTest/3", "PrivateTest/4", "PrivateTest/5", "x"]
    (fold,) = standard_split(subjects)
    assert list(fold.train) == ["Training/1", "Training/2"]
    assert list(fold.val) == ["PublicTest/3"] and list(fold.test) == ["PrivateTest/4", "PrivateTest/5"]
    with pytest.raises(FertkError, match="no 'PrivateTest' subjects"):
        standard_split(["Training/1", "PublicTest/2"])


def test_standard_protocol_train_then_eval_reproduces(tmp_path, monkeypatch):
    """``protocol.kind: standard`` trains on Training, selects on PublicTest, reports
    PrivateTest; ``fertk eval`` of the checkpoint scores exactly its PrivateTest rows."""
    from click.testing import CliRunner

    from fertk.cli import cli
    from fertk.training.config import build_config
    from fertk.training.train import Trainer

    root = make_export(tmp_path / "fer", per_class=(40, 10, 14))
    cache = tmp_path / "cache"
    cfg = build_config({
        "name": "fer", "data": {"dataset": "fer2013", "root": str(root), "cache_dir": str(cache),
                                "workers": 1, "crop": "box", "crop_options": {"margin": 0.25}},
        "protocol": {"kind": "standard"},
        "model": {"backbone": "compact_tiny", "temporal": None},
        "frame": {"epochs": 3, "batch_size": 16, "warmup_epochs": 0,
                  "augment": {"illumination": "he", "test_illumination": "he"}},
        "run": {"progress": False, "seed": 1},
    })
    summary = Trainer(cfg, out=tmp_path / "run").run()
    result = json.loads((tmp_path / "run" / "folds" / "standard" / "result.json").read_text())
    assert result["frames"] == {"train": 80, "val": 20, "test": 28}
    meta = json.loads((tmp_path / "run" / "folds" / "standard" / "frame.json").read_text())
    assert meta["train"]["test_split"] == "PrivateTest" and meta["train"]["val_split"] == "PublicTest"
    assert "test_subjects" not in meta["train"]
    assert meta["train"]["preprocessing"] == {"detector": "none",
                                              "crop": {"name": "box", "options": {"margin": 0.25}}}
    acc = summary["stages"]["frame"]["per_fold"]["accuracy"][0]
    # a run-time crop for detected faces (as bundled FER2013 models carry) does not change
    # how the checkpoint is scored on the data set it was trained on
    meta["crop"], meta["detector"] = {"name": "landmark", "options": {"alpha": 1.5}}, "dlib"
    (tmp_path / "run" / "folds" / "standard" / "frame.json").write_text(json.dumps(meta))

    ckpt = str(tmp_path / "run" / "folds" / "standard" / "frame")
    res = CliRunner().invoke(cli, ["eval", ckpt, "fer2013", "--root", str(root), "--cache-dir",
                                   str(cache), "--out", str(tmp_path / "ev"), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "the PrivateTest split (28 of 128 rows)" in res.output
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["frame"]["n"] == 28 and report["frame"]["accuracy"] == pytest.approx(acc, abs=1e-9)
    every = CliRunner().invoke(cli, ["eval", ckpt, "fer2013", "--root", str(root), "--cache-dir",
                                     str(cache), "--out", str(tmp_path / "ev2"), "--rows", "all",
                                     "--workers", "1"])
    assert every.exit_code == 0 and json.loads((tmp_path / "ev2" / "report.json").read_text())["frame"]["n"] == 128
    # 100 of the 128 rows are Training or PublicTest images: said on screen
    assert "Warning: 100 of the scored rows are not in the checkpoint's test part" in every.output

    # --splits/--fold: the test subjects of that fold of the run's split file; default output
    # folders are numbered instead of overwritten
    monkeypatch.chdir(tmp_path)
    base = ["eval", ckpt, "fer2013", "--root", str(root), "--cache-dir", str(cache), "--workers", "1"]
    for _ in range(2):
        res = CliRunner().invoke(cli, [*base, "--splits", str(tmp_path / "run" / "splits.json"),
                                       "--fold", "1"])
        assert res.exit_code == 0, res.output
        assert "fold standard" in res.output and "Warning" not in res.output
    assert (tmp_path / "eval-fer2013-standard-frame" / "report.json").exists()
    report2 = json.loads((tmp_path / "eval-fer2013-standard-frame-2" / "report.json").read_text())
    assert report2["frame"]["n"] == 28
    bad = CliRunner().invoke(cli, [*base, "--splits", str(tmp_path / "run" / "splits.json"), "--fold", "9"])
    assert bad.exit_code != 0 and "has no such fold (its folds: standard" in bad.output


def test_tracks_from_stills_are_seeded_and_start_from_neutral():
    from fertk.training.tracks import TrackSpec, make_tracks

    crops = np.zeros((3, 120, 120), np.uint8)
    crops[0, 30:90, 30:90] = 220  # the expressive still
    crops[1] = 40  # a flat "neutral" still
    spec = TrackSpec(seq_len=9, onset=1.0, blur=0.0)
    a = make_tracks(crops, np.array([0, 0]), np.array([1]), spec, np.random.default_rng(5))
    b = make_tracks(crops, np.array([0, 0]), np.array([1]), spec, np.random.default_rng(5))
    assert a.shape == (2, 9, 120, 120) and a.dtype == np.uint8 and np.array_equal(a, b)
    for track in a:
        bright = [int(f.max()) > 150 for f in track]  # only the expressive still has a bright square
        k = bright.index(True)
        assert 1 <= k <= 7 and all(bright[k:]) and not any(bright[:k])
        assert not np.array_equal(track[-1], track[-2])  # the pose moves along the track
    none = make_tracks(crops, np.array([0]), np.array([1]), TrackSpec(onset=0.0), np.random.default_rng(1))
    assert all(int(f.max()) > 150 for f in none[0])


def test_gru_on_tracks_from_stills_with_init_from(tmp_path):
    """A frame model trained on stills, then (``model.init_from``, ``frame.enabled: false``)
    a GRU trained on synthetic tracks of the stills, with the parameter-free heads scored on
    the same held-out tracks; the checkpoint records its source weights."""
    from fertk.checkpoint import load_checkpoint, sha256_file
    from fertk.training.config import build_config
    from fertk.training.train import Trainer

    root = make_export(tmp_path / "fer", per_class=(30, 8, 10), classes=("angry", "happy", "neutral"))
    base = {"data": {"dataset": "fer2013", "root": str(root), "cache_dir": str(tmp_path / "c"),
                     "workers": 1, "crop": "box", "crop_options": {"margin": 0.25}},
            "protocol": {"kind": "standard"},
            "frame": {"epochs": 2, "batch_size": 16, "warmup_epochs": 0,
                      "augment": {"illumination": "none", "test_illumination": "none"}},
            "run": {"progress": False, "seed": 2}}
    frame_cfg = build_config({**base, "name": "f", "model": {"backbone": "compact_tiny", "temporal": None}})
    Trainer(frame_cfg, out=tmp_path / "frame").run()
    src = tmp_path / "frame" / "folds" / "standard" / "frame"
    seq_cfg = build_config({
        **base, "name": "s",
        "model": {"backbone": "compact_tiny", "temporal": "gru", "init_from": str(src)},
        "frame": {**base["frame"], "enabled": False},
        "sequence": {"source": "stills", "views": 2, "iterations": 30, "eval_every": 10, "tracks": 50},
    })
    Trainer(seq_cfg, out=tmp_path / "seq").run()
    res = json.loads((tmp_path / "seq" / "folds" / "standard" / "result.json").read_text())
    seq = res["sequence"]
    assert seq["source"] == "stills" and seq["sequences"] == {"train": 50, "val": 24, "test": 30}
    assert set(seq["baselines"]) == {"average", "last"} and 0 <= seq["test"]["accuracy"] <= 1
    assert res["frame"]["epochs_run"] == 0
    ckpt = load_checkpoint(tmp_path / "seq" / "folds" / "standard" / "sequence")
    assert ckpt.metadata["temporal"]["name"] == "gru"
    assert ckpt.metadata["train"]["init_from"]["sha256"] == sha256_file(str(src) + ".safetensors")
    import torch

    first = load_checkpoint(src).state_dicts["backbone"]
    assert all(torch.equal(first[k], v) for k, v in ckpt.state_dicts["backbone"].items())


def test_init_from_refuses_another_backbone(tmp_path):
    from fertk.training.config import build_config
    from fertk.training.train import Trainer

    root = make_export(tmp_path / "fer", per_class=(4, 2, 2))
    cfg = build_config({
        "data": {"dataset": "fer2013", "root": str(root), "cache_dir": str(tmp_path / "c"), "workers": 1},
        "protocol": {"kind": "standard"},
        "model": {"backbone": "compact", "temporal": None, "init_from": "minixception-fer2013"},
        "frame": {"epochs": 1}, "run": {"progress": False}})
    with pytest.raises(FertkError, match="backbone mismatch"):
        Trainer(cfg, out=tmp_path / "r").run()
    with pytest.raises(FertkError, match="frame.enabled"):
        build_config({"frame": {"enabled": False}})


def test_compare_seeds_on_the_fixed_split(tmp_path):
    """``fertk compare A B --seeds 2`` on FER2013's fixed split: spread over seeds, bootstrap
    intervals, paired bootstrap and McNemar against the first config, and a manifest re-run."""
    import yaml
    from click.testing import CliRunner

    from fertk.cli import cli

    root = make_export(tmp_path / "fer", per_class=(20, 6, 10))
    common = {"preset": "default",
              "data": {"dataset": "fer2013", "root": str(root), "cache_dir": str(tmp_path / "c"),
                       "workers": 1, "crop": "box", "crop_options": {"margin": 0.25}},
              "protocol": {"kind": "standard"},
              "frame": {"epochs": 1, "batch_size": 16, "warmup_epochs": 0,
                        "augment": {"illumination": "none", "test_illumination": "none"}},
              "run": {"progress": False}}
    for name, backbone in (("a", "compact_tiny"), ("b", "example_convnet")):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(
            {**common, "name": name, "model": {"backbone": backbone, "temporal": None}}))
    out = tmp_path / "cmp"
    res = CliRunner().invoke(cli, ["compare", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"),
                                   "--seeds", "2", "--out", str(out), "--no-timing"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "compare.json").read_text())
    assert doc["seeds"] == 2 and sorted((out / "runs" / "a").iterdir())[0].name == "seed0"
    for row in doc["rows"]:
        assert row["seeds"] == 2 and row["folds"] == 1 and row["test_items"] == 20
        assert len(row["per_seed"]["accuracy"]) == 2
        ci = row["ci95"]["accuracy"]
        assert ci["lo"] <= row["accuracy"]["mean"] <= ci["hi"]
    (acc,) = [t for t in doc["paired_tests"] if t["metric"] == "accuracy"]
    assert 0 <= acc["mcnemar"]["pvalue"] <= 1 and 0 <= acc["bootstrap"]["pvalue"] <= 1
    md = (out / "compare.md").read_text()
    assert "std over seeds" in md and "McNemar" in md and "95% CI" in md
    # one fold: paired t and Wilcoxon cannot run, and say so
    (acc_row,) = [ln for ln in md.splitlines() if ln.startswith("| b vs a | frame | accuracy")]
    assert acc_row.split("|")[5:7] == [" n/a ", " n/a "], acc_row
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seeds"] == 2 and manifest["rerun"].endswith("--seeds 2")
    assert not (out / "pareto.png").exists()  # no latency measured
    again = CliRunner().invoke(cli, ["compare", str(out / "manifest.json"), "--out", str(out)])
    assert again.exit_code == 0, again.output
    redo = json.loads((out / "compare.json").read_text())
    assert redo["rows"][0]["per_seed"] == doc["rows"][0]["per_seed"]  # the runs were reused
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG" and redo["pareto"]
    assert set(redo["pareto"]) <= {f"{r['config']}/{r['stage']}" for r in redo["rows"]}
    assert f"Pareto frontier (accuracy against CPU latency): {', '.join(redo['pareto'])}" in \
        (out / "compare.md").read_text()


def test_pack_and_unpack_keep_images_labels_and_splits(tmp_path):
    """tools/pack_fer2013.py: the unpacked CSV reads back as the same faces, labels and splits."""
    import subprocess
    import sys
    from pathlib import Path

    import cv2

    tool = Path(__file__).resolve().parents[2] / "tools" / "pack_fer2013.py"
    root = make_export(tmp_path / "fer", per_class=(3, 2, 2), split_dirs=False)
    pack = tmp_path / "fer.u8.xz"
    for args in (["pack", str(root), str(pack)], ["unpack", str(pack), str(tmp_path / "out")]):
        subprocess.run([sys.executable, str(tool), *args], check=True, capture_output=True)
    a = fertk.create("datasets", "fer2013", root=root)
    b = fertk.create("datasets", "fer2013", root=tmp_path / "out")
    assert b.layout == "csv" and len(a) == len(b) == 14 and a.classes == b.classes
    for x, y in zip(a.samples(), b.samples(), strict=True):
        assert (x.label, x.meta["usage"]) == (y.label, y.meta["usage"])
        assert np.array_equal(cv2.imread(x.paths[0], cv2.IMREAD_GRAYSCALE), b.read_frame(y.paths[0]))
