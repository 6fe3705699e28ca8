"""Classification engines of a resolved model: crops → probabilities (and features), windows
→ temporal-head probabilities (composed by the rules of :mod:`fertk.models.sequence`). :class:`TorchEngine` (eager, or a variant of
:mod:`fertk.inference.variants`) and :class:`OnnxEngine`; :func:`build_engine` builds one.

Preprocessing stays :class:`fertk.preprocess.FrameTransform`, so there is one copy of it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from fertk.errors import FertkError
from fertk.inference.model import ModelSpec
from fertk.inference.onnx import OnnxHead, export_backbone, ort, session, softmax


def _wants_features(head: Any) -> bool:
    from fertk.models.sequence import input_kind

    return input_kind(head) == "features"


class _Engine:
    model: ModelSpec

    def head(self, windows: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def head_windows(self, windows: list[np.ndarray]) -> np.ndarray:
        """Temporal head over windows of any lengths (T_i, D), batched by length → (N, K)."""
        out = np.zeros((len(windows), len(self.model.classes)), np.float32)
        by_len: dict[int, list[int]] = {}
        for i, w in enumerate(windows):
            by_len.setdefault(len(w), []).append(i)
        for idx in by_len.values():
            out[idx] = self.head(np.stack([windows[i] for i in idx]))
        return out


class OnnxEngine(_Engine):
    """Crops → probabilities with onnxruntime; the temporal head in onnxruntime or torch."""

    name = "onnxruntime"

    def __init__(self, model_path: Path, model: ModelSpec, threads: int | None = None,
                 device: Any = "cpu"):
        from fertk.preprocess import FrameTransform

        self.model = model
        self.session = session(Path(model_path), threads, device)
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.transform = FrameTransform(model.input_spec)
        self.features = _wants_features(model.head)
        if self.features and "features" not in self.outputs:
            raise FertkError(f"{model_path}: the temporal head needs features, which the export lacks")

    @classmethod
    def for_model(cls, model: ModelSpec, threads: int | None = None, device: Any = "cpu") -> OnnxEngine:
        """Engine for a ModelSpec: an exported path, or a checkpoint exported on the fly."""
        if isinstance(model.backbone, (str, os.PathLike)):
            return cls(Path(model.backbone), model, threads, device)
        ckpt = model.checkpoint
        if ckpt is None:
            raise FertkError("--engine onnxruntime needs --weights (a checkpoint or an exported .onnx)")
        from fertk.fsutil import atomic_path, cache_root

        sha = ckpt.metadata.get("sha256") or "nosha"
        onnx_path = cache_root() / "onnx" / f"{Path(ckpt.path).stem}-{sha[:16]}.onnx"
        if not onnx_path.is_file():  # export beside it, then rename: concurrent runs are safe
            with atomic_path(onnx_path) as tmp:
                export_backbone(model.backbone, dict(ckpt.metadata["input_spec"]), tmp)
        return cls(onnx_path, model, threads, device)

    def classify(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = self.transform(crops).numpy()
        res = self.session.run(None, {"input": x})
        feats = res[self.outputs.index("features")] if self.features else None
        return softmax(res[0].astype(np.float32)), feats

    def head(self, windows: np.ndarray) -> np.ndarray:
        head = self.model.head
        x = np.ascontiguousarray(windows, dtype=np.float32)
        if isinstance(head, OnnxHead):  # a fixed-length export: resample as the torch head does
            from fertk.models.sequence import window_indices

            x = np.ascontiguousarray(x[:, window_indices(x.shape[1], head.seq_len)])
            return softmax(head.session.run(None, {"window": x})[0])
        import torch

        with torch.inference_mode():
            return torch.softmax(head(torch.from_numpy(x)).float(), -1).numpy()


class TorchEngine(_Engine):
    """Crops → probabilities (and features) with the PyTorch backbone; head over windows."""

    name = "torch"

    def __init__(self, model: ModelSpec, threads: int | None = None, variant: str = "eager",
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
        self.features = _wants_features(model.head)
        self._run = None
        if variant != "eager":  # one of fertk.inference.variants (channels_last, int8_dynamic…)
            if self.device.type != "cpu":
                raise FertkError(f"--engine {variant}: CPU only (use --engine torch with --device "
                                 f"{self.device.type})")
            if self.features:
                raise FertkError(f"--engine {variant}: not available with a features-input head")
            h, w = model.input_spec["input_size"]
            example = torch.zeros(4, int(model.input_spec["in_chans"]), int(h), int(w))
            self._run = build_registered_engine(model.backbone, variant, example)
            self.name = variant

    def classify(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        from fertk.models.sequence import frame_outputs

        torch = self.torch
        with torch.inference_mode():
            x = self.transform(crops).to(self.device, non_blocking=True)
            net = self.model.backbone
            if self.features:
                feats = net.forward_features(x)
                logits = net.forward_head(feats)
            else:
                feats, logits = None, (self._run or net)(x)
            probs = frame_outputs(net, None, logits=logits.float()).cpu().numpy()
        return probs, (feats.float().cpu().numpy() if feats is not None else None)

    def head(self, windows: np.ndarray) -> np.ndarray:
        """(B, T, D) windows → (B, K) probabilities of the temporal head."""
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(windows, np.float32)).to(self.device)
            return torch.softmax(self.model.head(x).float(), dim=-1).cpu().numpy()


def _model_engine(model: ModelSpec, name: str, threads: int | None, device: Any) -> Any:
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    cuda = str(getattr(device, "type", device)).startswith("cuda")
    if name == "auto":
        if cuda:
            return TorchEngine(model, threads, device=device)
        try:
            ort()
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


def build_engine(model: Any, name: str = "auto", example: Any = None, *, threads: int | None = None,
                 device: Any = "cpu", **options: Any) -> Any:
    """The one engine builder.

    ``model`` a resolved :class:`ModelSpec` → a classification engine (``classify`` crops,
    ``head`` windows) on ``device``: ``auto`` is onnxruntime on the CPU when it is installed
    and the model exports (once, into the cache), else torch; torch on CUDA. ``threads``
    also sets torch's, which runs the preprocessing of every engine.

    ``model`` a bare ``nn.Module`` → the variant ``name`` of :mod:`fertk.inference.variants`
    (``engine(x) -> tensor``), built from the ``example`` batch; ``options`` as there.
    """
    if isinstance(model, ModelSpec):
        return _model_engine(model, name, threads, device)
    if example is None:
        raise FertkError(f"engine '{name}' of a module: an example input batch is needed")
    if threads is not None:
        options["threads"] = threads
    return build_registered_engine(model, name, example, **options)


def build_registered_engine(model: Any, name: str, example: Any, **options: Any) -> Any:
    """Build engine ``name`` (built-in or a plugin's) of the module ``model`` through the
    ``engines`` registry: unknown names and options are one-line errors, the result is checked
    against :class:`fertk.types.InferenceEngine`."""
    from fertk.plugins import get_registry

    model.eval()
    return get_registry("engines").create(name, model=model, example=example, **options)


def engine_names() -> list[str]:
    """Engines ``fertk run`` accepts: torch, onnxruntime and every other registered engine
    (the variants of :mod:`fertk.inference.variants`, plugins' engines)."""
    from fertk.inference.builtins import BUILTIN_ENGINES
    from fertk.plugins import get_registry

    registered = get_registry("engines").names()
    builtin = [e for e in BUILTIN_ENGINES if e in registered]  # the documented order first
    rest = builtin + [e for e in registered if e not in BUILTIN_ENGINES]
    return ["torch", "onnxruntime"] + [e for e in rest if e not in ("eager", "onnxruntime")]
