"""Statistics for fixed splits: bootstrap intervals over test items, paired bootstrap, McNemar."""

from __future__ import annotations

import numpy as np
import pytest

from fertk.training.stats import bootstrap, mcnemar, paired_bootstrap


def _preds(rng, y, acc):
    return np.where(rng.random(y.size) < acc, y, (y + 1 + rng.integers(0, 2, y.size)) % 3)


def test_bootstrap_interval_covers_the_point_and_shrinks_with_more_items():
    rng = np.random.default_rng(0)
    widths = []
    for n in (200, 3200):
        y = rng.integers(0, 3, n)
        p = _preds(rng, y, 0.7)
        b = bootstrap([(y, p)], 3, seed=1)
        assert b["accuracy"]["mean"] == pytest.approx((p == y).mean())
        assert b["accuracy"]["lo"] < b["accuracy"]["mean"] < b["accuracy"]["hi"]
        assert b["uar"]["lo"] <= b["uar"]["mean"] <= b["uar"]["hi"]
        widths.append(b["accuracy"]["hi"] - b["accuracy"]["lo"])
    # the binomial standard error scales as 1/sqrt(n): 16x the items, about 1/4 of the width
    assert widths[1] < widths[0] / 3
    assert widths[0] == pytest.approx(2 * 1.96 * np.sqrt(0.7 * 0.3 / 200), rel=0.2)


def test_bootstrap_averages_seeds_and_refuses_other_items():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 500)
    p1, p2 = _preds(rng, y, 0.6), _preds(rng, y, 0.8)
    b = bootstrap([(y, p1), (y, p2)], 3)
    assert b["accuracy"]["mean"] == pytest.approx(((p1 == y).mean() + (p2 == y).mean()) / 2)
    with pytest.raises(ValueError, match="same test items"):
        bootstrap([(y, p1), (y[::-1], p2)], 3)


def test_paired_bootstrap_and_mcnemar_tell_a_real_difference_from_none():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 1000)
    base, better, same = _preds(rng, y, 0.6), _preds(rng, y, 0.75), _preds(rng, y, 0.6)
    ba, bb, bs = (bootstrap([(y, p)], 3, seed=3) for p in (base, better, same))
    d = paired_bootstrap(ba, bb)
    assert d["mean_difference"] == pytest.approx((better == y).mean() - (base == y).mean())
    assert d["lo"] > 0 and d["pvalue"] < 0.01
    # no resample crossed zero: the p-value is the resolution of B resamples, never 0
    b_count = len(ba["samples"]["accuracy"])
    assert d["pvalue"] == pytest.approx(2 / (b_count + 1))
    assert paired_bootstrap(ba, bs)["pvalue"] > 0.05
    m = mcnemar(base == y, better == y)
    assert m["only_config_correct"] > m["only_baseline_correct"] and m["pvalue"] < 0.01
    assert mcnemar(base == y, base == y) == {"only_baseline_correct": 0, "only_config_correct": 0,
                                             "pvalue": 1.0}
    # exact binomial branch: 1 vs 9 discordant items
    a = np.array([True] * 1 + [False] * 9 + [True] * 5)
    b = np.array([False] * 1 + [True] * 9 + [True] * 5)
    assert mcnemar(a, b)["pvalue"] == pytest.approx(0.021484375)


def test_pareto_front_and_plot(tmp_path):
    from fertk.training.reports import pareto_front, plot_pareto

    cost = [1.0, 2.0, 3.0, 4.0, 0.5]
    score = [0.60, 0.58, 0.70, 0.69, 0.40]
    # 2.0 is beaten by 1.0 (cheaper and better); 4.0 by 3.0
    assert pareto_front(cost, score) == [4, 0, 2]
    png = plot_pareto(tmp_path / "p.png", list("abcde"), cost, score, [s - 0.02 for s in score],
                      [s + 0.02 for s in score])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pareto_ticks_are_plain_numbers_and_the_listed_frontier_is_drawn():
    from fertk.training.reports import log_ticks, pareto_figure

    # within one decade: no 10^0 labels, plain 1-2-5 ticks or the two ends
    fig = pareto_figure(["a/frame", "b/frame", "c/sequence"], [2.1, 3.4, 2.6], [0.61, 0.58, 0.60])
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert len(labels) >= 2 and all(lbl.replace(".", "").isdigit() for lbl in labels), labels
    assert not [t for t in ax.get_xticklabels(minor=True) if t.get_text()]
    (front,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("Pareto frontier")]
    assert front.get_label() == "Pareto frontier: a/frame"  # the cheapest is also the best
    assert list(front.get_xdata()) == [2.1] and front.get_marker() == "o"  # one point, still drawn
    assert log_ticks(0.5, 300) == [0.5, 1, 2, 5, 10, 20, 50, 100, 200]
    assert log_ticks(0.05, 3000) == [0.1, 1, 10, 100, 1000]


def test_paired_tests_need_two_folds():
    from fertk.training.stats import paired_tests

    one = paired_tests([0.6], [0.7])
    assert one["t_pvalue"] != one["t_pvalue"] and one["wilcoxon_pvalue"] != one["wilcoxon_pvalue"]
    assert one["mean_difference"] == pytest.approx(0.1)
