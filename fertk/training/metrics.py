"""Classification metrics: accuracy, UAR (mean per-class recall), macro-F1, confusion matrix.

All functions take integer label arrays and work with numpy only. Classes absent from both
the targets and the predictions do not count towards UAR or macro-F1 (a fold of CK+ may
hold no *contempt* sequence); ``classes_present`` in :func:`compute_metrics` says which did.

A prediction of ``-1`` means "no prediction" (``fertk eval``: no face was found in that
row): the row counts, as wrong, in accuracy and in its class's support and recall, and
:func:`compute_metrics` reports how many there were (``no_prediction``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """``(K, K)`` int64 counts; rows are true classes, columns predicted classes."""
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size}")
    keep = (t >= 0) & (t < num_classes) & (p >= 0) & (p < num_classes)
    idx = t[keep] * num_classes + p[keep]
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    t = np.asarray(y_true).ravel()
    p = np.asarray(y_pred).ravel()
    return float((t == p).mean()) if t.size else float("nan")


def unpredicted(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """Per true class, the rows without a prediction (``y_pred < 0``)."""
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    t = t[(p < 0) & (t >= 0) & (t < num_classes)]
    return np.bincount(t, minlength=num_classes).astype(np.int64)


def per_class(cm: np.ndarray, missed: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-class support, recall, precision and F1 from a confusion matrix (NaN-free);
    ``missed``: per class, rows without a prediction (in the support, never recalled)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1) + (0 if missed is None else np.asarray(missed, np.float64))
    predicted = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    return {
        "support": support.astype(np.int64),
        "predicted": predicted.astype(np.int64),
        "recall": recall,
        "precision": precision,
        "f1": f1,
    }


def uar(cm: np.ndarray, missed: np.ndarray | None = None) -> float:
    """Unweighted average recall (mean per-class accuracy) over classes with support."""
    pc = per_class(cm, missed)
    present = pc["support"] > 0
    return float(pc["recall"][present].mean()) if present.any() else float("nan")


def macro_f1(cm: np.ndarray, missed: np.ndarray | None = None) -> float:
    """Mean F1 over classes that occur in the targets or the predictions."""
    pc = per_class(cm, missed)
    present = (pc["support"] > 0) | (pc["predicted"] > 0)
    return float(pc["f1"][present].mean()) if present.any() else float("nan")


def compute_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]
) -> dict[str, Any]:
    """Everything a report needs, JSON-ready.

    Keys: ``n``, ``accuracy``, ``uar``, ``macro_f1``, ``confusion`` (list of lists),
    ``classes``, ``per_class`` (list of dicts with class, support, recall, precision, f1).
    """
    classes = list(classes)
    cm = confusion_matrix(y_true, y_pred, len(classes))
    missed = unpredicted(y_true, y_pred, len(classes))
    pc = per_class(cm, missed)
    rows = [
        {
            "class": name,
            "support": int(pc["support"][i]),
            "recall": float(pc["recall"][i]),
            "precision": float(pc["precision"][i]),
            "f1": float(pc["f1"][i]),
        }
        for i, name in enumerate(classes)
    ]
    out = {
        "n": int(cm.sum() + missed.sum()),
        "accuracy": accuracy(y_true, y_pred),
        "uar": uar(cm, missed),
        "macro_f1": macro_f1(cm, missed),
        "classes": classes,
        "confusion": cm.tolist(),
        "per_class": rows,
    }
    if missed.any():
        out["no_prediction"] = int(missed.sum())
    return out


def merge_confusions(reports: Sequence[dict[str, Any]]) -> np.ndarray:
    """Sum the confusion matrices of several fold reports (the pooled 10-fold matrix)."""
    mats = [np.asarray(r["confusion"], dtype=np.int64) for r in reports]
    return np.sum(mats, axis=0) if mats else np.zeros((0, 0), dtype=np.int64)


#: Metric keys shown in tables, in order.
METRICS: tuple[str, ...] = ("accuracy", "uar", "macro_f1")
