"""Checkpoint format of fertk: safetensors tensors plus a JSON metadata sidecar.

A checkpoint ``<base>`` is two files written atomically (temporary file + ``os.replace``):

- ``<base>.safetensors``: every tensor of every part, keys ``"<part>.<param>"`` (parts are
  ``backbone`` and ``temporal``; part names contain no dot). Loading never unpickles code.
- ``<base>.json``: the metadata (see :func:`validate_metadata`) plus ``"sha256"`` of the
  ``.safetensors`` file and ``"parts"`` (the part names, so empty parts survive).

``load_checkpoint`` accepts the base path, either file, or the name of registered weights
(:mod:`fertk.weights`), and checks the checksum; ``build_from_checkpoint`` builds the
backbone (eval mode) and the temporal head (or ``None``) through the registries.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fertk.errors import FertkError
from fertk.fsutil import atomic_path, atomic_write

if TYPE_CHECKING:  # pragma: no cover
    import torch

WEIGHTS_SUFFIX = ".safetensors"
META_SUFFIX = ".json"

#: Keys a checkpoint's metadata must carry (others get defaults, see :func:`validate_metadata`).
REQUIRED_KEYS = ("classes", "backbone", "input_spec")

#: Keys filled with a default when missing.
DEFAULTS: dict[str, Any] = {
    "temporal": None,
    "crop": None,
    "detector": None,
    "illumination": None,
    "train": {},
    "licence": "",
    "source": "",
}


@dataclass
class Checkpoint:
    """A loaded checkpoint: tensors per part, validated metadata, and the base path.

    ``path`` is the ``.safetensors`` file; ``name`` the registered weight name it was
    resolved from (``None`` when loaded from a path).
    """

    state_dicts: dict[str, dict[str, torch.Tensor]]
    metadata: dict[str, Any]
    path: Path
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return list(self.metadata["classes"])

    @property
    def num_classes(self) -> int:
        return len(self.metadata["classes"])

    @property
    def input_spec(self) -> dict[str, Any]:
        return dict(self.metadata["input_spec"])

    @property
    def label(self) -> str:
        return self.name or str(self.path)


# -- paths and checksums -------------------------------------------------------------------
def split_base(path: str | os.PathLike[str]) -> Path:
    """``foo``, ``foo.safetensors`` or ``foo.json`` → ``foo`` (the checkpoint's base path)."""
    p = Path(path).expanduser()
    if p.suffix in (WEIGHTS_SUFFIX, META_SUFFIX):
        return p.with_suffix("")
    return p


def weights_path(base: str | os.PathLike[str]) -> Path:
    b = split_base(base)
    return b.with_name(b.name + WEIGHTS_SUFFIX)


def meta_path(base: str | os.PathLike[str]) -> Path:
    b = split_base(base)
    return b.with_name(b.name + META_SUFFIX)


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# -- metadata ------------------------------------------------------------------------------
def _component(value: Any, key: str, where: str, optional: bool) -> dict[str, Any] | None:
    if value is None and optional:
        return None
    if isinstance(value, str) and value:
        return {"name": value, "options": {}}
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        allowed = "null or " if optional else ""
        raise FertkError(f"{where}: metadata '{key}' must be {allowed}{{'name': str, 'options': dict}}, got {value!r}")
    options = value.get("options") or {}
    if not isinstance(options, dict):
        raise FertkError(f"{where}: metadata '{key}.options' must be a dict, got {options!r}")
    return {**value, "name": value["name"], "options": dict(options)}


def _validate_input_spec(spec: Any, where: str) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise FertkError(f"{where}: metadata 'input_spec' must be a dict, got {spec!r}")
    out = dict(spec)
    size = spec.get("input_size")
    if (
        not isinstance(size, (list, tuple))
        or len(size) != 2
        or not all(isinstance(v, int) and v > 0 for v in size)
    ):
        raise FertkError(f"{where}: 'input_spec.input_size' must be [H, W] positive ints, got {size!r}")
    out["input_size"] = [int(size[0]), int(size[1])]
    chans = spec.get("in_chans")
    if not isinstance(chans, int) or chans not in (1, 3):
        raise FertkError(f"{where}: 'input_spec.in_chans' must be 1 or 3, got {chans!r}")
    for key in ("mean", "std"):
        vals = spec.get(key)
        if (
            not isinstance(vals, (list, tuple))
            or len(vals) not in (1, chans)
            or not all(isinstance(v, (int, float)) for v in vals)
        ):
            count = "1 number" if chans == 1 else f"1 or {chans} numbers"
            raise FertkError(f"{where}: 'input_spec.{key}' must be a list of {count}, got {vals!r}")
        out[key] = [float(v) for v in vals]
    if any(v <= 0 for v in out["std"]):
        raise FertkError(f"{where}: 'input_spec.std' must be positive, got {out['std']!r}")
    crop = spec.get("crop_size", 120)
    if not isinstance(crop, int) or crop <= 0:
        raise FertkError(f"{where}: 'input_spec.crop_size' must be a positive int, got {crop!r}")
    out["crop_size"] = crop
    return out


def validate_metadata(metadata: Any, where: str = "checkpoint") -> dict[str, Any]:
    """A checked, normalised copy of checkpoint ``metadata``; :class:`FertkError` if invalid.

    Required: ``classes`` (non-empty list of distinct names), ``backbone`` ({"name",
    "options"} or a name), ``input_spec`` ({"input_size": [H, W], "in_chans": 1|3,
    "mean": [...], "std": [...], "crop_size": S}). Optional with defaults: ``temporal``,
    ``crop`` ({"name", "options"} or null), ``detector`` and ``illumination`` (name or
    null), ``train`` (dict), ``licence``, ``source`` (str), ``fertk_version``.
    """
    from fertk._version import __version__

    if not isinstance(metadata, dict):
        raise FertkError(f"{where}: metadata must be a JSON object, got {type(metadata).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in metadata]
    if missing:
        raise FertkError(f"{where}: metadata lacks required key(s) {', '.join(missing)}")
    out = dict(metadata)
    out.setdefault("fertk_version", __version__)
    for key, default in DEFAULTS.items():
        out.setdefault(key, dict(default) if isinstance(default, dict) else default)
    classes = out["classes"]
    if (
        not isinstance(classes, (list, tuple))
        or not classes
        or not all(isinstance(c, str) and c for c in classes)
    ):
        raise FertkError(f"{where}: metadata 'classes' must be a non-empty list of names, got {classes!r}")
    if len(set(classes)) != len(classes):
        raise FertkError(f"{where}: metadata 'classes' has duplicates: {list(classes)}")
    out["classes"] = list(classes)
    out["backbone"] = _component(out["backbone"], "backbone", where, optional=False)
    out["temporal"] = _component(out["temporal"], "temporal", where, optional=True)
    out["crop"] = _component(out["crop"], "crop", where, optional=True)
    out["input_spec"] = _validate_input_spec(out["input_spec"], where)
    for key in ("detector", "illumination"):
        if out[key] is not None and not (isinstance(out[key], str) and out[key]):
            raise FertkError(f"{where}: metadata '{key}' must be a name or null, got {out[key]!r}")
    if not isinstance(out["train"], dict):
        raise FertkError(f"{where}: metadata 'train' must be a dict, got {out['train']!r}")
    for key in ("licence", "source", "fertk_version"):
        if not isinstance(out[key], str):
            raise FertkError(f"{where}: metadata '{key}' must be a string, got {out[key]!r}")
    return out


# -- save ----------------------------------------------------------------------------------
def save_checkpoint(
    path: str | os.PathLike[str],
    state_dicts: dict[str, dict[str, torch.Tensor]],
    metadata: dict[str, Any],
) -> Path:
    """Write ``<path>.safetensors`` and ``<path>.json`` atomically; return the ``.safetensors`` path.

    ``state_dicts`` maps part names (``"backbone"``, ``"temporal"``) to state dicts; tensors
    are copied to contiguous CPU memory (shared storage is fine). ``metadata`` is validated
    first, so nothing is written when it is invalid. The JSON is written after the tensors:
    a reader that sees the JSON sees complete tensors, and the JSON's ``sha256`` ties the two.
    """
    from safetensors.torch import save_file

    base = split_base(path)
    meta = validate_metadata(metadata, where=str(meta_path(base)))
    if "backbone" not in state_dicts:
        raise FertkError(f"{base}: state_dicts must contain a 'backbone' part")
    if meta["temporal"] is not None and "temporal" not in state_dicts:
        raise FertkError(f"{base}: metadata names temporal head '{meta['temporal']['name']}' "
                         "but state_dicts has no 'temporal' part (use {} for a head without weights)")
    flat: dict[str, torch.Tensor] = {}
    for part, sd in state_dicts.items():
        if not isinstance(part, str) or not part or "." in part:
            raise ValueError(f"checkpoint part names must be non-empty and dot-free, got {part!r}")
        for key, tensor in sd.items():
            flat[f"{part}.{key}"] = tensor.detach().to("cpu").contiguous().clone()
    wpath, mpath = weights_path(base), meta_path(base)
    header = {"format": "fertk-checkpoint", "fertk_version": str(meta["fertk_version"])}
    with atomic_path(wpath) as tmp:
        save_file(flat, str(tmp), metadata=header)
    meta["parts"] = sorted(state_dicts)
    meta["sha256"] = sha256_file(wpath)
    text = json.dumps(meta, indent=2, sort_keys=False) + "\n"
    atomic_write(mpath, text)
    return wpath


# -- load ----------------------------------------------------------------------------------
def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated metadata of the checkpoint at ``path`` (no tensors are read)."""
    mpath = meta_path(path)
    if not mpath.is_file():
        raise FertkError(f"{mpath}: checkpoint metadata file not found")
    try:
        raw = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FertkError(f"{mpath}: not a valid JSON checkpoint metadata file ({exc})") from None
    return validate_metadata(raw, where=str(mpath))


def _resolve(source: str | os.PathLike[str], context: Any = None
             ) -> tuple[Path, str | None, dict[str, Any]]:
    """(base path, registered name or None, registry metadata) for a path or a weight name."""
    text = os.fspath(source)
    base = split_base(text)
    if weights_path(base).is_file() or meta_path(base).is_file():
        return base, None, {}
    if Path(text).expanduser().is_file():
        raise _not_a_checkpoint(Path(text).expanduser())
    looks_like_path = os.sep in text or text.endswith((WEIGHTS_SUFFIX, META_SUFFIX))
    from fertk.plugins import get_registry

    registry = get_registry("weights", context)
    if not looks_like_path and text in registry:
        spec = registry.get(text)
        resolved = registry.create(text)
        return split_base(resolved), spec.name, dict(spec.metadata)
    if looks_like_path:
        raise FertkError(f"{text}: checkpoint not found (expected {weights_path(base).name} "
                         f"and {meta_path(base).name})")
    registry.get(text)  # raises UnknownComponentError with suggestions
    raise AssertionError("unreachable")  # pragma: no cover


#: Suffixes of PyTorch pickle files (``torch.save``); zip archives and raw pickles are also
#: recognised by their first bytes.
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".tar")


def not_a_checkpoint(path: str | os.PathLike[str]) -> FertkError:
    """The one-line error for an existing file that is not a fertk checkpoint: a pickle is
    named as refused, with how to convert it."""
    return _not_a_checkpoint(Path(path))


def _not_a_checkpoint(path: Path) -> FertkError:
    """The error for an existing file that is not ``NAME.safetensors`` + ``NAME.json``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        head = b""
    if path.suffix.lower() in PICKLE_SUFFIXES or head[:2] == b"PK" or head[:1] == b"\x80":
        return FertkError(
            f"{path}: a PyTorch pickle checkpoint (torch.save); fertk refuses pickles because "
            "loading one can run code. Convert it once: state = torch.load(PATH, "
            "weights_only=True), then fertk.checkpoint.save_checkpoint(NAME, {'backbone': state}, "
            "metadata) and pass NAME.safetensors (see 'Converting a PyTorch checkpoint' in "
            "docs/weights.md)"
        )
    return FertkError(f"{path}: not a fertk checkpoint (expected NAME{WEIGHTS_SUFFIX} with "
                      f"NAME{META_SUFFIX} beside it, a registered weight name or an .onnx model)")


def check_compatible(
    ckpt_or_meta: Checkpoint | dict[str, Any],
    where: str | None = None,
    *,
    classes: list[str] | tuple[str, ...] | None = None,
    backbone: Any = None,
    temporal: Any = None,
    sha256: str | None = None,
    options: bool = False,
    head_exported: bool = True,
) -> None:
    """Raise :class:`FertkError` when a checkpoint (or an export's metadata) contradicts what
    the caller expects: the one compatibility check of fertk.

    ``classes`` must be the same list (same names, same order); ``backbone``/``temporal``
    the same component names; ``sha256`` the checksum of the ``.safetensors`` file.
    ``options=True``: the expectations are a run's options (``--backbone``, ``--temporal``,
    ``classes=``): the message names the option to leave out; built modules are not checked;
    a temporal head may be named for a model that holds none, or instead of the model's own
    (it must then need no training: :func:`fertk.inference.model.resolve_model` decides and
    passes ``temporal=None`` here), and ``head_exported=False`` (an ONNX export
    without its head) refuses the model's own head. The crop is settled by
    :func:`fertk.faces.settle_crop`.
    """
    if isinstance(ckpt_or_meta, Checkpoint):
        meta, label = ckpt_or_meta.metadata, where or ckpt_or_meta.label
    else:
        meta, label = ckpt_or_meta, where or "checkpoint"
    have_backbone = (meta.get("backbone") or {}).get("name")
    have_head = (meta.get("temporal") or {}).get("name")
    if sha256 is not None and meta.get("sha256") not in (None, sha256):
        raise FertkError(f"{label}: checksum mismatch: expected sha256 {sha256}, file has {meta['sha256']}")
    same_classes = classes is None or list(classes) == list(meta["classes"])
    if options:
        if isinstance(backbone, str) and backbone != have_backbone:
            raise FertkError(f"--backbone {backbone} contradicts {label}, which holds "
                             f"'{have_backbone}' weights (leave --backbone out to use the checkpoint's)")
        if not same_classes:
            raise FertkError(f"classes {list(classes)} contradict {label}, which predicts "
                             f"{list(meta['classes'])}")
        if isinstance(temporal, str) and have_head is not None and temporal != have_head:
            raise FertkError(f"--temporal {temporal} contradicts {label}, which holds a trained "
                             f"'{have_head}' head (leave --temporal out to use it)")
        if isinstance(temporal, str) and have_head is not None and not head_exported:
            raise FertkError(f"{label}: exported without its '{have_head}' head: export again "
                             "with --with-head")
        return
    if not same_classes:
        ours, theirs = set(meta["classes"]), set(classes)
        detail = (f"order differs ({list(meta['classes'])} vs {list(classes)})" if ours == theirs
                  else f"checkpoint has {sorted(ours)}, expected {sorted(theirs)}")
        raise FertkError(f"{label}: class-set mismatch: {detail}")
    if backbone is not None and have_backbone != backbone:
        raise FertkError(f"{label}: backbone mismatch: checkpoint holds '{have_backbone}' "
                         f"weights, not '{backbone}'")
    if temporal is not None and have_head != temporal:
        raise FertkError(f"{label}: temporal head mismatch: checkpoint holds "
                         f"{repr(have_head) if have_head else 'no temporal head'}, not '{temporal}'")


def load_checkpoint(
    source: str | os.PathLike[str],
    *,
    verify: bool = True,
    device: str = "cpu",
    context: Any = None,
) -> Checkpoint:
    """Load a checkpoint from a path (base, ``.safetensors`` or ``.json``) or a weight name.

    With ``verify`` (default) the ``.safetensors`` file's SHA-256 must match the one in the
    JSON and, for registered weights, the registry entry's ``sha256``, ``classes`` and
    ``backbone``. Tensors are read with safetensors: no code is ever unpickled. Weight
    names are looked up in ``context``'s registry (default: the default plugin context).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    base, name, reg_meta = _resolve(source, context)
    wpath = weights_path(base)
    meta = read_metadata(base)
    if not wpath.is_file():
        raise FertkError(f"{wpath}: checkpoint tensor file not found (metadata is at {meta_path(base)})")
    if verify:
        actual = sha256_file(wpath)
        expected = meta.get("sha256")
        if expected and expected != actual:
            raise FertkError(f"{wpath}: checksum mismatch: metadata says sha256 {expected}, file has "
                             f"{actual} (corrupt or replaced file)")
        if reg_meta.get("sha256") and reg_meta["sha256"] != actual:
            raise FertkError(f"weights '{name}' ({wpath}): checksum mismatch: registered sha256 "
                             f"{reg_meta['sha256']}, file has {actual}")
        if reg_meta.get("classes") is not None:
            check_compatible(meta, classes=reg_meta["classes"], where=f"weights '{name}' ({wpath})")
        reg_backbone = reg_meta.get("backbone")
        if isinstance(reg_backbone, dict):
            reg_backbone = reg_backbone.get("name")
        if reg_backbone:
            check_compatible(meta, backbone=reg_backbone, where=f"weights '{name}' ({wpath})")
    try:
        flat = load_file(str(wpath), device=device)
    except (SafetensorError, OSError, ValueError) as exc:
        raise FertkError(f"{wpath}: not a readable safetensors file ({exc})") from None
    bad = non_finite_tensor(flat)
    if bad is not None:
        raise FertkError(f"{wpath}: tensor '{bad[0]}' holds {bad[1]} values: these weights would "
                         "give meaningless outputs, so they are refused (a diverged training run "
                         "or a damaged file)")
    parts = meta.get("parts") or []
    state_dicts: dict[str, dict[str, Any]] = {p: {} for p in parts}
    for key, tensor in flat.items():
        part, dot, param = key.partition(".")
        if not dot:
            raise FertkError(f"{wpath}: tensor '{key}' has no '<part>.' prefix; not a fertk checkpoint")
        state_dicts.setdefault(part, {})[param] = tensor
    if "backbone" not in state_dicts:
        raise FertkError(f"{wpath}: no backbone tensors in checkpoint")
    return Checkpoint(state_dicts=state_dicts, metadata=meta, path=wpath, name=name)


def non_finite_tensor(tensors: dict[str, Any]) -> tuple[str, str] | None:
    """``(name, "NaN" or "infinite")`` of the first floating-point tensor holding NaN or ±Inf,
    ``None`` when every value is finite."""
    import torch

    for key, tensor in tensors.items():
        if not (tensor.is_floating_point() or tensor.is_complex()) or tensor.numel() == 0:
            continue
        if bool(torch.isnan(tensor).any()):
            return key, "NaN"
        if not bool(torch.isfinite(tensor).all()):
            return key, "infinite"
    return None


# -- build ---------------------------------------------------------------------------------
def state_mismatch(sd: dict[str, Any], own: dict[str, Any]) -> str:
    """What keeps the tensors ``sd`` from loading into a module whose state dict is ``own``,
    naming the tensors (missing, unexpected, shape mismatch); ``""`` when they fit."""
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = [
        f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(sd))
        if tuple(sd[k].shape) != tuple(own[k].shape)
    ]
    bits = []
    if missing:
        bits.append(f"missing {len(missing)} tensor(s) e.g. {missing[:3]}")
    if unexpected:
        bits.append(f"unexpected {len(unexpected)} e.g. {unexpected[:3]}")
    if shapes:
        bits.append(f"shape mismatch {shapes[:3]}")
    return "; ".join(bits)


def _load_part(module: Any, sd: dict[str, Any], part: str, ckpt: Checkpoint) -> None:
    bad = state_mismatch(sd, module.state_dict())
    if bad:
        name = ckpt.metadata[part]["name"]
        raise FertkError(f"{ckpt.label}: {part} mismatch: weights do not fit '{name}' "
                         f"built with its recorded options ({bad})")
    module.load_state_dict(sd, strict=True)


def _check_input_spec(backbone: Any, ckpt: Checkpoint) -> None:
    """The metadata's ``input_spec`` must be what the backbone its tensors fit takes (a
    hand-edited ``in_chans: 3`` over one-channel tensors would fail on the first frame)."""
    from fertk.backbones.base import input_spec_of

    have, said = input_spec_of(backbone), ckpt.metadata["input_spec"]
    for key in ("in_chans", "input_size"):
        if _as_list(have[key]) != _as_list(said[key]):
            raise FertkError(f"{ckpt.label}: metadata 'input_spec.{key}' is {said[key]}, but the "
                             f"'{ckpt.metadata['backbone']['name']}' backbone its tensors fit takes "
                             f"{have[key]} (a damaged or hand-edited checkpoint)")


def _as_list(value: Any) -> list[int]:
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]


def build_from_checkpoint(ckpt: Checkpoint | str | os.PathLike[str], context: Any = None
                          ) -> tuple[Any, Any | None]:
    """Build ``(backbone, temporal head or None)`` from a checkpoint, weights loaded, eval mode.

    The backbone is ``create("backbones", name, num_classes=len(classes), **options)``; the
    head ``create("temporal", name, num_classes=K, input_dim=..., **options)`` where
    ``input_dim`` defaults to K for ``input_kind="probs"`` and the backbone's
    ``feature_dim`` for ``"features"``; both from ``context``'s registries (default: the
    default plugin context).
    """
    from fertk.plugins import get_registry

    if not isinstance(ckpt, Checkpoint):
        ckpt = load_checkpoint(ckpt, context=context)
    meta = ckpt.metadata
    k = ckpt.num_classes
    opts = dict(meta["backbone"]["options"])
    if opts.setdefault("num_classes", k) != k:
        raise FertkError(f"{ckpt.label}: class-set mismatch: backbone options say num_classes="
                         f"{opts['num_classes']} but metadata lists {k} classes")
    backbone = get_registry("backbones", context).create(meta["backbone"]["name"], **opts)
    _load_part(backbone, ckpt.state_dicts["backbone"], "backbone", ckpt)
    _check_input_spec(backbone, ckpt)
    backbone.eval()
    head = None
    if meta.get("temporal") is not None:
        topts = dict(meta["temporal"]["options"])
        topts.setdefault("num_classes", k)
        if "input_dim" not in topts:
            kind = topts.get("input_kind", "probs")
            topts["input_dim"] = k if kind == "probs" else int(backbone.feature_dim)
        head = get_registry("temporal", context).create(meta["temporal"]["name"], **topts)
        _load_part(head, ckpt.state_dicts.get("temporal", {}), "temporal", ckpt)
        head.eval()
    return backbone, head


__all__ = [
    "Checkpoint",
    "build_from_checkpoint",
    "check_compatible",
    "load_checkpoint",
    "non_finite_tensor",
    "not_a_checkpoint",
    "read_metadata",
    "save_checkpoint",
    "sha256_file",
    "state_mismatch",
    "validate_metadata",
]
