"""The inference layer: where a model is loaded and run for inference.

- :mod:`fertk.inference.model`: weights + options → :class:`ModelSpec` (:func:`resolve_model`,
  :func:`load_onnx_model` for an export, :func:`weights_for_backbone`) and the one
  "option contradicts checkpoint" check (:func:`check_compatible`).
- :mod:`fertk.inference.runtime`: the torch and onnxruntime engines and :func:`build_engine`.
- :mod:`fertk.inference.onnx`: the one ONNX writer (with parity check) and session builder.
- :mod:`fertk.inference.variants`: CPU variants of a bare module (``ENGINES``: channels_last,
  torchscript, int8…); :mod:`fertk.engines` re-exports them. They are registered here
  (:mod:`fertk.inference.builtins`: :data:`BUILTIN_ENGINES`, :func:`register_engines`) like a
  plugin's engines, and every engine
  name is looked up through the ``engines`` registry (:func:`build_registered_engine`).

Dependencies run one way: :mod:`fertk.pipeline` → here ← :mod:`fertk.export`. Importing this
package imports neither torch nor onnxruntime.
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
    OnnxEngine,
    TorchEngine,
    build_engine,
    build_registered_engine,
    engine_names,
)

__all__ = ["BUILTIN_ENGINES", "DEFAULT_OPSET", "ModelSpec", "OnnxEngine", "OnnxHead", "TorchEngine",
           "build_engine", "build_registered_engine", "check_compatible", "engine_names",
           "load_onnx_model", "make_head", "register_engines", "resolve_model", "weights_for_backbone"]
