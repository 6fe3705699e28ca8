"""FER+: the vote processing of each label mode (FERPlus's ``_process_data``), both layouts,
the standard split, targets carried through ``fertk prepare`` into the training arrays."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import fertk
from fertk.datasets.ferplus import VOTE_CLASSES, face_target, process_votes
from fertk.errors import FertkError

# neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
CLEAR_HAPPY = [1, 8, 1, 0, 0, 0, 0, 0, 0, 0]
SPLIT_HAPPY_SURPRISE = [0, 4, 4, 1, 0, 0, 0, 0, 1, 0]
NO_MAJORITY = [3, 0, 3, 0, 2, 0, 0, 2, 0, 0]
NOT_A_FACE = [0, 1, 0, 0, 0, 0, 0, 0, 0, 9]
CONTEMPT = [3, 0, 0, 0, 0, 0, 0, 6, 1, 0]
UNKNOWN_TIED = [4, 0, 0, 0, 0, 0, 0, 0, 4, 2]


def test_single_votes_are_outliers_and_majority_needs_more_than_half():
    t = process_votes(CLEAR_HAPPY, "majority")
    assert t.tolist() == [0, 1, 0, 0, 0, 0, 0, 0, 0, 0]  # the single neutral and surprise votes go
    assert process_votes(NO_MAJORITY, "majority")[8] == 1.0  # 3 of 10: unknown
    assert face_target(NO_MAJORITY, "majority") is None
    assert face_target(NOT_A_FACE, "majority") is None
    assert face_target(CONTEMPT, "majority").tolist() == [0, 0, 0, 0, 0, 0, 0, 1]


def test_crossentropy_and_probability_take_the_largest_counts():
    for mode in ("crossentropy", "probability"):
        # 4 + 4 of 8 (the single sadness and unknown votes removed): two classes, equal
        assert process_votes(SPLIT_HAPPY_SURPRISE, mode).tolist() == [0, .5, .5, 0, 0, 0, 0, 0, 0, 0]
        # 3 + 3 = 6 < 7.5 of 10, then the two classes of 2 make four classes: unknown
        assert face_target(NO_MAJORITY, mode) is None
        # contempt 6 then neutral 3 (9 >= 75 % of 9): a distribution over two classes
        assert np.allclose(face_target(CONTEMPT, mode), [1 / 3, 0, 0, 0, 0, 0, 0, 2 / 3])
        # neutral and unknown share the largest count: the unknown share is dropped, 4 of 10
        # is not more than half: unknown
        assert face_target(UNKNOWN_TIED, mode) is None
    # the majority rule would have dropped the split face
    assert face_target(SPLIT_HAPPY_SURPRISE, "majority") is None


def test_multilabel_keeps_every_class_with_thirty_percent():
    t = process_votes([0, 4, 3, 0, 2, 0, 0, 0, 1, 0], "multilabel")  # 9 votes after removal
    assert np.allclose(t, [0, 4 / 7, 3 / 7, 0, 0, 0, 0, 0, 0, 0])  # anger's 2 < 2.7
    # neutral and surprise have 3 >= 30 % of 10 each, 6 > half of the votes: both kept
    assert face_target(NO_MAJORITY, "multilabel").tolist() == [.5, 0, .5, 0, 0, 0, 0, 0]
    assert face_target(NOT_A_FACE, "multilabel") is None
    with pytest.raises(FertkError, match="labels must be one of"):
        process_votes(CLEAR_HAPPY, "vote")


def _face(k: int, i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    img = rng.integers(40, 80, (48, 48)).astype(np.uint8)
    img[4 + 5 * k : 8 + 5 * k] += 150
    return img


ROWS = [CLEAR_HAPPY, SPLIT_HAPPY_SURPRISE, NO_MAJORITY, NOT_A_FACE, CONTEMPT, UNKNOWN_TIED]


def make_folders(root, rows=ROWS):
    """The FERPlus tools' layout: three split folders of PNGs, each with its label.csv."""
    import cv2

    n = 0
    for folder in ("FER2013Train", "FER2013Valid", "FER2013Test"):
        d = root / "data" / folder
        d.mkdir(parents=True)
        with open(d / "label.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            for votes in rows:
                name = f"fer{n:07d}.png"
                cv2.imwrite(str(d / name), _face(int(np.argmax(votes)) % 8, n))
                w.writerow([name, "(0, 0, 48, 48)", *votes])
                n += 1
            w.writerow(["missing.png", "(0, 0, 48, 48)", *CLEAR_HAPPY])
    return root


def test_folder_layout_modes_apply_to_training_faces_only(tmp_path):
    make_folders(tmp_path)
    maj = fertk.create("datasets", "ferplus", root=tmp_path)
    ce = fertk.create("datasets", "fer+", root=tmp_path / "data", labels="crossentropy")
    assert maj.classes == ce.classes == ["contempt", "happy"]
    usage = lambda ds, u: [s for s in ds.samples() if s.meta["usage"] == u]  # noqa: E731
    # majority: CLEAR_HAPPY and CONTEMPT in every split
    assert [len(usage(maj, u)) for u in ("Training", "PublicTest", "PrivateTest")] == [2, 2, 2]
    # crossentropy adds the split happy/surprise face to Training only (Valid/Test stay majority)
    assert [len(usage(ce, u)) for u in ("Training", "PublicTest", "PrivateTest")] == [3, 2, 2]
    assert maj.report.counts() == {"unknown_or_not_a_face": 12, "missing_image": 3}
    split = next(s for s in usage(ce, "Training") if s.meta["votes"] == [float(v) for v in SPLIT_HAPPY_SURPRISE])
    # surprise is not among the kept classes here: its half of the target is left out, renormalised
    assert split.target == (0.0, 1.0) and ce.classes[split.label] == "happy"
    cont = next(s for s in usage(ce, "Training") if s.meta["votes"][7] == 6)
    assert cont.target == (1.0, 0.0) and cont.label == 0  # its neutral third: not a class here
    assert all(s.subject == f"{s.meta['usage']}/{s.paths[0].split('/')[-1][:-4]}" for s in ce.samples())
    assert maj.read_frame(maj.samples()[0].paths[0]).shape[:2] == (48, 48)


def test_csv_pair_layout_reads_the_same_faces(tmp_path):
    make_folders(tmp_path / "f")
    folders = fertk.create("datasets", "ferplus", root=tmp_path / "f", labels="crossentropy")
    usages = {"FER2013Train": "Training", "FER2013Valid": "PublicTest", "FER2013Test": "PrivateTest"}
    import cv2

    with open(tmp_path / "fer2013.csv", "w", newline="") as fi, \
            open(tmp_path / "fer2013new.csv", "w", newline="") as fv:
        wi, wv = csv.writer(fi), csv.writer(fv)
        wi.writerow(["emotion", "pixels", "Usage"])
        wv.writerow(["Usage", "Image name", *VOTE_CLASSES])
        for folder, usage in usages.items():
            for row in csv.reader(open(tmp_path / "f" / "data" / folder / "label.csv")):
                if row[0] == "missing.png":
                    continue
                img = cv2.imread(str(tmp_path / "f" / "data" / folder / row[0]), cv2.IMREAD_GRAYSCALE)
                wi.writerow([0, " ".join(map(str, img.ravel())), usage])
                wv.writerow([usage, row[0], *row[2:]])
        wi.writerow([0, " ".join(["0"] * 2304), "Training"])  # a face FER+ removed
        wv.writerow(["Training", "", *[0] * 10])
    pair = fertk.create("datasets", "ferplus", root=tmp_path, labels="crossentropy")
    a, b = folders.samples(), pair.samples()
    assert [(s.subject, s.label, s.target) for s in a] == [(s.subject, s.label, s.target) for s in b]
    assert pair.report.counts()["removed_by_ferplus"] == 1
    assert np.array_equal(pair.read_frame(b[0].paths[0]), folders.read_frame(a[0].paths[0])[..., 0])
    with pytest.raises(FertkError, match="not in the FER\\+ layout"):
        fertk.create("datasets", "ferplus", root=tmp_path / "f" / "data" / "FER2013Train")


def test_prepare_carries_targets_into_the_training_arrays(tmp_path):
    from fertk.data import prepare
    from fertk.training.arrays import as_array_set

    make_folders(tmp_path / "root")
    ps = prepare("ferplus", tmp_path / "root", detector="none", crop="box", cache_dir=tmp_path / "c",
                 workers=1, progress=False, labels="multilabel")
    assert ps.target_kind == "max" and ps.targets.shape == (len(ps), len(ps.classes))
    assert np.allclose(ps.targets.sum(1), 1.0)
    ds = as_array_set(ps)
    assert ds.target_kind == "max" and np.array_equal(ds.targets, ps.targets)
    assert np.array_equal(ds.targets.argmax(1), ds.labels)
    again = prepare("ferplus", tmp_path / "root", detector="none", crop="box",
                    cache_dir=tmp_path / "c", workers=1, progress=False, labels="majority")
    assert again.path != ps.path and again.target_kind == "soft"  # the mode is part of the key
    assert as_array_set(again).key != ds.key
