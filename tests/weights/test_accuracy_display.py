"""What a user choosing a model sees: accuracy with its data set and split, measured by fertk,
beside the reported figure (``fertk weights list`` at 80 columns, ``fertk weights info``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fertk.cli import cli
from fertk.weights import ASSETS_DIR, BUNDLED, DEFAULT_WEIGHTS
from fertk.weights.accuracy import accuracy_summary, measured_text, reported_text

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
BENCH = RESULTS / "fer2013_bundled.json"
#: the benchmark that measures a model's own metrics and cost, by its training data set
BENCHES = {"fer2013": BENCH, "ferplus": RESULTS / "ferplus_bundled.json"}


def _bench(name: str, path: Path = BENCH) -> dict:
    return next(r for r in json.loads(path.read_text())["results"] if r["name"] == name)


def _cli(*args: str, width: int = 80):
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.output


def _fertk_trained(dataset="fer2013", split="PrivateTest", acc=0.612, **extra):
    """The ``train`` metadata ``fertk train`` writes (fold_runner), for a standard protocol."""
    return {"stage": "frame", "fold": "standard", "seed": 0, "dataset": dataset,
            "protocol": "standard", "test_split": split, "val_split": "PublicTest",
            "test": {"accuracy": acc, "uar": 0.55, "macro_f1": 0.56}, **extra}


def test_bundled_metrics_are_fertks_measurement():
    """The asset's metrics are the numbers benchmarks/bench_fer2013.py (FER2013 models) or
    bench_ferplus.py (FER+ models) measured and stored."""
    for name, (base, _) in BUNDLED.items():
        meta = json.loads((ASSETS_DIR / f"{base}.json").read_text())
        own = (meta.get("train") or {}).get("dataset")
        if "metrics" in meta:
            assert meta["metrics"] == _bench(name, BENCHES.get(own, BENCH))["metrics"]


def _row(out: str, name: str) -> str:
    return next(ln for ln in out.splitlines() if f" {name} " in ln)


def test_list_at_80_columns_shows_measured_accuracy_with_split(fresh_plugins, cache_dir):
    out = _cli("weights", "list")
    for name in (DEFAULT_WEIGHTS, "minixception-fer2013"):
        private = _bench(name)["metrics"]["PrivateTest"]["accuracy"]
        assert f" {100 * private:.1f} " in _row(out, name), out
    assert "FER2013" in out and "FER2013 PrivateTest" in " ".join(out.split())
    assert max(len(ln) for ln in out.splitlines()) <= 80
    wide = _cli("weights", "list", width=140)  # the reported figure beside fertk's measurement
    assert "66 %" in _row(wide, "minixception-fer2013"), wide
    assert "reported" in wide
    data = json.loads(_cli("weights", "list", "--json"))
    acc = next(d for d in data if d["name"] == "minixception-fer2013")["accuracy"]
    assert acc["measured"]["split"] == "PrivateTest" and acc["measured"]["accuracy"] == private
    assert acc["reported"]["by"] == "authors" and acc["reported"]["accuracy"] == pytest.approx(0.66)


def test_info_shows_both_figures(fresh_plugins, cache_dir):
    out = _cli("weights", "info", "minixception-fer2013", "--no-verify", width=200)
    m = _bench("minixception-fer2013")["metrics"]["PrivateTest"]
    assert f"FER2013 PrivateTest {100 * m['accuracy']:.1f} %" in out
    assert f"UAR {100 * m['uar']:.1f} %" in out and f"n = {m['n']}" in out
    assert "66% on FER2013 test (Arriaga et al. 2017) (as its authors reported it)" in out
    info = json.loads(_cli("weights", "info", "minixception-fer2013", "--json", "--no-verify"))
    assert info["accuracy"]["measured"]["accuracy"] == m["accuracy"]


def test_new_bundled_weights_show_up_without_code_changes(fresh_plugins, cache_dir, tmp_path,
                                                          monkeypatch):
    """Weights packaged by tools/bundle_weights.py (train.test, train.dataset/test_split) and
    measured by bench_fer2013 (metrics): both figures, named by data set and split."""
    import fertk.weights as weights

    assets = tmp_path / "assets"
    shutil.copytree(ASSETS_DIR, assets)
    meta = json.loads((ASSETS_DIR / "minixception_fer2013.json").read_text())
    meta.update(description="compact_tiny + gru trained by fertk on FER2013",
                temporal={"name": "gru", "options": {}},
                backbone={"name": "compact_tiny", "options": {}},
                train=_fertk_trained(acc=0.6105),
                metrics={"PublicTest": {"accuracy": 0.6021, "n": 3589},
                         "PrivateTest": {"accuracy": 0.6134, "uar": 0.57, "n": 3589}})
    (assets / "compact_tiny_fer2013.json").write_text(json.dumps(meta))
    (assets / "compact_tiny_fer2013.safetensors").write_bytes(b"")
    monkeypatch.setattr(weights, "ASSETS_DIR", assets)
    monkeypatch.setitem(weights.BUNDLED, "compact_tiny-fer2013", ("compact_tiny_fer2013", "0" * 64))
    out = _cli("weights", "list")
    assert " 61.3 " in _row(out, "compact_tiny-fer2013"), out  # measured
    assert "61.1 %" in _row(_cli("weights", "list", width=140), "compact_tiny-fer2013")  # fertk train's
    assert "measured by fertk on" in " ".join(out.split()) and "FER2013 PrivateTest" in " ".join(out.split())
    assert "…" not in out and max(len(ln) for ln in out.splitlines()) <= 80


def test_cache_weights_trained_by_fertk_show_their_test_part(tiny_plugins, make_meta):
    from fertk.weights import user_weights_dir
    from tests.weights.test_weight_registry import _save_tiny

    _save_tiny(user_weights_dir() / "mine-synth", make_meta,
               train={"dataset": "synth", "fold": "f3", "protocol": "subject_kfold",
                      "test_subjects": ["S001"], "test": {"accuracy": 0.8}})
    _save_tiny(user_weights_dir() / "mine-fer", make_meta, train=_fertk_trained(acc=0.5))
    tiny_plugins.reload()
    out = _cli("weights", "list", width=100)
    assert " 80.0 " in _row(out, "mine-synth"), out
    assert "synth (fertk synth) fold f3 test" in " ".join(out.split()), out
    assert " 50.0 " in _row(out, "mine-fer")
    assert "FER2013 PrivateTest" in " ".join(out.split())


def test_summary_rules():
    none = accuracy_summary({})
    assert none == {"measured": None, "reported": None}
    assert measured_text(none) == "" and reported_text(none) == ""
    # metrics without a standard split: the last one measured
    s = accuracy_summary({"train": {"dataset": "oulu_casia"}, "metrics": {"a": {"accuracy": 0.5},
                                                                       "b": {"accuracy": 0.7}}})
    assert measured_text(s) == "Oulu-CASIA b 70.0 %" and s["reported"] is None
    # the split the checkpoint names wins over the others
    s = accuracy_summary({"train": _fertk_trained(split="PublicTest", acc=0.4),
                          "metrics": {"PublicTest": {"accuracy": 0.41}, "PrivateTest": {"accuracy": 0.42}}})
    assert measured_text(s) == "FER2013 PublicTest 41.0 %"
    assert s["reported"]["by"] == "fertk train" and reported_text(s) == "40.0 %"
    # an authors' text without a number is shown as written
    s = accuracy_summary({"train": {"reported_accuracy": "state of the art"}})
    assert reported_text(s) == "state of the art" and s["reported"]["accuracy"] is None
