"""Inference engines (PyTorch, onnxruntime) and ONNX export of checkpoints with a parity check.

``export_onnx(checkpoint, out)`` writes ``<out>.onnx`` (the backbone: input ``input``
(N, C, H, W) float, outputs ``logits`` and, when the backbone has ``forward_features``,
``features``) and, with ``with_head``, ``<out>.head.onnx`` (the temporal head: input
``window`` (B, T, D), output ``logits``), plus ``<out>.json``: the checkpoint's metadata with
an ``onnx`` section (file names, opset, parity). Every export runs the same inputs through
PyTorch and onnxruntime and refuses a model whose probabilities differ by more than ``atol``.

:class:`OnnxEngine` is the classification engine of ``fertk run --engine onnxruntime``;
preprocessing stays :class:`fertk.preprocess.FrameTransform`, so there is one copy of it.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fertk.errors import FertkError, MissingDependencyError

DEFAULT_OPSET = 17


@dataclass
class ExportResult:
    """Files written and the parity measured (max abs difference of probabilities)."""

    model: Path
    head: Path | None
    metadata: Path
    backbone_diff: float
    head_diff: float | None


def _ort():
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependencyError("engine onnxruntime", "onnxruntime") from None
    return ort


def _providers(device: Any = "cpu") -> list[str]:
    """onnxruntime execution providers for a torch device (CUDA needs onnxruntime-gpu)."""
    if getattr(device, "type", str(device).split(":")[0]) != "cuda":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in _ort().get_available_providers():
        raise FertkError("--engine onnxruntime --device cuda: this onnxruntime has no CUDA provider "
                         "(install onnxruntime-gpu, or use --engine torch)")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def _session(path: Path, threads: int | None = None, device: Any = "cpu"):
    ort = _ort()
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = int(threads)
        # idle threads sleep instead of spinning: detection and decoding share the cores
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), so, providers=_providers(device))
    except Exception as exc:  # onnxruntime raises its own exception types
        raise FertkError(f"{path}: onnxruntime cannot load the model ({str(exc).splitlines()[0]})") from None


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _backbone_wrapper(net: Any):
    import torch.nn as nn

    has_features = callable(getattr(net, "forward_features", None)) and callable(
        getattr(net, "forward_head", None))

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            if has_features:
                f = self.net.forward_features(x)
                return self.net.forward_head(f), f
            return self.net(x)

    return Backbone().eval(), has_features


def export_onnx(
    checkpoint: Any,
    out: str | os.PathLike | None = None,
    *,
    with_head: bool = False,
    opset: int = DEFAULT_OPSET,
    atol: float = 1e-4,
    samples: int = 4,
) -> ExportResult:
    """Export a checkpoint (path, weight name or :class:`~fertk.checkpoint.Checkpoint`)."""
    import torch

    from fertk.checkpoint import Checkpoint, build_from_checkpoint, load_checkpoint

    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    net, head = build_from_checkpoint(ckpt)
    if with_head and head is None:
        raise FertkError(f"{ckpt.label}: --with-head asked, but the checkpoint has no temporal head")
    meta = dict(ckpt.metadata)
    base = Path(out) if out is not None else Path(ckpt.path).with_suffix("")
    if base.suffix == ".onnx":
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    model_path = base.with_name(base.name + ".onnx")
    spec = meta["input_spec"]
    h, w = spec["input_size"]
    c = spec["in_chans"]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(samples, c, h, w, generator=gen)
    wrapper, has_features = _backbone_wrapper(net)
    outputs = ["logits", "features"] if has_features else ["logits"]
    axes = {"input": {0: "batch"}, **{o: {0: "batch"} for o in outputs}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter; parity is checked below
        torch.onnx.export(wrapper, (x,), str(model_path), input_names=["input"],
                          output_names=outputs, dynamic_axes=axes, opset_version=opset,
                          dynamo=False)
        ref = wrapper(x)
        ref_logits = (ref[0] if has_features else ref).numpy()
    sess = _session(model_path)
    got = sess.run(None, {"input": x.numpy()})[0]
    bdiff = float(np.abs(_softmax(got) - _softmax(ref_logits)).max())
    if not np.isfinite(bdiff) or bdiff > atol:
        raise FertkError(f"{model_path}: parity check failed: onnxruntime and PyTorch "
                         f"probabilities differ by {bdiff:.2e} (> {atol:g})")
    head_path, hdiff = None, None
    if with_head:
        head_path = base.with_name(base.name + ".head.onnx")
        t = int(getattr(head, "seq_len", None) or 9)
        d = int(head.input_dim)
        win = torch.softmax(torch.randn(samples, t, d, generator=gen), -1) \
            if head.input_kind == "probs" else torch.randn(samples, t, d, generator=gen)
        taxes = {"window": {0: "batch"}, "logits": {0: "batch"}}
        if getattr(head, "seq_len", None) is None:
            taxes["window"][1] = "time"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(head.eval(), (win,), str(head_path), input_names=["window"],
                              output_names=["logits"], dynamic_axes=taxes, opset_version=opset,
                              dynamo=False)
            href = head(win).numpy()
        hgot = _session(head_path).run(None, {"window": win.numpy()})[0]
        hdiff = float(np.abs(_softmax(hgot) - _softmax(href)).max())
        if not np.isfinite(hdiff) or hdiff > atol:
            raise FertkError(f"{head_path}: parity check failed: head probabilities differ by "
                             f"{hdiff:.2e} (> {atol:g})")
    meta["onnx"] = {
        "model": model_path.name,
        "head": head_path.name if head_path else None,
        "outputs": outputs,
        "opset": opset,
        "parity_max_abs_diff": {"backbone": bdiff, "head": hdiff},
        "checkpoint": str(ckpt.path),
    }
    meta_path = base.with_name(base.name + ".json")
    meta_path.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    return ExportResult(model_path, head_path, meta_path, bdiff, hdiff)


def _onnx_meta(path: Path) -> dict[str, Any]:
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
                    temporal: str | None = None, crop: str | None = None):
    """A :class:`~fertk.pipeline.ModelSpec` for an exported ``.onnx`` (head from the export)."""
    from fertk.pipeline import ModelSpec, _module_head

    path = Path(path)
    if not path.is_file():
        raise FertkError(f"{path}: ONNX model not found")
    meta = _onnx_meta(path)
    bname = (meta.get("backbone") or {}).get("name")
    if backbone is not None and backbone != bname:
        raise FertkError(f"--backbone {backbone} contradicts {path}, exported from '{bname}'")
    ccrop = meta.get("crop")
    if crop is not None and ccrop and crop != ccrop.get("name"):
        raise FertkError(f"--crop {crop} contradicts {path}, trained with crop '{ccrop['name']}'")
    chead = (meta.get("temporal") or {}).get("name")
    head: Any = None
    if meta["onnx"].get("head"):
        if temporal is not None and temporal != chead:
            raise FertkError(f"--temporal {temporal} contradicts {path}, exported with head '{chead}'")
        head = OnnxHead(path.with_name(meta["onnx"]["head"]),
                        (meta.get("temporal") or {}).get("options") or {}, len(meta["classes"]))
    elif temporal is not None:
        if chead is not None and temporal == chead:
            raise FertkError(f"{path}: exported without its '{chead}' head: export again with "
                             "--with-head")
        head = _module_head(temporal, len(meta["classes"]), None, None)
    spec = ModelSpec(backbone=path, head=head, classes=list(meta["classes"]),
                     input_spec=dict(meta["input_spec"]), crop=ccrop,
                     detector=meta.get("detector"), illumination=meta.get("illumination"),
                     source=str(path), metadata=meta)
    return spec


class OnnxHead:
    """A temporal head exported to ONNX, callable like the torch one on numpy windows."""

    def __init__(self, path: Path, options: dict[str, Any], num_classes: int):
        self.path = Path(path)
        self.session = _session(self.path)
        self.input_kind = options.get("input_kind", "probs")
        self.seq_len = options.get("seq_len", 9)
        self.num_classes = num_classes

    def eval(self) -> OnnxHead:
        return self


class OnnxEngine:
    """Crops → probabilities with onnxruntime; the temporal head in onnxruntime or torch."""

    name = "onnxruntime"

    def __init__(self, model_path: Path, model: Any, threads: int | None = None,
                 device: Any = "cpu"):
        from fertk.preprocess import FrameTransform

        self.model = model
        self.session = _session(Path(model_path), threads, device)
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.transform = FrameTransform(model.input_spec)
        head = model.head
        self.features = head is not None and getattr(head, "input_kind", "probs") == "features"
        if self.features and "features" not in self.outputs:
            raise FertkError(f"{model_path}: the temporal head needs features, which the export lacks")

    @classmethod
    def for_model(cls, model: Any, threads: int | None = None, device: Any = "cpu") -> OnnxEngine:
        """Engine for a ModelSpec: an exported path, or a checkpoint exported on the fly."""
        if isinstance(model.backbone, (str, os.PathLike)):
            return cls(Path(model.backbone), model, threads, device)
        ckpt = model.checkpoint
        if ckpt is None:
            raise FertkError("--engine onnxruntime needs --weights (a checkpoint or an exported .onnx)")
        from fertk.weights import fertk_cache_dir

        sha = ckpt.metadata.get("sha256") or "nosha"
        base = fertk_cache_dir() / "onnx" / f"{Path(ckpt.path).stem}-{sha[:16]}"
        onnx_path = base.with_name(base.name + ".onnx")
        if not onnx_path.is_file():  # export beside it, then rename: concurrent runs are safe
            tmp = base.with_name(f"{base.name}.tmp{os.getpid()}")
            try:
                res = export_onnx(ckpt, tmp)
                os.replace(res.model, onnx_path)
            finally:
                for leftover in (tmp.with_name(tmp.name + ".onnx"), tmp.with_name(tmp.name + ".json")):
                    leftover.unlink(missing_ok=True)
        return cls(onnx_path, model, threads, device)

    def classify(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = self.transform(crops).numpy()
        res = self.session.run(None, {"input": x})
        logits = res[0]
        feats = res[self.outputs.index("features")] if self.features else None
        return _softmax(logits.astype(np.float32)), feats

    def head(self, windows: np.ndarray) -> np.ndarray:
        head = self.model.head
        x = np.ascontiguousarray(windows, dtype=np.float32)
        if isinstance(head, OnnxHead):
            if head.seq_len and x.shape[1] != head.seq_len:
                from fertk.temporal import resample_uniform

                x = np.stack([resample_uniform(w, head.seq_len) for w in x]).astype(np.float32)
            return _softmax(head.session.run(None, {"window": x})[0])
        import torch

        with torch.inference_mode():
            return torch.softmax(head(torch.from_numpy(x)).float(), -1).numpy()


class TorchEngine:
    """Crops → probabilities (and features) with the PyTorch backbone; head over windows."""

    name = "torch"

    def __init__(self, model: Any, threads: int | None = None, variant: str = "eager",
                 device: Any = "cpu"):
        import torch

        from fertk.preprocess import FrameTransform

        if threads:
            torch.set_num_threads(int(threads))
        self.torch = torch
        self.device = torch.device(device)
        model.backbone.to(self.device)
        if model.head is not None and hasattr(model.head, "to"):
            model.head.to(self.device)
        if self.device.type != "cpu":
            self.name = f"torch ({self.device})"
        self.model = model
        self.transform = FrameTransform(model.input_spec)
        self.features = model.head is not None and getattr(model.head, "input_kind", "probs") == "features"
        self._run = None
        if variant != "eager":  # one of fertk.engines (channels_last, torchscript, int8_dynamic…)
            if self.device.type != "cpu":
                raise FertkError(f"--engine {variant}: CPU only (use --engine torch with --device "
                                 f"{self.device.type})")
            if self.features:
                raise FertkError(f"--engine {variant}: not available with a features-input head")
            from fertk.engines import build_engine as build_torch_engine

            h, w = model.input_spec["input_size"]
            example = torch.zeros(4, int(model.input_spec["in_chans"]), int(h), int(w))
            self._run = build_torch_engine(model.backbone, variant, example)
            self.name = variant

    def classify(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        torch = self.torch
        with torch.inference_mode():
            x = self.transform(crops).to(self.device, non_blocking=True)
            net = self.model.backbone
            if self.features:
                feats = net.forward_features(x)
                logits = net.forward_head(feats)
            else:
                feats, logits = None, (self._run or net)(x)
            probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return probs, (feats.float().cpu().numpy() if feats is not None else None)

    def head(self, windows: np.ndarray) -> np.ndarray:
        """(B, T, D) windows → (B, K) probabilities of the temporal head."""
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(windows, np.float32)).to(self.device)
            return torch.softmax(self.model.head(x).float(), dim=-1).cpu().numpy()


def build_engine(name: str, model: Any, threads: int | None = None, device: Any = "cpu") -> Any:
    """The classification engine for a resolved model on ``device`` (a torch device or name).

    ``auto``: onnxruntime on the CPU when it is installed and the model can be exported
    (once, into the cache), else torch; torch on CUDA. ``threads`` also sets torch's, which
    runs the preprocessing of every engine.
    """
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    cuda = str(getattr(device, "type", device)).startswith("cuda")
    if name == "auto":
        if cuda:
            return TorchEngine(model, threads, device=device)
        try:
            _ort()
            if model.checkpoint is None:
                raise FertkError("a caller-built module: no checkpoint to export")
            return OnnxEngine.for_model(model, threads=threads)
        except Exception:  # no onnxruntime, or this model does not export or load: torch runs it
            return TorchEngine(model, threads, device=device)
    if name in ("torch", "eager"):
        return TorchEngine(model, threads, device=device)
    if name in ("onnxruntime", "onnx", "ort"):
        return OnnxEngine.for_model(model, threads=threads, device=device)
    if name in engine_names():
        return TorchEngine(model, threads, variant=name, device=device)
    raise FertkError(f"--engine '{name}': choose one of auto, {', '.join(engine_names())}")


def engine_names() -> list[str]:
    """Engines ``fertk run`` accepts: torch, onnxruntime and the variants of :mod:`fertk.engines`."""
    names = ["torch", "onnxruntime"]
    try:
        from fertk.engines import ENGINES
    except ImportError:  # pragma: no cover
        return names
    return names + [e for e in ENGINES if e not in ("eager", "onnxruntime")]


__all__ = ["DEFAULT_OPSET", "ExportResult", "OnnxEngine", "OnnxHead", "TorchEngine", "build_engine",
           "engine_names", "export_onnx", "load_onnx_model"]
