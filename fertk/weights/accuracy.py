"""How accurate weights are, from their metadata: what fertk measured and what was reported.

:func:`accuracy_summary` reads only generic metadata fields, so new weights show up without
code changes:

- ``metrics``: ``{split: {"accuracy", "uar", "macro_f1", "n", ...}}`` measured by fertk on the
  weights as shipped (``benchmarks/bench_fer2013.py --write`` for the bundled ones), on the
  data set ``train.dataset``;
- ``train.test``: ``{"accuracy", ...}`` that ``fertk train`` measured on its test part
  (``train.test_split`` of ``train.dataset``, or the test subjects of ``train.fold``);
- ``train.reported_accuracy``: the figure the weights' authors published (text such as
  ``"66% on FER2013 test (Arriaga et al. 2017)"``), for imported weights.

The measured figure is ``metrics`` on the standard test split when there is one, else
``train.test``; the reported one is the authors' text, else (when ``metrics`` re-measured a
``fertk train`` model) what ``fertk train`` reported. Nothing heavy is imported here.
"""

from __future__ import annotations

import re
from typing import Any

#: Display names of registered data sets (others are shown as registered).
DATASET_NAMES = {"fer2013": "FER2013", "ferplus": "FER+", "ckplus": "CK+", "oulu_casia": "Oulu-CASIA",
                 "folder": "folder", "synth": "synth (fertk synth)"}
#: Split names preferred as "the" test split when ``train.test_split`` does not say.
TEST_SPLITS = ("PrivateTest", "test", "Test")


def dataset_label(name: Any) -> str:
    """``FER2013`` for ``fer2013`` or ``"FER2013 (Goodfellow et al. 2013, ...)"``."""
    text = str(name or "").strip()
    if not text:
        return "?"
    return DATASET_NAMES.get(text.lower(), text.split(" (")[0].strip())


def _accuracy(part: Any) -> float | None:
    if isinstance(part, dict) and isinstance(part.get("accuracy"), (int, float)) \
            and not isinstance(part.get("accuracy"), bool):
        return float(part["accuracy"])
    return None


def _test_split(metrics: dict[str, Any], preferred: Any) -> str | None:
    splits = [k for k, v in metrics.items() if _accuracy(v) is not None]
    for name in (preferred, *TEST_SPLITS):
        if name in splits:
            return str(name)
    return splits[-1] if splits else None


def _percent(text: str) -> float | None:
    """``0.66`` from ``"66% on FER2013 test"`` (or ``"66.0 %"``), else None."""
    m = re.match(r"\s*(\d+(?:\.\d+)?)\s*%", str(text or ""))
    return float(m.group(1)) / 100 if m else None


def accuracy_summary(meta: Any) -> dict[str, Any]:
    """``{"measured": {...} | None, "reported": {...} | None}`` of a weight's metadata.

    ``measured``: ``dataset`` (display name), ``split``, ``accuracy`` (0..1), optional ``uar``,
    ``macro_f1``, ``n``, and ``by`` (``fertk benchmark`` for ``metrics``, ``fertk train`` for
    ``train.test``). ``reported``: ``accuracy`` (0..1 or None when the text has no number),
    ``figure`` (as written: ``66 %``), ``text`` and ``by`` (``authors`` or ``fertk train``).
    """
    meta = meta if hasattr(meta, "get") else {}
    train = meta.get("train") if isinstance(meta.get("train"), dict) else {}
    metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    dataset = dataset_label(train.get("dataset"))
    own_split = train.get("test_split") or (f"fold {train['fold']} test" if train.get("fold")
                                            and train.get("protocol") not in (None, "standard")
                                            else "test")
    own = _accuracy(train.get("test"))
    measured = reported = None
    split = _test_split(metrics, train.get("test_split"))
    if split is not None:
        m = metrics[split]
        measured = {"dataset": dataset, "split": split, "accuracy": _accuracy(m),
                    **{k: m[k] for k in ("uar", "macro_f1", "n") if k in m},
                    "by": "fertk benchmark"}
    elif own is not None:
        t = train["test"]
        measured = {"dataset": dataset, "split": own_split, "accuracy": own,
                    **{k: t[k] for k in ("uar", "macro_f1", "n") if k in t}, "by": "fertk train"}
    if train.get("reported_accuracy"):
        text = str(train["reported_accuracy"])
        m = re.match(r"\s*(\d+(?:\.\d+)?)\s*%", text)
        reported = {"accuracy": _percent(text), "figure": f"{m.group(1)} %" if m else text,
                    "text": text, "by": "authors"}
    elif measured is not None and measured["by"] != "fertk train" and own is not None:
        reported = {"accuracy": own, "figure": pct(own),
                    "text": f"{pct(own)} on {dataset} {own_split} (fertk train)", "by": "fertk train"}
    return {"measured": measured, "reported": reported}


def pct(value: float | None) -> str:
    """``59.1 %`` (``?`` when unknown); never shortened."""
    return "?" if value is None else f"{100 * value:.1f} %"


def measured_text(summary: dict[str, Any]) -> str:
    """``FER2013 PrivateTest 59.1 %`` (empty when nothing was measured)."""
    m = summary.get("measured")
    return f"{m['dataset']} {m['split']} {pct(m['accuracy'])}" if m else ""


def reported_text(summary: dict[str, Any]) -> str:
    """``66 %`` as its authors wrote it (their whole text when it has no number; empty when
    none was reported)."""
    r = summary.get("reported")
    return r["figure"] if r else ""


__all__ = ["DATASET_NAMES", "accuracy_summary", "dataset_label", "measured_text", "pct",
           "reported_text"]
