"""The inference layer: where a model is loaded and run for inference.

- :mod:`fertk.inference.model`: weights + options → :class:`ModelSpec` (:func:`resolve_model`,
  :func:`load_onnx_model` for an export, :func:`weights_for_backbone`); options that
  contradict the model are refused by the one check, :func:`fertk.checkpoint.check_compatible`
  (re-exported here).
- :mod:`fertk.inference.runtime`: two builders, one name each. :func:`build_classifier`: a
  :class:`ModelSpec` → a classifier (:class:`TorchClassifier`, :class:`OnnxClassifier`: crops
  → probabilities, windows → head probabilities); :func:`build_variant`: a bare module → an
  engine (``engine(x) -> tensor``) through the ``engines`` registry.
- :mod:`fertk.inference.onnx`: the one ONNX writer (with parity check) and session builder.
- :mod:`fertk.inference.variants`: the built-in engines, CPU variants of a bare module
  (``ENGINES``: channels_last, torchscript, int8…); :mod:`fertk.engines` re-exports them.
  They are registered here (:mod:`fertk.inference.builtins`: :data:`BUILTIN_ENGINES`,
  :func:`register_engines`) like a plugin's engines, and every engine name is looked up
  through the ``engines`` registry.

Dependencies run one way: :mod:`fertk.pipeline` → here ← :mod:`fertk.export`. Importing this
package imports neither torch nor onnxruntime. ``build_engine`` (both builders under one
name), ``build_registered_engine``, ``TorchEngine`` and ``OnnxEngine`` are the old names,
kept for one release.
"""

from __future__ import annotations

from fertk.inference.builtins import BUILTIN_ENGINES, register_engines
from fertk.inference.model import (
    ModelSpec,
    check_compatible,
    load_onnx_model,
    make_head,
    resolve_model,
    weights_for_backbone,
)
from fertk.inference.onnx import DEFAULT_OPSET, OnnxHead
from fertk.inference.runtime import (
    OnnxClassifier,
    OnnxEngine,
    TorchClassifier,
    TorchEngine,
    build_classifier,
    build_engine,
    build_registered_engine,
    build_variant,
    engine_names,
    torch_threads,
)

__all__ = ["BUILTIN_ENGINES", "DEFAULT_OPSET", "ModelSpec", "OnnxClassifier",
           "OnnxEngine", "OnnxHead", "TorchClassifier", "TorchEngine", "build_classifier",
           "build_engine", "build_registered_engine", "build_variant", "check_compatible",
           "engine_names", "load_onnx_model", "make_head", "register_engines", "resolve_model",
           "torch_threads", "weights_for_backbone"]
