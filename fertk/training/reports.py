"""Report writers: confusion matrix PNG/CSV, JSON reports, comparison tables and plots.

Everything here writes files; plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fertk.fsutil import write_json  # noqa: F401  (engine callers import it from here)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_confusion_csv(path: str | Path, cm: np.ndarray, classes: Sequence[str]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["true \\ predicted", *classes])
        for name, row in zip(classes, np.asarray(cm).tolist(), strict=False):
            w.writerow([name, *row])
    return p


def plot_confusion(
    path: str | Path, cm: np.ndarray, classes: Sequence[str], title: str = "", normalize: bool = True
) -> Path:
    """Confusion matrix heat map (rows normalised to recall) with counts, as PNG."""
    plt = _pyplot()

    cm = np.asarray(cm, dtype=float)
    k = len(classes)
    rows = cm.sum(axis=1, keepdims=True)
    shown = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0) if normalize else cm
    size = max(4.0, 0.7 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(k), labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            if cm[i, j] > 0:
                color = "white" if shown[i, j] > 0.6 else "black"
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", color=color, fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if title:  # wrapped to the figure's width: long titles (pooled runs) are not cut off
        import textwrap

        ax.set_title(textwrap.fill(title, width=max(30, int(size * 9))), fontsize=10)
    return _save(fig, path)


def per_class_markdown(metrics: dict[str, Any]) -> str:
    lines = ["| class | support | recall | precision | F1 |", "|---|---:|---:|---:|---:|"]
    for row in metrics["per_class"]:
        lines.append(
            f"| {row['class']} | {row['support']} | {100 * row['recall']:.1f} | "
            f"{100 * row['precision']:.1f} | {100 * row['f1']:.1f} |"
        )
    return "\n".join(lines)


def write_metric_report(
    out_dir: str | Path, metrics: dict[str, Any], stem: str = "report", title: str = "",
    extra: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """JSON report, confusion CSV + PNG and a Markdown summary for one set of metrics."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cm = np.asarray(metrics["confusion"])
    classes = metrics["classes"]
    report = dict(extra or {})
    report.update(metrics)
    paths = {
        "json": write_json(out / f"{stem}.json", report),
        "confusion_csv": write_confusion_csv(out / f"{stem}_confusion.csv", cm, classes),
        "confusion_png": plot_confusion(
            out / f"{stem}_confusion.png", cm, classes,
            title=title or f"acc {100 * metrics['accuracy']:.2f}%  UAR {100 * metrics['uar']:.2f}%",
        ),
    }
    md = [f"# {title or stem}", ""]
    for key, val in (extra or {}).items():
        if isinstance(val, (str, int, float)):
            md.append(f"- {key}: {val}")
    md += [
        f"- samples: {metrics['n']}",
        f"- accuracy: {100 * metrics['accuracy']:.2f}%",
        f"- UAR (mean per-class recall): {100 * metrics['uar']:.2f}%",
        f"- macro-F1: {100 * metrics['macro_f1']:.2f}%",
        "",
        per_class_markdown(metrics),
        "",
    ]
    md_path = out / f"{stem}.md"
    md_path.write_text("\n".join(md), encoding="utf-8")
    paths["markdown"] = md_path
    return paths


