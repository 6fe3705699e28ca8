"""Bad inputs of ``fertk train``, ``eval`` and ``compare`` (issue #24): one clear line, never
a traceback; nothing already done is lost; a rerun is not blocked by a failed start."""

from __future__ import annotations

import yaml

from fertk.cli import main


def _write(path, cfg):
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, err
    return lines[0]


# -- C4 --------------------------------------------------------------------------------------------
def test_train_out_under_a_file_is_one_line(synth_ck, tmp_path, capsys, make_config):
    root, cache, _ = synth_ck
    cfg = _write(tmp_path / "cfg.yaml", make_config(root, cache))
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code = main(["train", cfg, "--out", str(blocker / "run")])
    line = _error_line(capsys.readouterr().err)
    assert code == 1 and line.startswith(f"Error: --out {blocker / 'run'}: cannot create")
    assert "is a file" in line and blocker.read_text() == "x"


# -- C5 --------------------------------------------------------------------------------------------
def test_compare_manifest_that_is_not_json_is_one_line(tmp_path, capsys):
    cases = {"text.json": "not json at all", "list.json": "[1, 2]",
             "noconfigs.json": '{"format": "fertk-compare-manifest"}', "binary.json": None}
    for name, text in cases.items():
        path = tmp_path / name
        if text is None:
            path.write_bytes(b"\xff\xfe\x00garbage")
        else:
            path.write_text(text)
        code = main(["compare", str(path), "--out", str(tmp_path / "cmp")])
        line = _error_line(capsys.readouterr().err)
        assert code == 1 and line.startswith(f"Error: {path}: "), line
        assert "manifest" in line, line


# -- S6 --------------------------------------------------------------------------------------------
def test_trainer_state_with_flipped_bits_is_refused(tmp_path):
    import pytest
    import torch

    from fertk.errors import FertkError
    from fertk.training.stages import load_state, save_state

    path = tmp_path / "state" / "fold01_frame.pt"
    weights = torch.full((256,), 1.0)
    save_state(path, {"digest": "abc", "model": {"w": weights}, "epoch": 3,
                      "history": [{"loss": 0.5}], "best_score": [0.9, -0.1]})
    back = load_state(path)
    assert torch.equal(back["model"]["w"], weights) and back["epoch"] == 3
    assert "checksum" not in back
    data = bytearray(path.read_bytes())
    at = data.find(b"\x00\x00\x80\x3f" * 16)  # the 1.0s of the tensor, stored as they are
    assert at > 0
    data[at + 2] ^= 0x01  # 1.0 becomes 1.0000001: still a valid file, a different model
    path.write_bytes(bytes(data))
    with pytest.raises(FertkError) as info:
        load_state(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: the saved trainer state is damaged") and "checksum" in msg
    assert "\n" not in msg and "delete this file to restart the frame stage of fold01" in msg


# -- U1, U6 ----------------------------------------------------------------------------------------
TINY = {"backbone": "example_convnet", "backbone_options": {"width": 4}, "temporal": None}


def test_a_train_that_failed_at_start_does_not_block_the_rerun(synth_ck, tmp_path, capsys,
                                                               make_config):
    root, cache, _ = synth_ck
    bad = _write(tmp_path / "bad.yaml", make_config(
        root, cache, model=dict(TINY, backbone_options={"width": "wide"}), frame={"epochs": 1}))
    good = _write(tmp_path / "good.yaml", make_config(root, cache, model=TINY,
                                                      frame={"epochs": 1}))
    for resume in ([], ["--resume"]):
        out = tmp_path / f"run{len(resume)}"
        assert main(["train", bad, "--out", str(out)]) == 1
        line = _error_line(capsys.readouterr().err)
        assert "width='wide'" in line
        assert (out / "config.yaml").exists()  # its setup files were written ...
        assert main(["train", good, "--out", str(out), *resume]) == 0  # ... and do not block
        err = capsys.readouterr().err
        assert "stopped before its first saved epoch; starting it afresh" in err
        assert (out / "summary.json").exists() and (out / "folds" / "fold01" / "frame.json").exists()
    # a run with saved progress still refuses both
    assert main(["train", good, "--out", str(tmp_path / "run0")]) == 1
    assert "--resume" in _error_line(capsys.readouterr().err)
    assert main(["train", bad, "--out", str(tmp_path / "run0"), "--resume"]) == 1
    assert "different config" in _error_line(capsys.readouterr().err)


def test_resume_of_a_folder_that_does_not_exist_is_refused(synth_ck, tmp_path, capsys,
                                                           make_config):
    root, cache, _ = synth_ck
    cfg = _write(tmp_path / "cfg.yaml", make_config(root, cache, model=TINY))
    missing = tmp_path / "no-such-run"
    assert main(["train", cfg, "--out", str(missing), "--resume"]) == 1
    line = _error_line(capsys.readouterr().err)
    assert line.startswith(f"Error: --resume: {missing} does not exist") and not missing.exists()


# -- S10 -------------------------------------------------------------------------------------------
def _fer_root(tmp_path):
    """A FER2013 CSV: 3 Training, 2 PublicTest, 4 PrivateTest rows; two PrivateTest rows hold
    a real face (128×128, scikit-image's astronaut), the others a blank grey square."""
    from pathlib import Path

    import cv2

    photo = cv2.imread(str(Path(__file__).resolve().parents[1] / "data" / "astronaut.png"))
    face = cv2.resize(cv2.cvtColor(photo[10:250, 130:330], cv2.COLOR_BGR2GRAY), (128, 128))
    blank = " ".join(["128"] * 128 * 128)
    real = " ".join(str(int(v)) for v in face.ravel())
    rows = ["emotion,pixels,Usage"]
    rows += [f"3,{blank},Training"] * 3 + [f"3,{blank},PublicTest"] * 2
    rows += [f"3,{real},PrivateTest"] * 2 + [f"6,{blank},PrivateTest"] * 2
    root = tmp_path / "fer"
    root.mkdir()
    (root / "fer2013.csv").write_text("\n".join(rows) + "\n")
    return root


def test_eval_on_fer2013_uses_its_detector_its_test_split_and_counts_faceless_rows(
        tmp_path, capsys):
    import json

    root = _fer_root(tmp_path)
    base = ["eval", "minixception-fer2013", "fer2013", "--root", str(root), "--cache-dir",
            str(tmp_path / "cache"), "--workers", "1", "--device", "cpu"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    # pre-cropped faces: the data set's own detector (the whole image), not the weights' dlib
    assert rep["dataset"]["detector"] == "none" and rep["rows_without_face"] == 0
    # the standard test split, and the report says so
    assert rep["frame"]["n"] == 4 and rep["dataset"]["rows"].startswith("the PrivateTest split")
    assert "scored: the PrivateTest split (fer2013's standard test split" in out
    # a detector named by the user wins; rows where it finds no face count as wrong
    assert main([*base, "--out", str(tmp_path / "b"), "--detector", "dlib", "--rows", "all"]) == 0
    out = capsys.readouterr().out
    rep = json.loads((tmp_path / "b" / "report.json").read_text())
    assert rep["dataset"]["detector"] == "dlib" and rep["dataset"]["rows"] == "every row (9)"
    frame = rep["frame"]
    assert frame["n"] == 9 and rep["rows_without_face"] >= 7  # the blank squares at least
    assert frame["no_prediction"] == rep["rows_without_face"]
    assert frame["accuracy"] <= (9 - rep["rows_without_face"]) / 9
    assert f"{rep['rows_without_face']} of the scored rows have no face found" in out
    assert sum(r["support"] for r in frame["per_class"]) == 9
