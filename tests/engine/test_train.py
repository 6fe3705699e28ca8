"""End-to-end training on `fertk synth` data: train → eval → compare, resume, plugins
(DDP: ``test_guards.py::test_ddp_two_processes_equal_one_process``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from fertk.cli import main
from fertk.errors import FertkError
from fertk.training.config import build_config
from fertk.training.stages import TrainingInterrupted
from fertk.training.train import Trainer

PNG = b"\x89PNG\r\n\x1a\n"


def _write(path, cfg):
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_train_eval_compare_cli(synth_ck, tmp_path, capsys, make_config, monkeypatch):
    root, cache, _ = synth_ck
    a = _write(tmp_path / "tiny.yaml", make_config(
        root, cache, name="tiny", model={"backbone": "compact_tiny",
                                         "backbone_options": {"input_size": 48}},
        frame={"epochs": 1}))
    b = _write(tmp_path / "conv.yaml", make_config(root, cache, name="conv"))
    run = tmp_path / "run"
    assert main(["train", b, "--out", str(run)]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["stages"]) == {"frame", "sequence"}
    assert summary["selection"].startswith("validation")
    assert (run / "frame_pooled_confusion.png").read_bytes()[:8] == PNG
    assert (run / "sequence_pooled_confusion.csv").exists()
    splits = json.loads((run / "splits.json").read_text())["folds"][0]
    assert not set(splits["test"]) & (set(splits["train"]) | set(splits["val"]))
    assert splits["val"] and not set(splits["val"]) & (set(splits["train"]) | set(splits["test"]))
    ckpt = run / "folds" / "fold01" / "sequence"
    meta = json.loads(ckpt.with_suffix(".json").read_text())
    assert meta["classes"] == summary["classes"] and meta["temporal"]["name"] == "gru"
    assert meta["crop"]["name"] == "landmark" and meta["input_spec"]["crop_size"] == 96
    assert meta["train"]["selection"].startswith("validation")
    # fertk synth data read through the CK+ layout: the weights say synth, not ckplus
    assert meta["train"]["dataset"] == "synth" and meta["train"]["reader"] == "ckplus"
    # the sequence stage's time: the frozen model over the sequences, then each chunk of training
    seq = json.loads((run / "folds" / "fold01" / "result.json").read_text())["sequence"]
    assert seq["inputs_s"] > 0 and seq["history"] and all(h["train_s"] > 0 for h in seq["history"])
    monkeypatch.setenv("FERTK_CACHE_DIR", str(tmp_path / "cache"))
    capsys.readouterr()
    assert main(["weights", "import", f"{ckpt}.safetensors", "--name", "synth-gru"]) == 0
    assert "trained on synth" in capsys.readouterr().out
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["data_hash"] and manifest["versions"]["torch"]
    # a second train into the same folder without --resume is a one-line user error
    assert main(["train", b, "--out", str(run)]) == 1
    assert "--resume" in capsys.readouterr().err

    ev = tmp_path / "eval"
    assert main(["eval", str(ckpt), "ckplus", "--root", str(root), "--out", str(ev),
                 "--cache-dir", str(cache), "--detector", "dataset", "--workers", "1",
                 "--option", "mode=sequence"]) == 0
    rep = json.loads((ev / "report.json").read_text())
    # by default only the fold's test subjects (7 peak frames each) are scored
    assert {"frame", "sequence"} <= set(rep) and rep["frame"]["n"] == 7 * len(splits["test"]) < 70
    assert rep["dataset"]["rows"].startswith(f"its {len(splits['test'])} test subjects")
    assert len(rep["frame"]["per_class"]) == 7
    cm = np.asarray(rep["frame"]["confusion"])  # UAR: the mean of the per-class recalls
    assert cm.sum() == rep["frame"]["n"]
    assert rep["frame"]["uar"] == pytest.approx(np.mean(np.diag(cm) / cm.sum(1)))
    assert (ev / "frame_confusion.png").read_bytes()[:8] == PNG
    assert (ev / "sequence_confusion.csv").exists()

    cmp_dir = tmp_path / "cmp"
    assert main(["compare", b, a, "--out", str(cmp_dir), "--no-timing"]) == 0
    res = json.loads((cmp_dir / "compare.json").read_text())
    names = {(r["config"], r["stage"]) for r in res["rows"]}
    assert names == {("conv", "frame"), ("conv", "sequence"), ("tiny", "frame"), ("tiny", "sequence")}
    tiny = next(r for r in res["rows"] if r["config"] == "tiny" and r["stage"] == "frame")
    assert tiny["params"] < 1_229_623  # compact_tiny at 48x48 input has a smaller fc1
    assert {t["metric"] for t in res["paired_tests"]} == {"accuracy", "uar", "macro_f1"}
    for ext in ("md", "csv", "png"):
        assert (cmp_dir / f"compare.{ext}").exists()
    assert "±" in (cmp_dir / "compare.md").read_text()
    man = json.loads((cmp_dir / "manifest.json").read_text())
    assert set(man["configs"]) == {"conv", "tiny"} and man["split_files"][0]["sha256"]
    # the manifest re-runs the comparison (finished runs are reused)
    assert main(["compare", str(cmp_dir / "manifest.json"), "--out", str(cmp_dir),
                 "--no-timing"]) == 0


@pytest.mark.extended  # make test-all: test_finetune's source run and test_learnable guard this faster
def test_learns_held_out_identities(synth_ck30, tmp_path, make_config):
    """Real learning: accuracy on never-seen identities far above chance (1/7).

    A plugin backbone (``example_convnet`` from plugins/fertk-example) trains through the
    same engine path as the built-ins; the epoch is selected on validation subjects.
    """
    root, cache, ps = synth_ck30
    cfg = build_config(make_config(
        root, cache, name="learn", model={"backbone": "example_convnet", "temporal": None},
        protocol={"folds": 3, "only_folds": [0], "val_fraction": 0.1},
        frame={"epochs": 25, "frames": "last:2", "lr": 0.003, "batch_size": 16,
               "label_smoothing": 0.0, "init": "default"},
    ))
    summary = Trainer(cfg, out=tmp_path / "learn", data=ps).run()
    acc = summary["stages"]["frame"]["per_fold"]["accuracy"][0]
    res = json.loads((tmp_path / "learn" / "folds" / "fold01" / "result.json").read_text())
    assert res["frames"]["test"] == 10 * 7 * 2  # 10 held-out identities, last two frames
    assert acc > 2 / 7, f"held-out identity accuracy {acc:.2f} (chance {1 / 7:.2f})"
    assert res["frame"]["val"]["accuracy"] > 2 / 7


def _tensors(path):
    from safetensors.torch import load_file

    return load_file(str(path) + ".safetensors")


def test_kill_and_resume_equals_uninterrupted(synth_ck, tmp_path, make_config):
    root, cache, ps = synth_ck
    raw = make_config(root, cache, frame={"epochs": 3}, sequence={"iterations": 40})
    full = Trainer(build_config(raw), out=tmp_path / "full", data=ps).run()
    cut = build_config(raw, ["run.stop_after_epochs=2"])
    with pytest.raises(TrainingInterrupted):
        Trainer(cut, out=tmp_path / "cut", data=ps).run()
    assert (tmp_path / "cut" / "state" / "fold01_frame.pt").exists()
    assert not (tmp_path / "cut" / "summary.json").exists()
    resumed = Trainer(build_config(raw), out=tmp_path / "cut", data=ps, resume=True).run()
    for stage in ("frame", "sequence"):
        assert resumed["stages"][stage]["per_fold"] == full["stages"][stage]["per_fold"]
    a = _tensors(tmp_path / "full" / "folds" / "fold01" / "sequence")
    b = _tensors(tmp_path / "cut" / "folds" / "fold01" / "sequence")
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    with pytest.raises(FertkError, match="different config"):
        Trainer(build_config(raw, ["frame.lr=0.5"]), out=tmp_path / "cut", data=ps,
                resume=True).run()


def test_test_fold_selection_is_labelled(synth_ck, tmp_path, make_config):
    root, cache, ps = synth_ck
    cfg = build_config(make_config(root, cache, model={"temporal": "average"},
                                   protocol={"selection": "test-fold"}, frame={"epochs": 1}))
    summary = Trainer(cfg, out=tmp_path / "opt", data=ps).run()
    label = "test-fold (optimistic, paper)"
    assert summary["selection"] == label
    assert label in (tmp_path / "opt" / "summary.md").read_text()
    assert json.loads((tmp_path / "opt" / "frame_pooled.json").read_text())["selection"] == label
    meta = json.loads((tmp_path / "opt" / "folds" / "fold01" / "frame.json").read_text())
    assert meta["train"]["selection"] == label
    split = json.loads((tmp_path / "opt" / "splits.json").read_text())["folds"][0]
    assert split["val"] == []  # no validation subjects: the test fold selected the model


def test_leave_one_set_out_with_illumination_aug(synth_ck, tmp_path, make_config):
    """Two data sets on their shared classes, the paper's Aug scheme, tested per set."""
    from fertk.training.arrays import as_array_set, concat_sets, subset

    root, cache, ps = synth_ck
    ds = as_array_set(ps)
    subs = sorted(set(ds.subjects))
    a = subset(ds, np.flatnonzero(np.isin(ds.subjects, subs[:5]) & ds.peak))
    b = subset(ds, np.flatnonzero(np.isin(ds.subjects, subs[5:]) & ds.peak & (ds.labels != 1)))
    b.classes = list(b.classes)  # same class list; 'contempt' rows removed from set b
    both = concat_sets([("setA", a), ("setB", b)])
    assert both.classes == ds.classes and set(both.sets) == {"setA", "setB"}
    cfg = build_config(make_config(root, cache, model={"temporal": None},
                                   protocol={"kind": "leave_one_set_out", "only_folds": None},
                                   frame={"epochs": 1, "augment": {"illumination": "aug",
                                                                   "test_illumination": "he"}}))
    summary = Trainer(cfg, out=tmp_path / "loso", data=both).run()
    assert summary["folds"] == ["set-setA", "set-setB"]
    res = json.loads((tmp_path / "loso" / "folds" / "set-setA" / "result.json").read_text())
    assert res["illumination"] == {"train": "aug", "test": "he"}
    assert res["frames"]["test"] == 35 and res["frame"]["test"]["n"] == 35
    meta = json.loads((tmp_path / "loso" / "folds" / "set-setA" / "frame.json").read_text())
    assert meta["illumination"] == "he"


