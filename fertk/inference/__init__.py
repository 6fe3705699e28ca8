"""The inference layer: where a model is loaded and run for inference.

- :mod:`fertk.inference.model`: weights + options → :class:`ModelSpec` (:func:`resolve_model`,
  :func:`load_onnx_model` for an export, :func:`weights_for_backbone`) and the one
  "option contradicts checkpoint" check (:func:`check_compatible`).
- :mod:`fertk.inference.runtime`: the torch and onnxruntime engines and :func:`build_engine`.
- :mod:`fertk.inference.onnx`: the one ONNX writer (with parity check) and session builder.
- :mod:`fertk.inference.variants`: CPU variants of a bare module (``ENGINES``: channels_last,
  torchscript, int8…); :mod:`fertk.engines` re-exports them. They are registered here
  (:func:`register_engines`, :data:`BUILTIN_ENGINES`) like a plugin's engines, and every engine
  name is looked up through the ``engines`` registry (:func:`build_registered_engine`).

Dependencies run one way: :mod:`fertk.pipeline` → here ← :mod:`fertk.export`. Importing this
package imports neither torch nor onnxruntime.
"""

from __future__ import annotations

from fertk.hookspecs import hookimpl
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

#: The built-in engine variants: name → (precision, description); their builders are
#: ``fertk.inference.variants:_<name>``. ``variants.ENGINES`` is this table's names (tested
#: against the ``engines`` registry).
BUILTIN_ENGINES: dict[str, tuple[str, str]] = {
    "eager": ("fp32", "the module itself, torch.inference_mode"),
    "channels_last": ("fp32", "NHWC memory format (oneDNN-friendly convolutions)"),
    "torchscript": ("fp32", "torch.jit.trace + freeze (+ optimize_for_inference)"),
    "compile": ("fp32", "torch.compile (inductor; needs a C++ compiler)"),
    "onnxruntime": ("fp32", "ONNX export (opset 17, dynamic batch) run by ONNX Runtime CPU"),
    "int8_dynamic": ("int8", "quantize_dynamic: int8 Linear/GRU weights, fp32 convs"),
    "int8_static": ("int8", "FX post-training static quantization (x86), calibrated"),
    "ort_int8": ("int8", "ONNX Runtime static QDQ quantization (per-channel), calibrated"),
}


@hookimpl
def register_engines(register):
    for name, (precision, description) in BUILTIN_ENGINES.items():
        register(name, f"fertk.inference.variants:_{name}", description=description, precision=precision)


__all__ = ["BUILTIN_ENGINES", "DEFAULT_OPSET", "ModelSpec", "OnnxEngine", "OnnxHead", "TorchEngine",
           "build_engine", "build_registered_engine", "check_compatible", "engine_names",
           "load_onnx_model", "make_head", "register_engines", "resolve_model", "weights_for_backbone"]