# -- comparison tables ------------------------------------------------------------------
def table_markdown(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "| " + " | ".join(columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join([head, sep, *body])


def write_table_csv(path: str | Path, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(list(columns))
        for row in rows:
            w.writerow(["" if v is None else v for v in row])
    return p


def plot_comparison(
    path: str | Path, names: Sequence[str], per_fold: dict[str, Sequence[Sequence[float]]],
    title: str = "",
) -> Path:
    """Bar chart of mean ± std per metric and configuration, with per-fold points."""
    plt = _pyplot()

    metrics = list(per_fold)
    n = len(names)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics) + 1, 3.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics, strict=False):
        for i, vals in enumerate(per_fold[metric]):
            arr = 100 * np.asarray([v for v in vals if v is not None and not math.isnan(v)])
            if arr.size == 0:
                continue
            ax.bar(i, arr.mean(), yerr=arr.std(ddof=1) if arr.size > 1 else 0,
                   color=colors[i % len(colors)], alpha=0.7, capsize=4)
            ax.scatter(np.full(arr.size, i) + np.linspace(-0.2, 0.2, arr.size), arr,
                       s=8, color="black", zorder=3)
        ax.set_xticks(range(n), labels=list(names), rotation=30, ha="right", fontsize=8)
        ax.set_title(metric)
        ax.set_ylabel("%")
        ax.set_ylim(0, 100)
    return _save(fig, path, suptitle=title)


def plot_history(path: str | Path, history: Sequence[dict[str, Any]], title: str = "") -> Path:
    """Training curves (loss, train accuracy, validation accuracy) of one stage."""
    plt = _pyplot()

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
    xs = [h["epoch"] for h in history]
    a1.plot(xs, [h.get("loss") for h in history], label="train loss")
    a1.set_xlabel("epoch")
    a1.legend()
    for key in ("train_acc", "val_acc", "test_acc"):
        ys = [h.get(key) for h in history]
        if any(y is not None for y in ys):
            a2.plot(xs, [100 * y if y is not None else np.nan for y in ys], label=key)
    a2.set_xlabel("epoch")
    a2.set_ylabel("%")
    a2.legend()
    return _save(fig, path, suptitle=title, dpi=100)


def pareto_front(cost: Sequence[float], score: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats on both axes (lower cost, higher score),
    sorted by cost."""
    order = sorted(range(len(cost)), key=lambda i: (cost[i], -score[i]))
    front, best = [], -math.inf
    for i in order:
        if score[i] > best:
            front.append(i)
            best = score[i]
    return front


def log_ticks(lo: float, hi: float) -> list[float]:
    """Readable ticks of a log axis from ``lo`` to ``hi``: 1-2-5 steps (decades when those are
    too many), or the two ends themselves when fewer than two steps fall inside."""
    e0, e1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    for steps in ((1, 2, 5), (1,)):
        ticks = [m * 10.0**e for e in range(e0, e1 + 1) for m in steps if lo <= m * 10.0**e <= hi]
        if len(ticks) <= 10:
            break
    if len(ticks) < 2:
        ticks = sorted(set(ticks) | {float(f"{lo * 1.05:.2g}"), float(f"{hi / 1.05:.2g}")})
    return ticks


def pareto_figure(names: Sequence[str], cost: Sequence[float], score: Sequence[float],
                  lo: Sequence[float] | None = None, hi: Sequence[float] | None = None,
                  xlabel: str = "CPU batch-1 latency (ms, log)", ylabel: str = "accuracy (%)",
                  title: str = "") -> Any:
    """The figure of :func:`plot_pareto` (a matplotlib Figure, not saved)."""
    plt = _pyplot()

    x, y = np.asarray(cost, float), 100 * np.asarray(score, float)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if lo is not None and hi is not None:
        err = np.vstack([y - 100 * np.asarray(lo, float), 100 * np.asarray(hi, float) - y])
        ax.errorbar(x, y, yerr=err, fmt="none", ecolor="gray", capsize=3, zorder=1)
    front = pareto_front(list(x), list(y))
    ax.scatter(x, y, s=28, zorder=2)
    # markers too, so that a frontier of one model is drawn as well as listed
    ax.plot(x[front], y[front], "-o", color="tab:red", lw=1.2, ms=10, mfc="none", zorder=3,
            label="Pareto frontier: " + ", ".join(names[i] for i in front))
    for name, xi, yi in zip(names, x, y, strict=True):
        ax.annotate(name, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    left, right = float(x.min()) / 1.25, float(x.max()) * 1.25
    ax.set_xlim(left, right)
    ticks = log_ticks(left, right)
    ax.set_xticks(ticks, labels=[f"{t:g}" for t in ticks])
    ax.set_xticks([], minor=True)  # no crowded minor labels (2x10^0, 3x10^0, ...)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="lower right", fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_pareto(path: str | Path, names: Sequence[str], cost: Sequence[float],
                score: Sequence[float], lo: Sequence[float] | None = None,
                hi: Sequence[float] | None = None, xlabel: str = "CPU batch-1 latency (ms, log)",
                ylabel: str = "accuracy (%)", title: str = "") -> Path:
    """Score against cost (log x, ticks as plain numbers), with interval bars and the Pareto
    frontier drawn through the models its legend lists."""
    return _save(pareto_figure(names, cost, score, lo, hi, xlabel, ylabel, title), path)


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path, suptitle: str = "", dpi: int = 110) -> Path:
    """Title (``suptitle``), lay out, write (creating the folder) and close a figure."""
    import matplotlib.pyplot as plt

    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=dpi)
    plt.close(fig)
    return p
