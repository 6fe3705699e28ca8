"""Running models: two builders, one name each.

- :func:`build_classifier`: a resolved model (:class:`~fertk.inference.model.ModelSpec`) →
  a *classifier*: crops → probabilities (and features), windows → temporal-head
  probabilities (composed by the rules of :mod:`fertk.models.sequence`).
  :class:`TorchClassifier` (eager, or a variant of the module) and :class:`OnnxClassifier`.
- :func:`build_variant`: a bare module → an *engine*, a variant of the module
  (``engine(x) -> tensor``: channels_last, torchscript, int8 …) built through the ``engines``
  registry (:mod:`fertk.inference.variants`, plugins).

An engine name (``Pipeline(engine=...)``, ``fertk run --engine``) names how a model runs:
``torch`` (the module as it is) or a registered engine. A registered engine either runs the
whole model itself, its registration naming its classifier (``EngineInfo.classifier``:
``onnxruntime``, :func:`onnx_classifier`), or is a variant of the module that
:class:`TorchClassifier` runs. One registry decides both; there is no second list.
Preprocessing stays :class:`fertk.preprocess.FrameTransform`, so there is one copy of it.
Torch's thread count is set only while a classifier runs (:func:`torch_threads`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from fertk.errors import FertkError, MissingDependencyError
from fertk.inference.model import ModelSpec
from fertk.inference.onnx import OnnxHead, export_backbone, ort, session, softmax
from fertk.threads import torch_threads


def _wants_features(head: Any) -> bool:
    from fertk.models.sequence import input_kind

    return input_kind(head) == "features"


class _Classifier:
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


class OnnxClassifier(_Classifier):
    """Crops → probabilities with onnxruntime; the temporal head in onnxruntime or torch."""

    name = "onnxruntime"

    def __init__(self, model_path: Path, model: ModelSpec, threads: int | None = None,
                 device: Any = "cpu"):
        from fertk.preprocess import FrameTransform

        self.model = model
        self.threads = threads
        self.session = session(Path(model_path), threads, device)
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.transform = FrameTransform(model.input_spec)
        self.features = _wants_features(model.head)
        if self.features and "features" not in self.outputs:
            raise FertkError(f"{model_path}: the temporal head needs features, which the export lacks")

    @classmethod
    def for_model(cls, model: ModelSpec, threads: int | None = None,
                  device: Any = "cpu") -> OnnxClassifier:
        """Classifier of a ModelSpec: an exported path, or a checkpoint exported on the fly."""
        if isinstance(model.backbone, (str, os.PathLike)):
            return cls(Path(model.backbone), model, threads, device)
        ckpt = model.checkpoint
        if ckpt is None:
            raise FertkError("--engine onnxruntime needs --weights (a checkpoint or an exported .onnx)")
        from fertk.fsutil import atomic_path, cache_root

        sha = ckpt.metadata.get("sha256") or "nosha"
        onnx_path = cache_root() / "onnx" / f"{Path(ckpt.path).stem}-{sha[:16]}.onnx"
        if not onnx_path.is_file():  # export beside it, then rename: concurrent runs are safe
            try:
                with atomic_path(onnx_path) as tmp:
                    export_backbone(model.backbone, dict(ckpt.metadata["input_spec"]), tmp)
            except (OSError, FertkError):  # the cache cannot be written (read-only, a file)
                return cls._uncached(model, threads, device)
        return cls(onnx_path, model, threads, device)

    @classmethod
    def _uncached(cls, model: ModelSpec, threads: int | None, device: Any) -> OnnxClassifier:
        """The export in a private temporary folder, loaded, then removed: onnxruntime runs
        when the cache cannot be written (``FERTK_CACHE_DIR`` read-only or a file)."""
        import shutil
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="fertk-onnx-"))
        try:
            path = tmp / "model.onnx"
            export_backbone(model.backbone, dict(model.checkpoint.metadata["input_spec"]), path)
            return cls(path, model, threads, device)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def classify(self, crops: np.ndarray, features: bool = False
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(probabilities, features)`` of a batch of crops; features (the backbone's
        penultimate layer) when the head needs them or ``features`` asks for them."""
        if features and "features" not in self.outputs:
            raise FertkError("this exported model has no 'features' output: export it again "
                             "with fertk export to get embeddings")
        with torch_threads(self.threads):  # the preprocessing runs in torch
            x = self.transform(crops).numpy()
        res = self.session.run(None, {"input": x})
        want = self.features or features
        feats = res[self.outputs.index("features")] if want else None
        return softmax(res[0].astype(np.float32)), feats

    def head(self, windows: np.ndarray) -> np.ndarray:
        head = self.model.head
        x = np.ascontiguousarray(windows, dtype=np.float32)
        if isinstance(head, OnnxHead):  # a fixed-length export: resample as the torch head does
            from fertk.models.sequence import window_indices

            x = np.ascontiguousarray(x[:, window_indices(x.shape[1], head.seq_len)])
            return softmax(head.session.run(None, {"window": x})[0])
        import torch

        with torch_threads(self.threads), torch.inference_mode():
            return torch.softmax(head(torch.from_numpy(x)).float(), -1).numpy()


