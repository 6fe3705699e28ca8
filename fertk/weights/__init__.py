"""Built-in pretrained weights and the user weight cache, registered through ``register_weights``.

A weight entry is ``register(name, loader, description=..., **metadata)``: ``loader()``
returns the checkpoint path (see :mod:`fertk.checkpoint`), and the metadata carries
``backbone``, ``temporal``, ``classes``, ``crop``, ``input_spec`` (input size and
normalisation), ``licence``, ``source`` and ``sha256`` of the ``.safetensors`` file;
:func:`fertk.checkpoint.load_checkpoint` refuses a file whose checksum, class list or
backbone contradicts its entry.

Entries come from three places, all through the same hook:

- bundled weights shipped in ``fertk/assets/`` (:data:`BUNDLED`);
- checkpoints in the user cache, :func:`user_weights_dir` (``$FERTK_CACHE_DIR/weights``,
  else ``$XDG_CACHE_HOME/fertk/weights``, else ``~/.cache/fertk/weights``), where
  ``fertk train`` and ``fertk weights import`` put them; each ``NAME.json`` +
  ``NAME.safetensors`` pair is listed as ``NAME``;
- plugins implementing ``register_weights``.

Nothing heavy is imported here: listing reads small JSON files only.
"""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path
from typing import Any

from fertk.fsutil import cache_root as fertk_cache_dir  # the one cache-root rule; old name kept
from fertk.hookspecs import hookimpl

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"

#: Name of the weights used when none are given: what :func:`choose_default` picks from the
#: bundled weights' measured metadata (a test keeps the two in agreement).
DEFAULT_WEIGHTS = "compact-fer2013"
#: The model a new default must beat on FER2013 PrivateTest (the imported mini-Xception).
REFERENCE_WEIGHTS = "minixception-fer2013"
#: Real-time budget of the default model: CPU batch-1 milliseconds per face on 2 cores.
DEFAULT_BUDGET_MS = 10.0
#: Accuracies this close (0.5 points) count as equal in :func:`choose_default`.
TIE = 0.005

#: Bundled weights: registered name → (checkpoint base name in ``fertk/assets``, sha256 of its
#: ``.safetensors``). The checksum is pinned here, not read from the asset's JSON, so a
#: replaced or corrupted asset is refused (``tools/convert_fer_minixception.py`` rebuilds it).
BUNDLED: dict[str, tuple[str, str]] = {
    "compact-fer2013": (
        "compact_fer2013",
        "313b554cb6a75dc19e06ba8db05883c7e34dac316e509263076ede9d6d2d288c",
    ),
    "compact_tiny-fer2013": (
        "compact_tiny_fer2013",
        "5dab78220476e9ccbf1c848edfbfa837f3e95ac21e1b8a50e4fc8c5cdafa5078",
    ),
    "compact-ferplus": (
        "compact_ferplus",
        "de2e8e158ca0cda7f2a9efd3e9261a98f540ea95f35ad67bb2048574c83b5c88",
    ),
    "compact_tiny-ferplus": (
        "compact_tiny_ferplus",
        "1214186cd7e3cbe3716ebec8e49268488b7906c5f71bd7e2ef31b3d73972c2d7",
    ),
    "minixception-fer2013": (
        "minixception_fer2013",
        "30c2b0d1cb1cfd2bfecb499e5babd1dbb307ceefe80acec762377d58874760f9",
    ),
}

#: Metadata keys copied from a checkpoint's JSON into its registry entry.
ENTRY_KEYS = ("backbone", "temporal", "classes", "crop", "detector", "input_spec", "licence",
              "source", "sha256", "metrics", "cost")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def user_weights_dir() -> Path:
    """Where user checkpoints live (``<cache>/weights``); ``fertk train`` writes there."""
    return fertk_cache_dir() / "weights"


def measured(meta: dict[str, Any], dataset: str, split: str = "PrivateTest") -> dict[str, Any]:
    """What fertk measured of a weight on ``dataset``'s ``split``: its ``metrics`` when it was
    trained on that data set (``train.dataset``; ``fer2013`` when unnamed), else its
    ``cross_metrics[dataset]`` (``benchmarks/bench_ferplus.py``); ``{}`` when not measured."""
    from fertk.weights.accuracy import dataset_label

    own = meta.get("dataset") or (meta.get("train") or {}).get("dataset") or "fer2013"
    # ``FER2013 (Goodfellow et al. ...)``, an imported model's description, is ``fer2013``
    part = meta.get("metrics") if dataset_label(own) == dataset_label(dataset) \
        else (meta.get("cross_metrics") or {}).get(dataset)
    return ((part or {}).get(split) or {}) if isinstance(part, dict) else {}


