"""tools/bundle_weights.py's run records: the sequence stage's minutes and a continued run's lineage."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tool():
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import bundle_weights
    finally:
        sys.path.pop(0)
    return bundle_weights


def fake_run(root: Path, name: str, frame: dict | None = None, sequence: dict | None = None) -> Path:
    """A run folder as ``fertk train`` leaves it, reduced to what the records read."""
    run = root / name
    (run / "folds" / "standard").mkdir(parents=True)
    (run / "config.yaml").write_text(f"name: {name}\n")
    (run / "manifest.json").write_text(json.dumps({"command": ["fertk", "train", f"{name}.yaml"]}))
    (run / "folds" / "standard" / "result.json").write_text(json.dumps({"frame": frame, "sequence": sequence}))
    return run


def test_frame_and_sequence_records_count_their_seconds(tmp_path, tool):
    run = fake_run(tmp_path, "a", frame={"best_epoch": 2, "epochs_run": 3, "history": [
        {"train_s": 10.0, "epoch_s": 11.0}, {"train_s": 12.0, "epoch_s": 13.5}, {"train_s": 9.0, "epoch_s": 10.0}]})
    rec = tool.run_record(run, "frame")
    assert (rec["train_seconds"], rec["wall_seconds"]) == (31.0, 34.5)
    assert rec["command"] == "fertk train a.yaml" and (rec["best_epoch"], rec["epochs_run"]) == (2, 3)
    test = {"accuracy": 0.6, "uar": 0.5, "macro_f1": 0.5}
    seq = fake_run(tmp_path, "g", sequence={
        "best_iteration": 200, "iterations": 400, "sequences": {}, "source": "stills", "test": test,
        "baselines": {"last": test}, "inputs_s": 100.0,
        "history": [{"train_s": 4.0}, {"train_s": 6.0}]})
    rec = tool.run_record(seq, "sequence")
    # the head's own steps, and the wall time including the frozen frame model over the tracks
    assert (rec["train_seconds"], rec["wall_seconds"]) == (10.0, 110.0)
    assert rec["test"]["gru"] == test and rec["best_iteration"] == 200


def test_a_continued_run_brings_its_sources(tmp_path, tool):
    hist = [{"train_s": 60.0, "epoch_s": 61.0}]
    first = fake_run(tmp_path, "first", frame={"best_epoch": 1, "epochs_run": 1, "history": hist})
    second = fake_run(tmp_path, "second", frame={"best_epoch": 1, "epochs_run": 1, "history": hist})
    lineage = {"path": str(second / "folds/standard/frame.safetensors"), "sha256": "b" * 64,
               "lineage": {"path": str(first / "folds/standard/frame.safetensors"), "sha256": "a" * 64}}
    sources = tool.source_runs(lineage)
    assert [s["command"] for s in sources] == ["fertk train second.yaml", "fertk train first.yaml"]
    assert [s["sha256"][0] for s in sources] == ["b", "a"] and sources[1]["wall_seconds"] == 61.0
    # a registered weight or a file outside a run folder ends the lineage
    assert tool.source_runs({"path": str(tmp_path / "elsewhere.safetensors"), "sha256": "c" * 64}) == []
    assert tool.source_runs(None) == []
