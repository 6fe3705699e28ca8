"""Model resolution: weights + options → :class:`ModelSpec`.

A model is never used untrained: without ``weights`` the backbone must have registered
weights (the default is the bundled :data:`fertk.weights.DEFAULT_WEIGHTS`), and a trainable
temporal head needs a checkpoint that holds it. A checkpoint (or an exported ``.onnx`` with
its ``.json``) carries its crop policy (kept in :attr:`ModelSpec.crop`, options included:
:func:`fertk.faces.settle_crop` layers the user's over it), classes and heads; options that
contradict it raise one :class:`~fertk.errors.FertkError` from the one compatibility check,
:func:`fertk.checkpoint.check_compatible`. Registries are those of ``context`` (default: the
default plugin context).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fertk.checkpoint import check_compatible  # noqa: F401 - the one check (old import path)
from fertk.errors import FertkError


def _registry(kind: str, context: Any = None):
    from fertk.plugins import get_registry

    return get_registry(kind, context)


def recipe_of(kind: str, name: str) -> str | None:
    """The training config registered for backbone or temporal head ``name`` (its ``recipe``
    metadata), None when there is none."""
    try:
        return _registry(kind).get(name).metadata.recipe
    except FertkError:
        return None


def train_hint(what: str, kind: str, name: str) -> str:
    """``what`` plus how to get trained weights: the component's own recipe when it has one."""
    stage = "sequence" if kind == "temporal" else "frame"
    recipe = recipe_of(kind, name)
    if recipe:
        how = (f"train it with `fertk train {recipe} --set data.root=DIR` (the config's header "
               "says what it needs)")
    else:
        field = "temporal" if kind == "temporal" else "backbone"
        how = f"train it with `fertk train` on a config with model.{field}: {name} (examples/configs/)"
    return (f"{what}: {how}, then pass --weights RUN/folds/standard/{stage}; or pass --weights "
            "CHECKPOINT|NAME of a trained model (fertk weights list)")


@dataclass
class ModelSpec:
    """What the pipeline classifies with, resolved from weights and options."""

    backbone: Any
    head: Any | None
    classes: list[str]
    input_spec: dict[str, Any]
    crop: dict[str, Any] | None
    detector: str | None
    illumination: str | None
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)
    checkpoint: Any = None


def weights_for_backbone(name: str, temporal: str | None = None, context: Any = None) -> str | None:
    """A registered weight name holding backbone ``name``: those with the trained head
    ``temporal`` first, then the default weights, then bundled ones, then by name."""
    from fertk.weights import DEFAULT_WEIGHTS

    specs = [s for s in _registry("weights", context) if s.metadata.backbone == name]
    if not specs:
        return None

    def rank(s: Any) -> tuple:
        return (temporal is not None and s.metadata.temporal != temporal,
                s.name != DEFAULT_WEIGHTS, s.metadata.origin != "bundled", s.name)

    return min(specs, key=rank).name


def head_is_trainable(name: str, context: Any = None) -> bool:
    return _registry("temporal", context).get(name).metadata.trainable


def check_head_trained(meta: dict[str, Any], label: str, temporal: Any, context: Any = None) -> None:
    """A trainable temporal head named for a model that holds none has no weights: refused."""
    if isinstance(temporal, str) and not (meta.get("temporal") or {}).get("name") \
            and head_is_trainable(temporal, context):
        raise FertkError(train_hint(f"temporal head '{temporal}' has no trained weights in {label}",
                                    "temporal", temporal))


def default_class_names(k: int) -> list[str]:
    from fertk.types import CANONICAL_CLASSES

    return list(CANONICAL_CLASSES[:k]) if k <= len(CANONICAL_CLASSES) else [f"c{i}" for i in range(k)]


def make_head(temporal: Any, k: int, seq_len: int | None = None, context: Any = None) -> Any:
    """A temporal head that needs no training (``temporal``: a name or a caller's module)."""
    if temporal is None:
        return None
    if not isinstance(temporal, str):
        return temporal.eval()
    if head_is_trainable(temporal, context):
        raise FertkError(train_hint(f"temporal head '{temporal}' has no trained weights",
                                    "temporal", temporal))
    opts: dict[str, Any] = {"num_classes": k, "input_dim": k}
    if seq_len is not None:
        opts["seq_len"] = seq_len
    return _registry("temporal", context).create(temporal, **opts).eval()


def _default_weights(backbone: Any, temporal: Any, context: Any = None) -> str:
    """The registered weights to use when none are given; refuses untrained choices."""
    if backbone is None:
        from fertk.weights import DEFAULT_WEIGHTS

        weights = DEFAULT_WEIGHTS
    else:
        weights = weights_for_backbone(str(backbone), temporal if isinstance(temporal, str) else None,
                                       context)
        if weights is None:
            raise FertkError(train_hint(f"backbone '{backbone}' has no trained weights",
                                        "backbones", str(backbone)))
    if isinstance(temporal, str) and head_is_trainable(temporal, context):
        from fertk.checkpoint import read_metadata

        registry = _registry("weights", context)
        meta = registry.get(weights).metadata if weights in registry else read_metadata(weights)
        if meta.get("temporal") != temporal:
            raise FertkError(train_hint(f"temporal head '{temporal}' has no trained weights "
                                        f"(weights '{weights}' have none)", "temporal", temporal))
    return weights


