"""``fertk compare`` built entry by entry (issue #23): finished entries are kept in
``OUT/entries/<name>.json`` with their per-image predictions, a re-run trains nothing that is
finished and rebuilds the same table (even with the run folders and the data gone), an
interrupted entry is resumed, ``--no-train`` / ``--entry`` leave the others "not run", and
``--reuse`` takes a finished ``fertk train`` run of the same protocol, refusing any other in
one line. On a small generated FER2013 export, two epochs per run."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from click.testing import CliRunner

from fertk.cli import cli
from tests.data_sets.test_fer2013 import make_export

COMMON = {"preset": "default",
          "data": {"dataset": "fer2013", "crop": "box", "crop_options": {"margin": 0.25},
                   "workers": 1},
          "protocol": {"kind": "standard"},
          "frame": {"epochs": 2, "batch_size": 16, "warmup_epochs": 0,
                    "augment": {"illumination": "none", "test_illumination": "none"}},
          "run": {"progress": False}}
MODELS = {"a": {"backbone": "compact_tiny", "backbone_options": {"input_size": 48},
                "temporal": None},
          "b": {"backbone": "example_convnet", "temporal": None}}


def _config(tmp, root, name, **extra):
    raw = json.loads(json.dumps(COMMON))
    raw["data"].update(root=str(root), cache_dir=str(tmp / "cache"))
    raw.update(name=name, model=MODELS[name], **extra)
    return raw


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """Two entries, both trained: configs a (compact_tiny) and b (example_convnet)."""
    tmp = tmp_path_factory.mktemp("board")
    root = make_export(tmp / "fer", per_class=(12, 4, 6))
    configs = []
    for name in MODELS:
        configs.append(tmp / f"{name}.yaml")
        configs[-1].write_text(yaml.safe_dump(_config(tmp, root, name)))
    out, runs = tmp / "out", tmp / "runs"
    res = _compare(configs, out, runs)
    assert res.exit_code == 0, res.output
    return {"tmp": tmp, "root": root, "configs": configs, "out": out, "runs": runs}


def _compare(configs, out, runs, *extra):
    return CliRunner().invoke(cli, ["compare", *map(str, configs), "--out", str(out),
                                    "--runs", str(runs), "--no-timing", *extra])


def _no_training(monkeypatch):
    import fertk.training.train as train_module

    class Refused:
        def __init__(self, *args, **kwargs):
            raise AssertionError("a finished entry was trained again")

    monkeypatch.setattr(train_module, "Trainer", Refused)


def _spy_trainer(monkeypatch):
    """The ``resume`` argument of every Trainer made from now on, in a list."""
    import fertk.training.train as train_module

    calls = []
    real = train_module.Trainer

    def spy(cfg, out=None, resume=False, **kwargs):
        calls.append(resume)
        return real(cfg, out=out, resume=resume, **kwargs)

    monkeypatch.setattr(train_module, "Trainer", spy)
    return calls


def _copy(board, tmp_path):
    out, runs = tmp_path / "out", tmp_path / "runs"
    shutil.copytree(board["out"], out)
    shutil.copytree(board["runs"], runs)
    return out, runs


def test_finished_entries_rebuild_the_same_table_without_runs_or_data(board, tmp_path,
                                                                     monkeypatch):
    entry = json.loads((board["out"] / "entries" / "a.json").read_text())
    (seed,) = entry["seeds"]
    pred = seed["stages"]["frame"]["predictions"]
    assert len(pred["labels"]) == len(pred["predicted"]) == 12  # the 12 PrivateTest images
    assert sorted(set(pred["labels"])) == [0, 1] and set(pred["predicted"]) <= {0, 1}
    assert seed["train_seconds"] > 0 and seed["epochs_run"] == [2]
    assert seed["run"] == str((board["runs"] / "a").resolve())
    assert entry["cost"]["input"] == [48, 48] and entry["data_hash"] and entry["folds"]
    # the PublicTest accuracy after each epoch, as the run's history recorded it
    history = json.loads((board["runs"] / "a" / "folds" / "standard" / "result.json")
                         .read_text())["frame"]["history"]
    assert seed["val_curve"] == [[h["val_acc"] for h in history]] and len(history) == 2
    doc = json.loads((board["out"] / "compare.json").read_text())
    assert [r["status"] for r in doc["rows"]] == ["finished", "finished"]
    assert doc["rows"][0]["val_curve"] == seed["val_curve"][0]
    md = (board["out"] / "compare.md").read_text()
    curve_row = f"| a | {100 * history[0]['val_acc']:.1f} | {100 * history[1]['val_acc']:.1f} |"
    assert "## Selection accuracy by epoch" in md and curve_row in md
    (acc,) = [t for t in doc["paired_tests"] if t["metric"] == "accuracy"]
    assert 0 <= acc["mcnemar"]["pvalue"] <= 1 and 0 <= acc["bootstrap"]["pvalue"] <= 1

    out, runs = _copy(board, tmp_path)
    _no_training(monkeypatch)
    res = _compare(board["configs"], out, runs)
    assert res.exit_code == 0, res.output
    table = (out / "compare.md").read_bytes()
    assert table == (board["out"] / "compare.md").read_bytes().replace(
        str(board["out"]).encode(), str(out).encode())  # only the split file's path differs
    # the committed part alone: no run folders, no data set, no prepared cache
    shutil.rmtree(runs)
    gone = ["--set", f"data.root={tmp_path / 'no_data'}", "--set",
            f"data.cache_dir={tmp_path / 'no_cache'}"]
    res = _compare(board["configs"], out, runs, *gone)
    assert res.exit_code == 0, res.output
    assert (out / "compare.md").read_bytes() == table
    again = json.loads((out / "compare.json").read_text())
    assert again["rows"] == doc["rows"] and again["paired_tests"] == doc["paired_tests"]
    assert not runs.exists() and not (tmp_path / "no_cache").exists()


def test_not_run_entries_and_an_interrupted_entry_resumed(board, tmp_path, monkeypatch):
    """--no-train / --entry keep the others' rows; an entry stopped mid-run is resumed from
    its saved state (not restarted) and ends as the uninterrupted run; an entry file of
    another config is one line."""
    from fertk.training.stages import load_state

    out, runs = _copy(board, tmp_path)
    finished_b = json.loads((out / "entries" / "b.json").read_text())
    # a finished run folder without its entry file: --no-train makes the entry from it
    (out / "entries" / "b.json").unlink()
    _no_training(monkeypatch)
    assert _compare(board["configs"], out, runs, "--no-train").exit_code == 0
    made = json.loads((out / "entries" / "b.json").read_text())["seeds"][0]
    assert made["stages"] == finished_b["seeds"][0]["stages"] and made["run"] == str((runs / "b").resolve())
    # neither an entry file nor a run: "not run", with --no-train and with --entry of another
    (out / "entries" / "b.json").unlink()
    shutil.rmtree(runs / "b")
    for extra in (["--no-train"], ["--entry", "a"]):
        res = _compare(board["configs"], out, runs, *extra)
        assert res.exit_code == 0, res.output
        rows = json.loads((out / "compare.json").read_text())["rows"]
        assert [(r["config"], r["status"]) for r in rows] == [("a", "finished"), ("b", "not run")]
        assert rows[1]["params"] > 0 and "not run" in (out / "compare.md").read_text()
        assert not (out / "entries" / "b.json").exists()
    bad = _compare(board["configs"], out, runs, "--entry", "bb")
    assert bad.exit_code == 1 and "--entry bb: no entry of that name. Did you mean 'b'?" in bad.output
    monkeypatch.undo()

    cut = _compare(board["configs"], out, runs, "--entry", "b", "--set", "run.stop_after_epochs=1")
    assert cut.exit_code == 1 and "stopped after 1 epoch" in cut.output
    assert not (out / "entries" / "b.json").exists()
    state = load_state(runs / "b" / "state" / "standard_frame.pt")
    assert state["epoch"] == 1
    calls = _spy_trainer(monkeypatch)
    res = _compare(board["configs"], out, runs)
    assert res.exit_code == 0, res.output
    assert calls == [True]  # only b, resumed
    result = json.loads((runs / "b" / "folds" / "standard" / "result.json").read_text())
    assert result["frame"]["history"][0] == state["history"][0]  # epoch 1 was not run again
    resumed = json.loads((out / "entries" / "b.json").read_text())["seeds"][0]
    assert resumed["stages"] == finished_b["seeds"][0]["stages"]  # as if never interrupted

    # an entry file of another config: one line naming what differs, nothing trained
    res = _compare(board["configs"], out, runs, "--set", "frame.epochs=3")
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 1 and len(lines) == 1, res.output
    assert "entries/a.json: a finished entry of another config" in lines[0]
    assert "frame.epochs (entry file 2, config 3)" in lines[0]


def test_reuse_of_a_fertk_train_run(board, tmp_path, monkeypatch):
    """--reuse NAME=RUN: a finished ``fertk train`` run of the standard protocol (another
    name and prepared-data cache) is the entry's run when everything that matters is equal;
    another model or seed is one line naming the run and the differing keys."""
    from fertk.training.config import build_config
    from fertk.training.train import Trainer

    raw = _config(tmp_path, board["root"], "a")  # its own cache folder: tmp_path / "cache"
    raw["name"] = "train_a"
    ext = tmp_path / "ext"
    Trainer(build_config(raw), out=ext).run()
    out, runs = tmp_path / "out", tmp_path / "runs"

    _no_training(monkeypatch)
    res = _compare(board["configs"], out, runs, "--reuse", f"a={ext}", "--no-train")
    assert res.exit_code == 0, res.output
    entry = json.loads((out / "entries" / "a.json").read_text())
    assert entry["seeds"][0]["run"] == str(ext.resolve()) and entry["seeds"][0]["reused"]
    # FER2013's standard split is the split file's split: the same predictions as trained there
    trained_there = json.loads((board["out"] / "entries" / "a.json").read_text())
    assert entry["seeds"][0]["stages"] == trained_there["seeds"][0]["stages"]
    rows = json.loads((out / "compare.json").read_text())["rows"]
    assert [r["status"] for r in rows] == ["finished", "not run"]

    for extra, key in ((["--reuse", f"b={ext}"], "model.backbone (run compact_tiny, entry "
                                                  "example_convnet)"),
                       (["--reuse", f"a={ext}", "--set", "run.seed=5"], "run.seed (run 0, entry 5)")):
        res = _compare(board["configs"], tmp_path / "other", runs, *extra, "--no-train")
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code == 1 and len(lines) == 1, res.output
        assert lines[0].startswith(f"Error: --reuse {extra[1]}: not the same protocol")
        assert key in lines[0]
    res = _compare(board["configs"], out, runs, "--reuse", "a")
    assert res.exit_code == 1 and "--reuse 'a': expected NAME=RUN" in res.output


def test_a_fresh_copy_of_the_same_data_continues_the_table(board, tmp_path):
    """The data identity every run records (``data_hash``) is the prepared content, not the
    preparation cache's key: the same FER2013 files in another folder with other modification
    times (a fresh clone in a later session) continue the table, an entry trained on them has
    the same data hash as those before; other files are refused in one line."""
    import os

    out, runs = _copy(board, tmp_path)
    clone = tmp_path / "clone"
    shutil.copytree(board["root"], clone)
    for path in clone.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    before = json.loads((out / "entries" / "b.json").read_text())
    (out / "entries" / "b.json").unlink()
    shutil.rmtree(runs / "b")  # b is trained again, on the clone
    moved = ["--set", f"data.root={clone}", "--set", f"data.cache_dir={tmp_path / 'cache2'}"]
    res = _compare(board["configs"], out, runs, *moved, "--entry", "b")
    assert res.exit_code == 0, res.output
    after = json.loads((out / "entries" / "b.json").read_text())
    assert after["data_hash"] == before["data_hash"] and after["folds"] == before["folds"]
    rows = json.loads((out / "compare.json").read_text())["rows"]
    assert [r["status"] for r in rows] == ["finished", "finished"]

    (out / "entries" / "b.json").unlink()
    shutil.rmtree(runs / "b")
    other = make_export(tmp_path / "other", per_class=(12, 4, 6), classes=("angry", "sad"))
    res = _compare(board["configs"], out, runs, "--set", f"data.root={other}", "--set",
                   f"data.cache_dir={tmp_path / 'cache3'}", "--entry", "b")
    assert res.exit_code == 1 and "splits.json was made from other data" in res.output
    assert not (out / "entries" / "b.json").exists()


def test_one_writer_per_folder(board, tmp_path):
    """While one process writes a comparison's OUT (or a run folder), a second ``fertk
    compare`` (or trainer) on it stops in one line before writing anything; once the first is
    done (or killed: the kernel's lock dies with it) the folder is free again."""
    from fertk.errors import FertkError
    from fertk.fsutil import folder_lock
    from fertk.training.config import load_config
    from fertk.training.train import Trainer

    out, runs = _copy(board, tmp_path)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with folder_lock(out):
        res = _compare(board["configs"], out, runs, "--no-train")
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code == 1 and len(lines) == 1, res.output
        assert lines[0] == (f"Error: --out {out}: another fertk process is writing to this "
                            "folder; wait for it to finish, or use another --out")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert _compare(board["configs"], out, runs, "--no-train").exit_code == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no lock file left

    run = runs / "a"
    with folder_lock(run), pytest.raises(FertkError, match="another fertk process is writing"):
        Trainer(load_config(run / "config.yaml"), out=run, resume=True).run()


def test_mean_curve_over_runs_of_unequal_length():
    from fertk.training.compare import mean_curve

    # an early-stopped run ends sooner; an epoch without evaluation has no value
    assert mean_curve([[0.2, 0.4, 0.6], [0.4, None]]) == pytest.approx([0.3, 0.4, 0.6])
    assert mean_curve([[None], []]) == [None] and mean_curve([]) == []


def test_an_interrupted_entry_resumes_under_a_moved_out(board, tmp_path, monkeypatch):
    """A compare run's config names the split file by its absolute path (OUT/splits.json):
    with OUT moved (same folds), the interrupted entry still resumes exactly instead of being
    refused as "a different config"; a split file of other folds is still refused in one line."""
    out, runs = _copy(board, tmp_path)
    finished_b = json.loads((out / "entries" / "b.json").read_text())
    (out / "entries" / "b.json").unlink()
    shutil.rmtree(runs / "b")
    cut = _compare(board["configs"], out, runs, "--entry", "b", "--set", "run.stop_after_epochs=1")
    assert cut.exit_code == 1 and "stopped after 1 epoch" in cut.output
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    shutil.rmtree(out)

    other = tmp_path / "other"  # the same split file's path, but other folds in it
    shutil.copytree(moved, other)
    doc = json.loads((other / "splits.json").read_text())
    fold = doc["folds"][0]
    fold["val"], fold["test"] = fold["test"], fold["val"]
    (other / "splits.json").write_text(json.dumps(doc))
    shutil.rmtree(other / "entries")  # only b's run: entry a's would be refused first
    shutil.copytree(runs / "b", tmp_path / "other_runs" / "b")
    refused = _compare(board["configs"], other, tmp_path / "other_runs", "--entry", "b")
    lines = [ln for ln in refused.output.splitlines() if ln.strip()]
    assert refused.exit_code == 1 and len(lines) == 1, refused.output
    assert "was run with a different config" in lines[0]

    calls = _spy_trainer(monkeypatch)
    res = _compare(board["configs"], moved, runs, "--entry", "b")
    assert res.exit_code == 0, res.output
    assert calls == [True] and "the same folds, so the run goes on as recorded" in res.output
    resumed = json.loads((moved / "entries" / "b.json").read_text())["seeds"][0]
    assert resumed["stages"] == finished_b["seeds"][0]["stages"]  # as if never interrupted
    recorded = yaml.safe_load((runs / "b" / "config.yaml").read_text())
    assert recorded["protocol"]["splits"] == str((out / "splits.json").resolve())
