"""The built-in inference engines, registered through ``register_engines`` like a plugin's.

MERGE (issue #15 items 2 and 4): the engines live in ``fertk/engines.py`` today and move to
``fertk/inference.py``. When they do, move :func:`register_engines` next to their builders
(factories ``"fertk.inference:_eager"`` …, no trampoline), drop this module from
:data:`fertk.plugins.DEFAULT_PLUGINS`, and let ``build_engine`` look names up through
:func:`build_registered_engine` so plugin engines work wherever a built-in one does.

Nothing heavy is imported here: the builders are imported when an engine is built.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fertk.hookspecs import hookimpl

#: name → (precision, description); the same names as ``fertk.engines.ENGINES`` (tested).
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


def _build_builtin(name: str, model: Any, example: Any, **options: Any) -> Any:
    from fertk.engines import build_engine  # MERGE: fertk.inference

    return build_engine(model, name, example, **options)


@hookimpl
def register_engines(register):
    for name, (precision, description) in BUILTIN_ENGINES.items():
        register(name, partial(_build_builtin, name), description=description, precision=precision)


def build_registered_engine(model: Any, name: str, example: Any, **options: Any) -> Any:
    """Build engine ``name`` (built-in or a plugin's) through the ``engines`` registry: unknown
    names and options are one-line errors, the result is checked against
    :class:`fertk.types.InferenceEngine`. MERGE: the call site for ``build_engine``."""
    from fertk.plugins import get_registry

    model.eval()
    return get_registry("engines").create(name, model=model, example=example, **options)
