"""Statistics for comparing configurations: mean ± std over folds and paired tests.

Paired tests compare two configurations on the *same* folds (same test subjects): the
paired t-test (scipy ``ttest_rel``) and the Wilcoxon signed-rank test (``wilcoxon``, which
needs at least one non-zero difference). With 10 folds these tests have little power;
reports show the per-fold differences alongside the p-values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value), ignoring NaN."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan")
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return float(arr.mean()), std


def format_mean_std(values: Sequence[float], scale: float = 100.0, digits: int = 2) -> str:
    m, s = mean_std(values)
    if math.isnan(m):
        return "n/a"
    return f"{m * scale:.{digits}f} ± {s * scale:.{digits}f}"


def paired_tests(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Paired t-test and Wilcoxon signed-rank test of ``b - a`` over matched folds.

    With fewer than two folds neither test can run: the p-values are NaN (reports say "n/a").
    """
    from scipy import stats

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired tests need the same folds: {x.size} vs {y.size} values")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    diff = y - x
    out: dict[str, Any] = {
        "n": int(diff.size),
        "mean_difference": float(diff.mean()) if diff.size else float("nan"),
        "differences": diff.tolist(),
        "t_statistic": float("nan"),
        "t_pvalue": float("nan"),
        "wilcoxon_statistic": float("nan"),
        "wilcoxon_pvalue": float("nan"),
    }
    if diff.size >= 2 and np.any(diff != 0):
        if diff.std(ddof=1) > 0:
            t = stats.ttest_rel(y, x)
            out["t_statistic"], out["t_pvalue"] = float(t.statistic), float(t.pvalue)
        else:  # every fold moved by the same amount: the t statistic is infinite
            out["t_statistic"] = math.copysign(math.inf, float(diff.mean()))
            out["t_pvalue"] = 0.0
        w = stats.wilcoxon(y, x, zero_method="wilcox")
        out["wilcoxon_statistic"], out["wilcoxon_pvalue"] = float(w.statistic), float(w.pvalue)
    elif diff.size >= 2:  # every fold the same: no difference at all
        out["t_pvalue"] = 1.0
        out["wilcoxon_pvalue"] = 1.0
    # one fold: no test can run; the p-values stay NaN, shown as "n/a"
    return out


# -- fixed splits: bootstrap over test items, McNemar ------------------------------------------
def _metric_rows(labels: np.ndarray, predicted: np.ndarray, idx: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Accuracy, UAR and macro-F1 of each resample ``idx`` (B, N) of one prediction set."""
    b = idx.shape[0]
    codes = (labels[idx] * k + predicted[idx]) + (np.arange(b)[:, None] * k * k)
    cm = np.bincount(codes.ravel(), minlength=b * k * k).reshape(b, k, k).astype(float)
    diag = np.einsum("bii->bi", cm)
    rows, cols = cm.sum(2), cm.sum(1)
    present = rows > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(present, diag / rows, 0.0)
        f1 = np.where(present, 2 * diag / (rows + cols), 0.0)
    n_present = np.maximum(present.sum(1), 1)
    return {"accuracy": diag.sum(1) / idx.shape[1], "uar": recall.sum(1) / n_present,
            "macro_f1": f1.sum(1) / n_present}


def bootstrap(runs: Sequence[tuple[Sequence[int], Sequence[int]]], k: int, resamples: int = 2000,
              seed: int = 0, alpha: float = 0.05, idx: np.ndarray | None = None) -> dict[str, Any]:
    """Percentile bootstrap over test items of metrics averaged over ``runs`` (seeds).

    ``runs`` are ``(labels, predicted)`` of the same test items in the same order (one per
    seed); each resample draws items with replacement and averages the metric over the runs,
    so the interval reflects the test set's sampling, the spread over seeds is reported
    separately. Returns ``{metric: {"mean", "lo", "hi"}, "samples": {metric: (B,) array}}``.
    """
    labels0 = np.asarray(runs[0][0], dtype=np.int64)
    n = labels0.size
    if idx is None:
        idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    per_run, points = [], []
    full = np.arange(n)[None, :]
    for labels, predicted in runs:
        y = np.asarray(labels, dtype=np.int64)
        if y.size != n or not np.array_equal(y, labels0):
            raise ValueError("bootstrap: every run must score the same test items in the same order")
        p = np.asarray(predicted, dtype=np.int64)
        per_run.append(_metric_rows(y, p, idx, k))
        points.append(_metric_rows(y, p, full, k))
    out: dict[str, Any] = {"samples": {}}
    for m in ("accuracy", "uar", "macro_f1"):
        samples = np.mean([r[m] for r in per_run], axis=0)
        point = float(np.mean([r[m][0] for r in points]))
        lo, hi = np.quantile(samples, [alpha / 2, 1 - alpha / 2])
        out[m] = {"mean": point, "lo": float(lo), "hi": float(hi)}
        out["samples"][m] = samples
    return out


def paired_bootstrap(a: dict[str, Any], b: dict[str, Any], metric: str = "accuracy") -> dict[str, float]:
    """Difference ``b - a`` of two :func:`bootstrap` results drawn with the *same* resamples:
    mean difference, its percentile interval and a two-sided p-value: how often the resampled
    difference falls on the other side of zero, doubled, counted as ``(k + 1) / (B + 1)`` so
    that B resamples never claim p = 0 (the smallest value is ``2 / (B + 1)``: with 2,000
    resamples, "below 0.001" is all they can tell)."""
    d = np.asarray(b["samples"][metric]) - np.asarray(a["samples"][metric])
    lo, hi = np.quantile(d, [0.025, 0.975])
    n = len(d)
    p = 2.0 * (min(int((d <= 0).sum()), int((d >= 0).sum())) + 1) / (n + 1)
    return {"mean_difference": float(b[metric]["mean"] - a[metric]["mean"]), "lo": float(lo),
            "hi": float(hi), "pvalue": min(1.0, p)}


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> dict[str, Any]:
    """McNemar's test on paired per-item correctness: ``b01`` items only A got right,
    ``b10`` only B; exact binomial p-value below 25 discordant items, else chi² with
    continuity correction."""
    from scipy import stats

    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"McNemar needs the same items: {a.size} vs {b.size}")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = only_a + only_b
    if n == 0:
        p = 1.0
    elif n < 25:
        p = float(stats.binomtest(only_a, n, 0.5).pvalue)
    else:
        chi2 = (abs(only_a - only_b) - 1) ** 2 / n
        p = float(stats.chi2.sf(chi2, 1))
    return {"only_baseline_correct": only_a, "only_config_correct": only_b, "pvalue": p}
