"""What a user choosing a model needs to know, from any weights' metadata: the model card.

:func:`model_card` reads only generic metadata fields, so weights added later (bundled, in the
user cache, from plugins) show up in ``fertk weights list``, ``fertk weights info`` and
``tools/weights_table.py`` without code changes, whatever data sets they were measured on:

- accuracy per data set: ``metrics`` (the data set the weights were trained on,
  ``train.dataset``; ``train.test`` when fertk train's own test is all there is, see
  :func:`fertk.weights.accuracy.accuracy_summary`) and ``cross_metrics[<data set>]`` (measured
  on another data set, ``benchmarks/bench_ferplus.py``): ``{split: {"accuracy", "uar",
  "macro_f1", "n", "shared": {...}}}``, each on its test split (``PrivateTest``, ``test`` ...);
  data sets are told apart by their display name (:func:`~fertk.weights.accuracy.dataset_label`);
- the temporal head's accuracy: ``train.sequence_run.test[<head>]`` (``fertk train``'s
  sequence stage, e.g. on tracks made of held-out stills, ``train.sequence_run.source``);
- cost: ``cost.params``, ``cost.cpu_ms_batch1_2cores`` (ms per face, batch 1, 2 CPU cores),
  and ``cost.end_to_end`` ``{"fps", "detector"}``: frames per second of ``fertk run`` with the
  detector named, decoding and detection included (when a benchmark stored it).

A registry entry carries its card (``card``, computed from the checkpoint's whole JSON by
:func:`fertk.weights.entry_metadata`); :func:`card_of` reads it, or makes one from what a
plugin registered. Nothing heavy is imported here.
"""

from __future__ import annotations

from typing import Any

from fertk.weights.accuracy import TEST_SPLITS, accuracy_summary, dataset_label


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok else None


def _split_scores(part: Any) -> tuple[str, dict[str, Any]] | None:
    """``(split, scores)`` of a ``{split: scores}`` mapping: the standard test split, else the
    last one measured."""
    if not isinstance(part, dict):
        return None
    splits = [k for k, v in part.items() if isinstance(v, dict) and _number(v.get("accuracy")) is not None]
    for name in TEST_SPLITS:
        if name in splits:
            return name, part[name]
    return (splits[-1], part[splits[-1]]) if splits else None


def _scores(split: str, m: dict[str, Any], by: str) -> dict[str, Any]:
    out = {"split": split, "accuracy": float(m["accuracy"]),
           **{k: m[k] for k in ("uar", "macro_f1", "n") if k in m}, "by": by}
    shared = m.get("shared")
    if isinstance(shared, dict) and _number(shared.get("accuracy")) is not None:
        out["shared"] = float(shared["accuracy"])
    return out


def accuracies(meta: Any) -> dict[str, dict[str, Any]]:
    """``{data set label: {"split", "accuracy", "uar"?, "macro_f1"?, "n"?, "shared"?, "by",
    "own"}}``: the weights' accuracy on each data set it was measured on, its own first."""
    meta = meta if hasattr(meta, "get") else {}
    out: dict[str, dict[str, Any]] = {}
    own = accuracy_summary(meta)["measured"]
    if own:
        entry = {k: v for k, v in own.items() if k != "dataset"} | {"own": True}
        got = _split_scores(meta.get("metrics"))
        if got is not None and got[0] == own["split"]:
            entry.update({k: v for k, v in _scores(*got, "").items() if k == "shared"})
        out[own["dataset"]] = entry
    cross = meta.get("cross_metrics") if isinstance(meta.get("cross_metrics"), dict) else {}
    for key, part in cross.items():
        got = _split_scores(part)
        if got is not None and dataset_label(key) not in out:
            out[dataset_label(key)] = _scores(*got, "fertk benchmark") | {"own": False}
    return out


def head_accuracy(meta: Any) -> dict[str, Any] | None:
    """``{"head", "accuracy", "uar"?, "source"?}``: what ``fertk train`` measured of the
    weights' temporal head on its test part, or None."""
    meta = meta if hasattr(meta, "get") else {}
    temporal = meta.get("temporal")
    head = temporal.get("name") if isinstance(temporal, dict) else temporal
    train = meta.get("train") if isinstance(meta.get("train"), dict) else {}
    run = train.get("sequence_run") if isinstance(train.get("sequence_run"), dict) else {}
    test = (run.get("test") or {}).get(head) if head and isinstance(run.get("test"), dict) else None
    if not isinstance(test, dict) or _number(test.get("accuracy")) is None:
        return None
    out = {"head": head, "accuracy": float(test["accuracy"])}
    out.update({k: test[k] for k in ("uar", "macro_f1") if k in test})
    if run.get("source"):
        out["source"] = run["source"]
    return out


def model_card(meta: Any) -> dict[str, Any]:
    """The card of one weights' metadata (a checkpoint's JSON or a registry entry):
    ``accuracy`` (:func:`accuracies`), ``head`` (:func:`head_accuracy`), ``params``,
    ``ms_per_face``, ``fps`` and ``fps_detector``, ``input`` ([H, W]) and ``detector``."""
    meta = meta if hasattr(meta, "get") else {}
    cost = meta.get("cost") if isinstance(meta.get("cost"), dict) else {}
    e2e = cost.get("end_to_end") if isinstance(cost.get("end_to_end"), dict) else {}
    size = (meta.get("input_spec") or {}).get("input_size") if isinstance(
        meta.get("input_spec"), dict) else None
    return {"accuracy": accuracies(meta), "head": head_accuracy(meta),
            "params": int(cost["params"]) if _number(cost.get("params")) is not None else None,
            "ms_per_face": _number(cost.get("cpu_ms_batch1_2cores")),
            "fps": _number(e2e.get("fps")),
            "fps_detector": e2e.get("detector") or (meta.get("detector") if e2e else None),
            "input": list(size) if isinstance(size, (list, tuple)) else None,
            "detector": meta.get("detector")}


def card_of(metadata: Any) -> dict[str, Any]:
    """The card of a registry entry: the one it carries, else one made from its metadata."""
    card = metadata.get("card") if hasattr(metadata, "get") else None
    return card if isinstance(card, dict) else model_card(metadata)


def datasets(cards: list[dict[str, Any]]) -> list[str]:
    """The data sets any of ``cards`` was measured on: those most models have first."""
    count: dict[str, int] = {}
    for c in cards:
        for name in c.get("accuracy") or {}:
            count[name] = count.get(name, 0) + 1
    return sorted(count, key=lambda n: (-count[n], n))


def number(value: float | None, fmt: str = "{:.1f}") -> str:
    """A table cell: the value formatted, empty when unknown."""
    return "" if value is None else fmt.format(value)


def percent(value: float | None) -> str:
    """``65.0`` (a fraction as a percentage, one decimal), empty when unknown."""
    return "" if value is None else f"{100 * value:.1f}"


__all__ = ["accuracies", "card_of", "datasets", "head_accuracy", "model_card", "number", "percent"]
