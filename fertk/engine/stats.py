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
    """Paired t-test and Wilcoxon signed-rank test of ``b - a`` over matched folds."""
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
    elif diff.size >= 1:
        out["t_pvalue"] = 1.0
        out["wilcoxon_pvalue"] = 1.0
    return out
