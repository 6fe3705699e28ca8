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
    """Confusion matrix heat map with counts, as PNG (:func:`confusion_figure`)."""
    return _save(confusion_figure(cm, classes, title, normalize), path)


def confusion_figure(cm: np.ndarray, classes: Sequence[str], title: str = "",
                     normalize: bool = True) -> Any:
    """The confusion matrix figure: with ``normalize`` the colours are each true class's share
    of its row (its recall on the diagonal), which the colour bar says; the numbers are
    counts."""
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
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("colour: share of the true class's row (row-normalised); numbers: counts"
                  if normalize else "colour and numbers: counts", fontsize=8)
    if title:  # wrapped to the figure's width: long titles (pooled runs) are not cut off
        import textwrap

        ax.set_title(textwrap.fill(title, width=max(30, int(size * 9))), fontsize=10)
    return fig


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
def _md_cell(value: Any) -> str:
    """A Markdown table cell: one line, its pipes escaped (a row is never broken)."""
    return "" if value is None else " ".join(str(value).split()).replace("|", "\\|")


def table_markdown(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, one line per row whatever its cells hold."""
    head = "| " + " | ".join(_md_cell(c) for c in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
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


#: Markers of the stages in a Pareto plot (the frame model, a temporal head over it).
STAGE_MARKERS = {"frame": ("o", "frame model"), "sequence": ("^", "sequence (temporal head)")}


def pareto_figure(names: Sequence[str], cost: Sequence[float], score: Sequence[float],
                  lo: Sequence[float] | None = None, hi: Sequence[float] | None = None,
                  xlabel: str = "CPU batch-1 latency (ms, log)", ylabel: str = "accuracy (%)",
                  title: str = "", *, stages: Sequence[str] | None = None,
                  cost_range: Sequence[Sequence[float]] | None = None, note: str = "") -> Any:
    """The figure of :func:`plot_pareto` (a matplotlib Figure, not saved).

    ``stages``: each point's stage (``frame``, ``sequence``), drawn with its own marker; then
    ``names`` name configurations and each is labelled once (a config's stages share a
    latency). ``cost_range``: ``[low, high]`` of each point's cost (horizontal bars);
    ``note``: a line under the plot (what the latencies are worth). Labels are placed where
    they overlap no other label and no point (:func:`place_labels`)."""
    plt = _pyplot()

    x, y = np.asarray(cost, float), 100 * np.asarray(score, float)
    fig, ax = plt.subplots(figsize=(6.4, 4.8 if note else 4.4))
    yerr = xerr = None
    if lo is not None and hi is not None:
        yerr = np.vstack([y - 100 * np.asarray(lo, float), 100 * np.asarray(hi, float) - y])
    if cost_range is not None:
        span = np.asarray(cost_range, float)
        xerr = np.vstack([np.clip(x - span[:, 0], 0, None), np.clip(span[:, 1] - x, 0, None)])
    if yerr is not None or xerr is not None:
        ax.errorbar(x, y, yerr=yerr, xerr=xerr, fmt="none", ecolor="gray", capsize=3, lw=0.8,
                    zorder=1)
    kinds = list(stages) if stages is not None else ["frame"] * len(x)
    for stage in dict.fromkeys(kinds):
        idx = [i for i, k in enumerate(kinds) if k == stage]
        marker, label = STAGE_MARKERS.get(stage, ("s", stage))
        ax.scatter(x[idx], y[idx], s=30, marker=marker, zorder=2,
                   label=label if stages is not None else None)
    front = pareto_front(list(x), list(y))
    point = [f"{names[i]}/{kinds[i]}" if stages is not None else names[i] for i in front]
    # markers too, so that a frontier of one model is drawn as well as listed
    ax.plot(x[front], y[front], "-o", color="tab:red", lw=1.2, ms=10, mfc="none", zorder=3,
            label="Pareto frontier: " + ", ".join(point))
    ax.set_xscale("log")
    left, right = float(x.min()) / 1.25, float(x.max()) * 1.25
    if xerr is not None:
        left, right = min(left, float((x - xerr[0]).min()) / 1.1), max(right, float((x + xerr[1]).max()) * 1.1)
    ax.set_xlim(left, right)
    ticks = log_ticks(left, right)
    ax.set_xticks(ticks, labels=[f"{t:g}" for t in ticks])
    ax.set_xticks([], minor=True)  # no crowded minor labels (2x10^0, 3x10^0, ...)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.08 * (high - low))  # room for the labels above the top points
    ax.legend(loc="best", fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    if note:
        import textwrap

        fig.text(0.01, 0.01, textwrap.fill(note, 110), fontsize=6.5, va="bottom", color="dimgray")
        fig.tight_layout(rect=(0, 0.07, 1, 1))
    else:
        fig.tight_layout()
    labels: dict[str, int] = {}
    for i, name in enumerate(names):  # one label per name, at its most accurate point
        if name not in labels or y[i] > y[labels[name]]:
            labels[name] = i
    place_labels(ax, [(n, x[i], y[i]) for n, i in labels.items()], list(zip(x, y, strict=True)))
    return fig


def place_labels(ax: Any, labels: Sequence[tuple[str, float, float]],
                 points: Sequence[tuple[float, float]], fontsize: float = 7) -> list[Any]:
    """Annotate each ``(text, x, y)`` near its point where it overlaps no label placed before,
    no point of ``points``, not the legend, and stays inside the axes: the first free place of a growing ring
    of offsets (a thin line joins a label set further away to its point). Returns the
    annotations."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    marks = [ax.transData.transform((px, py)) for px, py in points]
    r = 7.0  # half the size of a marker, in display units (dpi-scaled below)
    scale = fig.dpi / 72.0
    offsets = [(5, 4), (5, -10), (-5, 4), (-5, -10)]
    offsets += [(dx, dy) for step in range(1, 8) for dy in (12 * step + 4, -12 * step - 10)
                for dx in (5, -5, 25, -25)]
    placed: list[Any] = []
    legend = ax.get_legend()
    boxes: list[Any] = [legend.get_window_extent(renderer)] if legend is not None else []
    for text, px, py in sorted(labels, key=lambda t: -t[2]):
        best = None
        for dx, dy in offsets:
            ann = ax.annotate(text, (px, py), textcoords="offset points", xytext=(dx, dy),
                              fontsize=fontsize, ha="left" if dx > 0 else "right", zorder=4)
            box = ann.get_window_extent(renderer)
            clash = (any(box.overlaps(b) for b in boxes)
                     or any(box.x0 - r * scale < mx < box.x1 + r * scale
                            and box.y0 - r * scale < my < box.y1 + r * scale for mx, my in marks)
                     or not (frame.x0 <= box.x0 and box.x1 <= frame.x1
                             and frame.y0 <= box.y0 and box.y1 <= frame.y1))
            if not clash:
                best = ann
                break
            ann.remove()
        if best is None:  # nowhere free: the first place
            best = ax.annotate(text, (px, py), textcoords="offset points", xytext=offsets[0],
                               fontsize=fontsize, zorder=4)
        box = best.get_window_extent(renderer)
        if abs(best.xyann[1]) > 12:  # set further away: a thin line to its point
            ax.annotate("", (px, py), xytext=best.xyann, textcoords="offset points",
                        arrowprops={"arrowstyle": "-", "color": "gray", "lw": 0.5,
                                    "shrinkA": 0, "shrinkB": 4}, zorder=1)
        boxes.append(box)
        placed.append(best)
    return placed


def plot_pareto(path: str | Path, names: Sequence[str], cost: Sequence[float],
                score: Sequence[float], lo: Sequence[float] | None = None,
                hi: Sequence[float] | None = None, xlabel: str = "CPU batch-1 latency (ms, log)",
                ylabel: str = "accuracy (%)", title: str = "", **options: Any) -> Path:
    """Score against cost (log x, ticks as plain numbers), with interval bars and the Pareto
    frontier drawn through the models its legend lists; ``options``: those of
    :func:`pareto_figure` (stages, cost ranges, a note)."""
    return _save(pareto_figure(names, cost, score, lo, hi, xlabel, ylabel, title, **options), path,
                 layout=False)


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path, suptitle: str = "", dpi: int = 110,
          layout: bool = True) -> Path:
    """Title (``suptitle``), lay out (unless ``layout`` is False: laid out already), write
    (creating the folder) and close a figure."""
    import matplotlib.pyplot as plt

    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    if layout:
        fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=dpi)
    plt.close(fig)
    return p