def resolve_model(
    *,
    weights: Any = None,
    backbone: Any = None,
    temporal: Any = None,
    crop: str | None = None,
    classes: list[str] | None = None,
    seq_len: int | None = None,
    context: Any = None,
) -> ModelSpec:
    """Load or check the model: checkpoint + options, refusing untrained or contradicting ones.

    ``weights``: a checkpoint path, a :class:`~fertk.checkpoint.Checkpoint` or a registered
    weight name (an exported ``.onnx``: :func:`load_onnx_model`). ``crop``: the crop the
    caller names, refused when it is not the checkpoint's (:func:`fertk.faces.settle_crop`
    decides the crop; the spec keeps the checkpoint's, options included)."""
    import torch.nn as nn

    from fertk.checkpoint import Checkpoint, build_from_checkpoint, load_checkpoint
    from fertk.contracts import check_object
    from fertk.faces import model_crop_choice

    for given, kind in ((backbone, "backbones"), (temporal, "temporal")):
        if given is not None and not isinstance(given, str):  # a caller-built module
            if not isinstance(given, nn.Module):
                raise FertkError(f"{kind.rstrip('s')}=: expected a name or a torch module, got "
                                 f"a {type(given).__name__}")
            check_object(given, kind, f"{kind.rstrip('s')}=")
    if isinstance(backbone, nn.Module) and weights is None:
        # a caller-built module (notebook, tests): the caller vouches for its weights
        from fertk.backbones.base import input_spec_of

        k = int(backbone.num_classes)
        names = list(classes) if classes else default_class_names(k)
        if len(names) != k:
            raise FertkError(f"classes: {len(names)} names given for a backbone with {k} outputs")
        head = make_head(temporal, k, seq_len, context)
        return ModelSpec(backbone.eval(), head, names, input_spec_of(backbone),
                         {"name": crop, "options": {}} if crop else None, None, None, "module")
    if weights is None:
        weights = _default_weights(backbone, temporal, context)
    ckpt = weights if isinstance(weights, Checkpoint) else load_checkpoint(weights, context=context)
    meta = ckpt.metadata
    # a head that needs no training (average, last) named for a model that holds a trained
    # head replaces it: nothing is left untrained and the frame model is the checkpoint's
    own_head = (meta.get("temporal") or {}).get("name")
    swap = isinstance(temporal, str) and own_head is not None and temporal != own_head \
        and not head_is_trainable(temporal, context)
    check_compatible(meta, ckpt.label, backbone=backbone, classes=classes,
                     temporal=None if swap else temporal, options=True)
    model_crop_choice(meta.get("crop"), crop, ckpt.label)
    check_head_trained(meta, ckpt.label, temporal, context)
    net, head = build_from_checkpoint(ckpt, context)
    if temporal is not None and (head is None or swap):
        head = make_head(temporal, len(meta["classes"]), seq_len, context)
    return ModelSpec(net, head, list(meta["classes"]), dict(meta["input_spec"]), meta.get("crop"),
                     meta.get("detector"), meta.get("illumination"), ckpt.label, meta, ckpt)


def onnx_metadata(path: Path) -> dict[str, Any]:
    """The ``.json`` that ``fertk export`` writes beside an ``.onnx``."""
    mpath = path.with_suffix(".json")
    if not mpath.is_file():
        raise FertkError(f"{path}: no {mpath.name} beside it (export with `fertk export`, which "
                         "writes the metadata the model needs)")
    try:
        meta = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FertkError(f"{mpath}: unreadable export metadata ({exc})") from None
    if "onnx" not in meta or "classes" not in meta or "input_spec" not in meta:
        raise FertkError(f"{mpath}: not fertk export metadata (no 'onnx'/'classes'/'input_spec')")
    return meta


def load_onnx_model(path: str | os.PathLike, *, backbone: str | None = None,
                    temporal: str | None = None, crop: str | None = None,
                    context: Any = None) -> ModelSpec:
    """A :class:`ModelSpec` for an exported ``.onnx`` (head from the export)."""
    from fertk.faces import model_crop_choice
    from fertk.inference.onnx import OnnxHead

    path = Path(path)
    if not path.is_file():
        raise FertkError(f"{path}: ONNX model not found")
    meta = onnx_metadata(path)
    exported = bool(meta["onnx"].get("head"))
    check_compatible(meta, str(path), backbone=backbone, temporal=temporal, options=True,
                     head_exported=exported)
    model_crop_choice(meta.get("crop"), crop, str(path))
    check_head_trained(meta, str(path), temporal, context)
    if exported:
        head = OnnxHead(path.with_name(meta["onnx"]["head"]),
                        (meta.get("temporal") or {}).get("options") or {}, len(meta["classes"]))
    else:
        head = make_head(temporal, len(meta["classes"]), context=context)
    return ModelSpec(backbone=path, head=head, classes=list(meta["classes"]),
                     input_spec=dict(meta["input_spec"]), crop=meta.get("crop"),
                     detector=meta.get("detector"), illumination=meta.get("illumination"),
                     source=str(path), metadata=meta)
