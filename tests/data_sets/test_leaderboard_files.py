"""The committed FER2013 leaderboard (issue #23): its recipes share one protocol and budget,
and ``benchmarks/results/fer2013_leaderboard/`` rebuilds the same table from its entry files
alone, with no data set, no run folder and no training (what a user re-running the one command
with every listed entry finished gets)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fertk.cli import cli
from fertk.training.compare import Provenance, load_configs, provenance_differences

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted(str(p) for p in (REPO / "examples" / "configs" / "leaderboard").glob("*.yaml"))
RESULTS = REPO / "benchmarks" / "results" / "fer2013_leaderboard"


def test_every_entry_shares_the_protocol_and_the_budget():
    cfgs = load_configs(RECIPES, ["data.root=/data/fer2013"])
    names = [c.name for c in cfgs]
    assert len(set(names)) == len(names) >= 10 and all(n.startswith("lb_") for n in names)
    trained = [c for c in cfgs if c.frame.enabled]
    assert len(trained) >= 9
    for c in cfgs:  # one data preparation and split for all
        assert (c.data.dataset, c.data.detector, c.data.crop, c.data.crop_options) == \
            ("fer2013", "none", "box", {"margin": 0.25}), c.name
        assert c.protocol.kind == "standard" and c.run.seed == 0, c.name
    for c in trained:  # one recipe and budget for every trained entry
        assert c.model.backbone_options["input_size"] == 48, c.name
        assert (c.preset, c.frame.batch_size, c.frame.epochs, c.frame.patience) == \
            ("default", 32, 20, 20), c.name
        assert (c.frame.augment.illumination, c.frame.augment.test_illumination) == ("he", "he")
    (imported,) = [c for c in cfgs if not c.frame.enabled]
    assert imported.model.init_from == "minixception-fer2013"


@pytest.mark.skipif(not (RESULTS / "entries").is_dir(), reason="no committed leaderboard")
def test_the_committed_table_rebuilds_from_its_entry_files(tmp_path, monkeypatch):
    out = tmp_path / "board"
    shutil.copytree(RESULTS, out)
    committed = json.loads((RESULTS / "compare.json").read_text())
    finished = {p.stem for p in (RESULTS / "entries").glob("*.json")}
    assert "lb_compact" in finished

    import fertk.training.train as train_module

    def refused(*args, **kwargs):
        raise AssertionError("a finished entry was trained again")

    monkeypatch.setattr(train_module, "Trainer", refused)
    res = CliRunner().invoke(cli, ["compare", *RECIPES, "--out", str(out), "--no-train",
                                   "--no-timing", "--runs", str(tmp_path / "runs"),
                                   "--set", f"data.root={tmp_path / 'no_data'}",
                                   "--set", f"data.cache_dir={tmp_path / 'no_cache'}"])
    assert res.exit_code == 0, res.output
    again = json.loads((out / "compare.json").read_text())
    rows = {r["config"]: r for r in again["rows"]}
    assert {n for n, r in rows.items() if r["status"] == "finished"} == finished
    keys = ("accuracy", "uar", "macro_f1", "ci95", "params", "macs", "input", "train_minutes",
            "latency_ms")
    for row in committed["rows"]:
        if row["config"] in finished:
            assert {k: rows[row["config"]][k] for k in keys} == {k: row[k] for k in keys}
    assert again["paired_tests"] == committed["paired_tests"]
    assert not (tmp_path / "no_cache").exists() and not (tmp_path / "runs").exists()


def test_each_ablation_arm_changes_one_thing():
    """examples/configs/ablation: the baseline is lb_compact_tiny with 5 epochs; every other arm
    is the baseline with one setting changed (the optimiser arm: the paper's optimiser and
    schedule, together)."""
    arms = sorted(str(p) for p in (REPO / "examples" / "configs" / "ablation").glob("*.yaml"))
    cfgs = load_configs(arms, ["data.root=/data/fer2013"])
    assert cfgs[0].name == "abl_tiny" and len(cfgs) >= 6
    (board,) = load_configs([str(REPO / "examples/configs/leaderboard/compact_tiny.yaml")],
                            ["data.root=/data/fer2013"])

    def differs(a, b):  # compare's own rule of which config keys make another result
        return {k for k, _, _ in provenance_differences(Provenance(a, None, None),
                                                        Provenance(b, None, None))}

    assert differs(cfgs[0], board) == {"frame.epochs", "frame.patience"}
    optimiser = {"frame.optimizer", "frame.lr", "frame.weight_decay", "frame.scheduler",
                 "frame.warmup_epochs"}
    changed = {}
    for c in cfgs[1:]:
        keys = differs(cfgs[0], c)
        # illumination: training and test normalisation are one setting
        keys = {"frame.augment.illumination" if k.endswith("test_illumination") else k for k in keys}
        keys = {"frame.augment.rotate+scale" if k in ("frame.augment.rotate", "frame.augment.scale")
                else k for k in keys}
        assert len(keys) == 1 or keys == optimiser, (c.name, keys)
        changed[c.name] = keys
    assert len({frozenset(k) for k in changed.values()}) == len(changed)  # no arm repeated


def test_each_ferplus_ablation_arm_changes_one_thing():
    """examples/configs/ferplus_ablation: the baseline is the bundled tiny FER+ recipe
    (ferplus_tiny.yaml) with 3 epochs; every other arm changes one setting: a label mode, a
    rare-class option or one camera augmentation."""
    arms = sorted(str(p) for p in (REPO / "examples" / "configs" / "ferplus_ablation").glob("*.yaml"))
    cfgs = load_configs(arms, ["data.root=/data/ferplus"])
    assert cfgs[0].name == "fpa_tiny" and len(cfgs) >= 10
    (recipe,) = load_configs([str(REPO / "examples/configs/ferplus_tiny.yaml")], ["data.root=/data/ferplus"])

    def differs(a, b):
        return {k for k, _, _ in provenance_differences(Provenance(a, None, None),
                                                        Provenance(b, None, None))}

    assert differs(cfgs[0], recipe) == {"frame.epochs", "frame.patience"}
    changed = {c.name: differs(cfgs[0], c) for c in cfgs[1:]}
    assert all(len(keys) == 1 for keys in changed.values()), changed
    assert {k for keys in changed.values() for k in keys} == {
        "data.options.labels", "frame.class_balance", "frame.logit_adjust", "frame.augment.camera"}
    assert {c.frame.augment.camera for c in cfgs} - {"none"} == {"blur", "noise", "jpeg", "downup", "camera"}
    assert {c.data.options["labels"] for c in cfgs} == {"majority", "probability", "crossentropy", "multilabel"}
