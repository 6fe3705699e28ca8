"""Metrics, statistics, config loading/overrides and report writers of the engine."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fertk.errors import FertkError
from fertk.training import metrics, stats
from fertk.training.config import (
    PRESETS,
    TEST_FOLD_LABEL,
    build_config,
    load_config,
    parse_override,
)


def test_metrics_by_hand():
    t = [0, 0, 0, 1, 1, 2]
    p = [0, 0, 1, 1, 1, 0]
    cm = metrics.confusion_matrix(t, p, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert metrics.accuracy(t, p) == pytest.approx(4 / 6)
    # recalls 2/3, 1, 0 -> UAR 5/9
    assert metrics.uar(cm) == pytest.approx(5 / 9)
    # precisions 2/3, 2/3, 0; F1: 2/3, 0.8, 0
    assert metrics.macro_f1(cm) == pytest.approx((2 / 3 + 0.8 + 0) / 3)
    m = metrics.compute_metrics(t, p, ["a", "b", "c"])
    assert m["per_class"][1] == {"class": "b", "support": 2, "recall": 1.0,
                                 "precision": pytest.approx(2 / 3), "f1": pytest.approx(0.8)}


def test_uar_ignores_absent_classes_and_differs_from_accuracy():
    t = [0] * 9 + [1]
    p = [0] * 10
    m = metrics.compute_metrics(t, p, ["maj", "min", "absent"])
    assert m["accuracy"] == pytest.approx(0.9)
    assert m["uar"] == pytest.approx(0.5)  # class "absent" has no support: not averaged


def test_paired_tests_detect_consistent_improvement():
    a = [0.70, 0.72, 0.68, 0.75, 0.71, 0.69, 0.73, 0.70, 0.74, 0.72]
    b = [x + d for x, d in zip(a, [0.05, 0.04, 0.06, 0.05, 0.03, 0.07, 0.05, 0.04, 0.06, 0.05], strict=True)]
    r = stats.paired_tests(a, b)
    assert r["mean_difference"] == pytest.approx(0.05)
    assert r["t_pvalue"] < 1e-4 and r["wilcoxon_pvalue"] < 0.01
    same = stats.paired_tests(a, a)
    assert same["t_pvalue"] == 1.0 and same["wilcoxon_pvalue"] == 1.0
    assert stats.format_mean_std([0.5, 0.7]) == "60.00 ± 14.14"


def test_presets_follow_the_paper():
    paper = build_config({"preset": "paper"})
    assert (paper.frame.optimizer, paper.frame.lr, paper.frame.momentum, paper.frame.weight_decay,
            paper.frame.init, paper.frame.epochs) == ("sgd", 0.001, 0.9, 0.001, "xavier", 2000)
    assert (paper.sequence.optimizer, paper.sequence.lr, paper.sequence.batch_size,
            paper.sequence.iterations, paper.sequence.seq_len) == ("adam", 0.01, 48, 10000, 9)
    default = build_config({})
    assert default.preset == "default" and default.frame.optimizer == "adamw"
    assert default.frame.augment.illumination == "aug"
    assert set(PRESETS) == {"paper", "default"}


def test_yaml_toml_and_overrides(tmp_path):
    y = tmp_path / "a.yaml"
    y.write_text("preset: paper\nmodel: {backbone: compact_tiny}\nframe: {epochs: 7}\n")
    cfg = load_config(y, ["frame.epochs=3", "model.temporal=null", "frame.augment.flip=false",
                          "protocol.only_folds=[0, 2]"])
    assert cfg.name == "a" and cfg.preset == "paper"
    assert cfg.frame.epochs == 3 and cfg.model.temporal is None and cfg.frame.augment.flip is False
    assert cfg.protocol.only_folds == [0, 2]
    assert cfg.frame.lr == 0.001  # from the preset
    t = tmp_path / "b.toml"
    t.write_text('name = "tomlrun"\n[model]\nbackbone = "dtan"\n[frame]\nepochs = 4\n')
    cfg2 = load_config(t)
    assert (cfg2.name, cfg2.model.backbone, cfg2.frame.epochs) == ("tomlrun", "dtan", 4)
    assert cfg.digest() != cfg2.digest()
    assert parse_override("a.b.c=[1, 2]") == {"a": {"b": {"c": [1, 2]}}}


@pytest.mark.parametrize("value", ["yes", "no", "true", "0", "1.5", "[1, 2]", "cnn", "", "["])
def test_set_and_component_options_parse_values_alike(value):
    """``train --set`` and the component ``KEY=VALUE`` options share one parser: same value
    (``flag=yes`` is ``True`` in both), dashes in keys become underscores in both."""
    from fertk.clitools import parse_options

    parsed = parse_options([f"lr-backbone={value}"], "--detector-option")
    assert parsed == {"lr_backbone": parsed["lr_backbone"]}
    assert parse_override(f"frame.lr-backbone={value}") == {"frame": {"lr_backbone": parsed["lr_backbone"]}}
    if value == "yes":
        assert parsed["lr_backbone"] is True


def test_set_without_equals_is_one_line_error():
    with pytest.raises(FertkError, match=r"--set 'frame.epochs': expected KEY=VALUE, e.g. --set frame.epochs=5"):
        parse_override("frame.epochs")


@pytest.mark.parametrize("data, match", [
    ({"frame": {"epoks": 3}}, "unknown key 'epoks'.*did you mean 'epochs'"),
    ({"protocol": {"selection": "best"}}, "protocol.selection"),
    ({"preset": "fast"}, "unknown preset"),
    ({"frame": {"augment": {"illumination": "gamma"}}}, "illumination"),
])
def test_config_errors_are_one_line(data, match):
    with pytest.raises(FertkError, match=match) as info:
        build_config(data)
    assert "\n" not in str(info.value)


def test_selection_label():
    cfg = build_config({"protocol": {"selection": "test-fold"}})
    assert cfg.selection_label == TEST_FOLD_LABEL == "test-fold (optimistic, paper)"
    # a data set's standard split selects on its own validation part (FER2013: PublicTest)
    assert build_config({"protocol": {"kind": "standard"}}).selection_label == \
        "the data set's validation split (PublicTest)"
    assert build_config({}).selection_label.startswith("validation subjects")


def test_reports_written(tmp_path):
    from fertk.training.reports import plot_comparison, write_metric_report

    m = metrics.compute_metrics([0, 1, 2, 2], [0, 1, 2, 1], ["x", "y", "z"])
    paths = write_metric_report(tmp_path, m, stem="r", extra={"selection": "validation"})
    assert paths["confusion_png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = paths["confusion_csv"].read_text().splitlines()
    assert rows[0].split(",")[1:] == ["x", "y", "z"] and rows[3].split(",")[1:] == ["0", "1", "1"]
    doc = json.loads(paths["json"].read_text())
    assert doc["accuracy"] == 0.75 and doc["selection"] == "validation"
    png = plot_comparison(tmp_path / "c.png", ["a", "b"], {"accuracy": [[0.5, 0.6], [0.7, 0.8]]})
    assert png.stat().st_size > 1000
    assert np.asarray(m["confusion"]).sum() == 4