def choose_default(entries: dict[str, dict[str, Any]]) -> str:
    """The default model, from weights' measured ``metrics``, ``cross_metrics`` and ``cost``.

    1. Among the weights that run within :data:`DEFAULT_BUDGET_MS` per face and beat
       :data:`REFERENCE_WEIGHTS` on FER2013 PrivateTest (measured the same way), the most
       accurate there; models within 0.5 points of the best count as equally accurate and the
       cheapest of them wins (no model qualifies: the reference).
    2. Another of those weights takes its place when it is at least as accurate on FER2013
       PrivateTest (within the same 0.5 points) and more accurate on FER+ Test (ten
       annotators' majority labels on the same faces) by more than 0.5 points, both scored
       on the seven classes every model knows (``shared``); the most accurate on FER+ Test
       of those, the cheapest among ties.

    docs/weights.md says why and what the bundled models score.
    """
    def fer(meta: dict[str, Any]) -> float:
        return measured(meta, "fer2013").get("accuracy") or 0.0

    def plus(meta: dict[str, Any]) -> float | None:
        return (measured(meta, "ferplus").get("shared") or {}).get("accuracy")

    def cost(meta: dict[str, Any]) -> float | None:
        return (meta.get("cost") or {}).get("cpu_ms_batch1_2cores")

    def cheapest_best(pool: dict[str, dict[str, Any]], score: Any) -> str:
        best = max(score(m) for m in pool.values())
        return min((cost(m), n) for n, m in pool.items() if score(m) >= best - TIE)[1]

    ref = fer(entries.get(REFERENCE_WEIGHTS) or {})
    fit = {name: m for name, m in entries.items()
           if measured(m, "fer2013").get("accuracy") is not None and fer(m) > ref
           and cost(m) is not None and cost(m) <= DEFAULT_BUDGET_MS}
    if not fit:
        return REFERENCE_WEIGHTS
    base = cheapest_best(fit, fer)
    held = plus(fit[base])
    better = {n: m for n, m in fit.items() if fer(m) >= fer(fit[base]) - TIE and plus(m) is not None
              and (held is None or plus(m) > held + TIE)}
    return cheapest_best(better, plus) if better else base


def bundled_metadata() -> dict[str, dict[str, Any]]:
    """``{name: metadata}`` of the bundled weights, read from their JSON files."""
    return {name: _read_json(ASSETS_DIR / f"{base}.json") or {} for name, (base, _) in BUNDLED.items()}


def valid_weight_name(name: str) -> bool:
    """Names usable as registry entries and cache file stems (no path separators)."""
    return bool(_NAME_RE.match(name)) and not name.endswith((".json", ".safetensors"))


def entry_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """The registry metadata of a checkpoint, from its JSON metadata (with its
    :func:`~fertk.weights.accuracy.accuracy_summary` as ``accuracy`` and its
    :func:`~fertk.weights.card.model_card` as ``card``)."""
    from fertk.weights.accuracy import accuracy_summary
    from fertk.weights.card import model_card

    out = {k: meta.get(k) for k in ENTRY_KEYS if k in meta}
    out["accuracy"] = accuracy_summary(meta)
    out["card"] = model_card(meta)
    if isinstance(out.get("backbone"), dict):
        out["backbone"] = out["backbone"].get("name")
    if isinstance(out.get("temporal"), dict):
        out["temporal"] = out["temporal"].get("name")
    return out


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _path_loader(base: str) -> str:
    return base


def bundled_path(base_name: str) -> str:
    """Checkpoint base path of a bundled asset."""
    return str(ASSETS_DIR / base_name)


def cached_entries(directory: Path | None = None) -> list[tuple[str, Path, dict[str, Any]]]:
    """``(name, base path, metadata)`` of every complete checkpoint in the user cache."""
    root = directory if directory is not None else user_weights_dir()
    if not root.is_dir():
        return []
    out = []
    for meta_file in sorted(root.glob("*.json")):
        base = meta_file.with_suffix("")
        name = base.name
        if not valid_weight_name(name) or not base.with_name(name + ".safetensors").is_file():
            continue
        meta = _read_json(meta_file)
        if meta is None or "classes" not in meta or "backbone" not in meta:
            continue
        out.append((name, base, meta))
    return out


def _describe(meta: dict[str, Any], fallback: str) -> str:
    backbone = meta.get("backbone")
    if isinstance(backbone, dict):
        backbone = backbone.get("name")
    classes = meta.get("classes") or []
    text = meta.get("description") or fallback
    return f"{text} ({backbone}, {len(classes)} classes)"


@hookimpl
def register_weights(register):
    for name, (base_name, sha256) in BUNDLED.items():
        meta = _read_json(ASSETS_DIR / f"{base_name}.json") or {}
        register(
            name,
            partial(bundled_path, base_name),
            description=_describe(meta, "bundled"),
            origin="bundled",
            path=str(ASSETS_DIR / f"{base_name}.safetensors"),
            **{**entry_metadata(meta), "sha256": sha256},
        )
    taken = set(BUNDLED)
    for name, base, meta in cached_entries():
        if name in taken:
            from fertk.plugins import warn

            warn(f"cached weights {base}.json not listed: the name '{name}' is taken by bundled weights")
            continue
        register(
            name,
            partial(_path_loader, str(base)),
            description=_describe(meta, "user cache"),
            origin="cache",
            path=str(base) + ".safetensors",
            **entry_metadata(meta),
        )


__all__ = [
    "ASSETS_DIR",
    "BUNDLED",
    "DEFAULT_BUDGET_MS",
    "DEFAULT_WEIGHTS",
    "REFERENCE_WEIGHTS",
    "bundled_metadata",
    "choose_default",
    "measured",
    "bundled_path",
    "cached_entries",
    "entry_metadata",
    "fertk_cache_dir",
    "user_weights_dir",
    "valid_weight_name",
]
