"""Synthetic data → data set loaders: CK+ and folder layouts agree with the generator's truth."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

import fertk
from fertk.errors import FertkError
from fertk.synth import SynthConfig, synthesize


def test_ckplus_round_trip(synth_root):
    root, manifest = synth_root
    ds = fertk.create("datasets", "ckplus", root=root, mode="peak")
    samples = ds.samples()
    assert ds.classes == ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
    truth = {(s["subject"], s["sequence"]): s for s in manifest["sequences"]}
    labelled = [s for s in truth.values() if s["label"] is not None]
    assert len(samples) == len(labelled)
    for s in samples:
        t = truth[tuple(s.sequence.split("/"))]
        assert ds.classes[s.label] == t["label"]
        assert s.peak and s.frame_index == t["frames"] - 1
        assert s.paths[0].endswith(t["files"][-1])
    # unlabelled sequences (no Emotion file) are skipped by default and counted
    n_unlabelled = sum(1 for s in truth.values() if s["label"] is None)
    assert n_unlabelled > 0
    assert ds.report.counts()["unlabelled_sequence"] == n_unlabelled
    # the shipped landmarks are read back (68 points in the image)
    pts = ds.landmarks(samples[0])
    assert pts.shape == (68, 2) and np.all(pts > 0) and np.all(pts < 256)


def test_ckplus_modes_neutral_and_class_filter(synth_root):
    root, manifest = synth_root
    n_seq = sum(1 for s in manifest["sequences"] if s["label"])
    whole = fertk.create("datasets", "ckplus", root=root, mode="sequence").samples()
    assert len(whole) == n_seq * 4
    last = fertk.create("datasets", "ckplus", root=root, mode="last", last_k=2).samples()
    assert len(last) == n_seq * 2 and {s.frame_index for s in last} == {2, 3}
    ds = fertk.create("datasets", "ckplus", root=root, mode="peak", neutral=True,
                      classes="anger,disgust,fear,happy,sadness,surprise,neutral")
    s = ds.samples()
    assert "contempt" not in ds.classes and ds.classes[-1] == "neutral"
    neutral = [x for x in s if ds.classes[x.label] == "neutral"]
    assert len(neutral) == n_seq and all(x.frame_index == 0 for x in neutral)
    assert ds.report.counts()["dropped_class"] == 10  # one contempt sequence per identity
    all_frames = fertk.create("datasets", "ckplus", root=root, mode="peak", labelled_only=False)
    assert sum(1 for x in all_frames.samples() if x.label == -1) == len(manifest["sequences"]) - n_seq


def test_folder_layout_matches_ckplus(synth_root):
    root, _ = synth_root
    ck = fertk.create("datasets", "ckplus", root=root, mode="peak").samples()
    fo = fertk.create("datasets", "folder", root=root / "folder", mode="peak")
    fs = fo.samples()
    assert fo.classes[: len(fo.classes)] == ["anger", "contempt", "disgust", "fear", "happy", "sadness",
                                              "surprise"]
    assert Counter(s.subject for s in fs) == Counter(s.subject for s in ck)
    assert Counter(fo.classes[s.label] for s in fs) == Counter(["anger"] * 10 + ["contempt"] * 10
                                                              + ["disgust"] * 10 + ["fear"] * 10
                                                              + ["happy"] * 10 + ["sadness"] * 10
                                                              + ["surprise"] * 10)


def test_motion_variant_classes_are_ordered_pose_pairs(tmp_path):
    m = synthesize(tmp_path, SynthConfig(identities=1, frames=4, motion=True, unlabelled=0,
                                         layouts=("folder",)))
    assert len(m["classes"]) == 6 and "smile_to_raise" in m["classes"] and "raise_to_smile" in m["classes"]
    ds = fertk.create("datasets", "folder", root=tmp_path / "folder")
    assert sorted(ds.classes) == sorted(m["classes"])
    assert len(ds.samples()) == 6 * 4
    assert json.loads((tmp_path / "synth.json").read_text())["config"]["motion"] is True


def test_synth_is_deterministic(tmp_path):
    a = synthesize(tmp_path / "a", SynthConfig(identities=1, frames=2, layouts=("ckplus",), seed=3))
    b = synthesize(tmp_path / "b", SynthConfig(identities=1, frames=2, layouts=("ckplus",), seed=3))
    f = a["sequences"][0]["files"][-1]
    assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert a["sequences"] == b["sequences"]


def test_wrong_layout_is_one_clear_error(synth_root, tmp_path):
    root, _ = synth_root
    with pytest.raises(FertkError) as e:
        fertk.create("datasets", "ckplus", root=root / "folder").samples()
    msg = str(e.value)
    assert "cohn-kanade-images" in msg and "anger/" in msg and "\n" not in msg
    with pytest.raises(FertkError, match="OriginalImg"):
        fertk.create("datasets", "oulu_casia", root=root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FertkError, match="no class folders.*empty folder"):
        fertk.create("datasets", "folder", root=tmp_path / "empty").samples()
    with pytest.raises(FertkError, match="fer2013.csv"):
        fertk.create("datasets", "fer2013", root=tmp_path / "empty")


def test_cli_wrong_layout_prints_one_line(synth_root, capsys):
    import subprocess
    import sys

    from fertk.cli import main

    root, _ = synth_root
    r = subprocess.run([sys.executable, "-m", "fertk.cli", "prepare", "ckplus", "--root",
                        str(root / "folder")], capture_output=True, text=True)
    assert r.returncode == 1
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ckplus:") and "cohn-kanade-images" in lines[0]
    # in process, the same one line
    assert main(["prepare", "ckplus", "--root", str(root / "folder")]) == 1
    assert capsys.readouterr().err.strip() == lines[0]


def test_oulu_layout_and_missing_pieces_are_counted(tmp_path):
    import cv2

    img = np.full((40, 40), 128, np.uint8)
    base = tmp_path / "OriginalImg" / "VL" / "Strong"
    for subj in ("P001", "P002"):
        for cls in ("Anger", "Happiness", "Surprise"):
            d = base / subj / cls
            d.mkdir(parents=True)
            for i in range(3):
                cv2.imwrite(str(d / f"{i:03d}.jpeg"), img)
    (base / "P002" / "Fear").mkdir()  # empty sequence
    (base / "P002" / "Bored").mkdir()  # not a class
    ds = fertk.create("datasets", "oulu_casia", root=tmp_path, mode="peak")
    s = ds.samples()
    assert ds.classes == ["anger", "happy", "surprise"]
    assert len(s) == 6 and {x.subject for x in s} == {"P001", "P002"}
    assert ds.report.counts() == {"empty_sequence": 1, "unknown_class_folder": 1}
    assert s[0].sequence == "VL/Strong/P001/Anger"


def test_folder_empty_class_and_subject_pattern(tmp_path):
    import cv2

    img = np.full((30, 30), 90, np.uint8)
    for cls, names in {"Happy": ["p1-a", "p1-b", "p2-a"], "sad": ["p3-x"], "angry": []}.items():
        (tmp_path / cls).mkdir()
        for n in names:
            cv2.imwrite(str(tmp_path / cls / f"{n}.png"), img)
    ds = fertk.create("datasets", "folder", root=tmp_path, subject_pattern=r"^(p\d+)")
    s = ds.samples()
    assert ds.classes == ["happy", "sadness"]
    assert sorted({x.subject for x in s}) == ["p1", "p2", "p3"]
    assert ds.report.counts() == {"empty_class": 1}


def test_fer2013_csv(tmp_path):
    rows = ["emotion,pixels,Usage"]
    rng = np.random.default_rng(0)
    for i in range(5):
        px = " ".join(map(str, rng.integers(0, 256, 48 * 48)))
        rows.append(f"{i % 7},{px},{'Training' if i < 3 else 'PublicTest'}")
    rows.append("9,1 2 3,Training")  # bad label
    (tmp_path / "fer2013.csv").write_text("\n".join(rows) + "\n")
    ds = fertk.create("datasets", "fer2013", root=tmp_path)
    s = ds.samples()
    assert len(s) == 5 and ds.report.counts() == {"bad_label": 1}
    assert ds.classes == ["anger", "disgust", "fear", "happy", "sadness"]
    img = ds.read_frame(s[1].paths[0])
    assert img.shape == (48, 48) and img.dtype == np.uint8
    assert [x.meta["usage"] for x in s].count("PublicTest") == 2


@pytest.mark.parametrize("text,why", [
    ("2.5\n", "code 2.5"),                        # was read as contempt
    ("3.0 5.0\n", "expected one number, found 2"),  # was read as disgust
    ("0\n", "code 0"),                            # was a class neutral without neutral=true
    ("   0.0000000e+00\n", "code 0.0000000e+00"),
    ("8\n", "code 8"),
    ("happy\n", "not a number"),
    ("\n", "found 0"),
])
def test_ckplus_malformed_label_file_is_bad_label_file(tmp_path, text, why):
    root = tmp_path / "ck"
    synthesize(root, SynthConfig(identities=2, frames=2, size=(128, 128), unlabelled=0,
                                 layouts=("ckplus",)))
    good = fertk.create("datasets", "ckplus", root=root, mode="peak")
    n = len(good.samples())
    label_file = sorted((root / "Emotion").rglob("*_emotion.txt"))[0]
    label_file.write_text(text, encoding="ascii")
    ds = fertk.create("datasets", "ckplus", root=root, mode="peak")
    samples = ds.samples()
    assert len(samples) == n - 1  # that sequence is skipped, not given a wrong label
    assert "neutral" not in ds.classes
    assert ds.report.counts()["bad_label_file"] == 1
    (example,) = ds.report["bad_label_file"]["examples"]
    assert example.startswith(str(label_file)) and why in example, example
    assert ds.classes == good.classes