class TorchClassifier(_Classifier):
    """Crops → probabilities (and features) with the PyTorch backbone, eager or a registered
    variant of it; head over windows. ``threads``: torch threads while it runs."""

    name = "torch"

    def __init__(self, model: ModelSpec, threads: int | None = None, variant: str = "eager",
                 device: Any = "cpu", context: Any = None):
        import torch

        from fertk.preprocess import FrameTransform

        self.threads = threads
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
            with torch_threads(threads):
                self._run = build_variant(model.backbone, variant, example, context=context)
            self.name = variant

    def classify(self, crops: np.ndarray, features: bool = False
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(probabilities, features)`` of a batch of crops; features (the backbone's
        penultimate layer, ``forward_features``) when the head needs them or ``features`` asks
        for them (not with a variant engine: it runs the whole module its own way)."""
        from fertk.models.sequence import frame_outputs

        if features and self._run is not None:
            raise FertkError(f"--engine {self.name}: embeddings need --engine torch or "
                             "onnxruntime (a variant engine runs the whole module its own way)")
        if features and not callable(getattr(self.model.backbone, "forward_features", None)):
            raise FertkError(f"{type(self.model.backbone).__name__} has no forward_features: it "
                             "gives no embeddings")
        torch = self.torch
        with torch_threads(self.threads), torch.inference_mode():
            x = self.transform(crops).to(self.device, non_blocking=True)
            net = self.model.backbone
            if self.features or features:
                feats = net.forward_features(x)
                logits = net.forward_head(feats)
            else:
                feats, logits = None, (self._run or net)(x)
            probs = frame_outputs(net, None, logits=logits.float()).cpu().numpy()
        return probs, (feats.float().cpu().numpy() if feats is not None else None)

    def head(self, windows: np.ndarray) -> np.ndarray:
        """(B, T, D) windows → (B, K) probabilities of the temporal head."""
        torch = self.torch
        with torch_threads(self.threads), torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(windows, np.float32)).to(self.device)
            return torch.softmax(self.model.head(x).float(), dim=-1).cpu().numpy()


def onnx_classifier(model: ModelSpec, threads: int | None = None, device: Any = "cpu"
                    ) -> OnnxClassifier:
    """The ``onnxruntime`` engine's classifier (its ``EngineInfo.classifier``)."""
    return OnnxClassifier.for_model(model, threads=threads, device=device)


def _onnx_exportable(model: ModelSpec) -> bool:
    """Whether ``auto`` can run ``model`` with onnxruntime: an export, or a checkpoint whose
    backbone gives the features its head needs (decided before anything is exported)."""
    if isinstance(model.backbone, (str, os.PathLike)):
        return True
    if model.checkpoint is None:  # a caller-built module: no checkpoint to export
        return False
    net = model.backbone
    has_features = callable(getattr(net, "forward_features", None)) and callable(
        getattr(net, "forward_head", None))
    return has_features or not _wants_features(model.head)


def auto_engine(cuda: bool = False, exportable: bool = True) -> str:
    """What ``--engine auto`` runs (``fertk run``, ``fertk models``, ``Pipeline``): onnxruntime
    on the CPU when it is installed and the model exports, else torch."""
    if cuda or not exportable:
        return "torch"
    try:
        ort()
    except MissingDependencyError:  # onnxruntime is optional: torch runs the model
        return "torch"
    return "onnxruntime"


def build_classifier(model: ModelSpec, name: str = "auto", *, threads: int | None = None,
                     device: Any = "cpu", context: Any = None) -> TorchClassifier | OnnxClassifier:
    """The classifier of a resolved model: ``classify`` crops, ``head`` windows, on ``device``.

    ``name``: ``auto`` (onnxruntime on the CPU when it is installed and the model exports,
    once, into the cache; else torch; torch on CUDA), ``torch``, ``onnxruntime`` or another
    registered engine (a variant of :mod:`fertk.inference.variants` or a plugin's, looked up in
    ``context``'s registry). ``auto`` falls back to torch only when onnxruntime is missing or
    the model cannot be exported by construction; a failing export is an error. ``threads``:
    the classifier's torch threads (it runs the preprocessing of every classifier), set only
    while it classifies (:func:`torch_threads`).
    """
    from fertk.plugins import get_registry

    cuda = str(getattr(device, "type", device)).startswith("cuda")
    if name == "auto":
        name = auto_engine(cuda=cuda, exportable=_onnx_exportable(model))
    if name == "torch":
        return TorchClassifier(model, threads, device=device, context=context)
    registry = get_registry("engines", context)
    if name not in registry:
        raise FertkError(f"--engine '{name}': choose one of auto, {', '.join(engine_names(context))}")
    spec = registry.get(name)
    if spec.metadata.classifier:  # runs the whole model itself (onnxruntime)
        import dataclasses

        # the registry's one "module:attr" loader (its one-line import errors name the plugin)
        factory = dataclasses.replace(spec, factory=spec.metadata.classifier).resolve()
        return factory(model, threads=threads, device=device)
    return TorchClassifier(model, threads, variant=spec.name, device=device, context=context)


def build_variant(model: Any, name: str, example: Any, *, context: Any = None,
                  **options: Any) -> Any:
    """The engine ``name`` (built-in or a plugin's) of the module ``model``: a callable mapping
    an input batch to the module's output tensor, built from the ``example`` batch through
    ``context``'s ``engines`` registry (unknown names and options are one-line errors, the
    result is checked against :class:`fertk.types.InferenceEngine`).

    Options of the built-ins: ``calibration`` (static int8), ``threads`` (ONNX Runtime intra-op
    threads, default ``torch.get_num_threads()``), ``optimize`` (torchscript), ``mode``
    (compile), ``backend`` (int8_static). The model itself is never modified (engines work on
    copies)."""
    from fertk.plugins import get_registry

    model.eval()
    return get_registry("engines", context).create(name, model=model, example=example, **options)


def engine_names(context: Any = None) -> list[str]:
    """Engines ``fertk run`` accepts: torch, then the registered engines that run a whole model
    (onnxruntime), then the variants of the module (:mod:`fertk.inference.variants`, plugins'),
    built-ins in their documented order first."""
    from fertk.inference.builtins import BUILTIN_ENGINES
    from fertk.plugins import get_registry

    registry = get_registry("engines", context)
    registered = registry.names()
    ordered = [e for e in BUILTIN_ENGINES if e in registered] + \
        [e for e in registered if e not in BUILTIN_ENGINES]
    whole = [e for e in ordered if registry.get(e).metadata.classifier]
    return ["torch", *whole, *[e for e in ordered if e not in whole]]


# -- old names, kept for one release ---------------------------------------------------------
TorchEngine = TorchClassifier
OnnxEngine = OnnxClassifier
build_registered_engine = build_variant


def build_engine(model: Any, name: str = "auto", example: Any = None, *, threads: int | None = None,
                 device: Any = "cpu", **options: Any) -> Any:
    """Deprecated: :func:`build_classifier` for a :class:`ModelSpec`, :func:`build_variant`
    for a module (this name did both)."""
    import warnings

    if isinstance(model, ModelSpec):
        warnings.warn("fertk: build_engine(ModelSpec) is build_classifier", DeprecationWarning,
                      stacklevel=2)
        return build_classifier(model, name, threads=threads, device=device)
    warnings.warn("fertk: build_engine(module, name, example) is build_variant",
                  DeprecationWarning, stacklevel=2)
    if example is None:
        raise FertkError(f"engine '{name}' of a module: an example input batch is needed")
    if threads is not None:
        options["threads"] = threads
    return build_variant(model, name, example, **options)