def test_damaged_resume_state_is_one_line(synth_ck, tmp_path, make_config, capsys):
    """A truncated, foreign (pickle) or empty state file: one line naming the file, exit 1."""
    import pickle

    root, cache, _ = synth_ck
    cfg = _write(tmp_path / "cfg.yaml", make_config(root, cache, frame={"epochs": 3}))
    out = tmp_path / "run"
    assert main(["train", cfg, "--out", str(out), "--set", "run.stop_after_epochs=1"]) == 1
    state = out / "state" / "fold01_frame.pt"
    good = state.read_bytes()
    damages = {"truncated": good[: len(good) // 2], "pickle": pickle.dumps({"model": 1}),
               "empty": b""}
    capsys.readouterr()
    for name, data in damages.items():
        state.write_bytes(data)
        code = main(["train", cfg, "--out", str(out), "--resume"])
        err = capsys.readouterr().err
        assert code == 1, (name, code, err)
        assert not any(w in err for w in ("Traceback", "Aborted", "Warning")), (name, err)
        (line,) = [ln for ln in err.splitlines() if ln.startswith("Error:")]
        assert str(state) in line and "damaged" in line, (name, line)
        assert "delete this file to restart the frame stage of fold01" in line, (name, line)
    state.write_bytes(good)  # the intact state resumes
    assert main(["train", cfg, "--out", str(out), "--resume"]) == 0


def test_eval_says_which_classes_it_dropped(synth_ck, tmp_path, capsys, make_config):
    """A 6-class model evaluated on 7-class CK+: the contempt rows are named on screen."""
    root, cache, _ = synth_ck
    six = "anger,disgust,fear,happy,sadness,surprise"
    cfg = _write(tmp_path / "six.yaml", make_config(
        root, cache, name="six", data={"options": {"mode": "sequence", "classes": six}},
        model={"temporal": "average"}, frame={"epochs": 1}))
    run = tmp_path / "run"
    assert main(["train", cfg, "--out", str(run)]) == 0
    capsys.readouterr()
    ev = tmp_path / "eval"
    assert main(["eval", str(run / "folds" / "fold01" / "frame"), "ckplus", "--root", str(root),
                 "--out", str(ev), "--cache-dir", str(cache), "--detector", "dataset",
                 "--workers", "1", "--option", "mode=sequence"]) == 0
    out = capsys.readouterr().out
    dropped = json.loads((ev / "report.json").read_text())["dropped_rows_by_class"]
    assert list(dropped) == ["contempt"]
    (line,) = [ln for ln in out.splitlines() if ln.startswith("not scored:")]
    assert f"contempt ({dropped['contempt']} frames)" in line
    assert "not among the checkpoint's classes (anger, disgust" in line
