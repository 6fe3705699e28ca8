"""The built-in engines, registered through ``register_engines`` like a plugin's: the table of
their names, precisions and descriptions; builders ``fertk.inference.variants:_<name>``,
imported when an engine is built. Nothing heavy is imported here."""

from __future__ import annotations

from fertk.hookspecs import hookimpl

#: The built-in engine variants: name → (precision, description); their builders are
#: ``fertk.inference.variants:_<name>``. ``variants.ENGINES`` is this table's names (tested
#: against the ``engines`` registry). ``onnxruntime`` also runs whole models
#: (:data:`CLASSIFIERS`), under its old spellings ``onnx`` and ``ort`` too.
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


#: Engines that run a whole model (crops → probabilities, the temporal head too) outside
#: torch: name → their classifier's ``"module:attr"`` factory (``EngineInfo.classifier``).
CLASSIFIERS = {"onnxruntime": "fertk.inference.runtime:onnx_classifier"}
ALIASES = {"onnxruntime": ("onnx", "ort")}


@hookimpl
def register_engines(register):
    for name, (precision, description) in BUILTIN_ENGINES.items():
        register(name, f"fertk.inference.variants:_{name}", description=description, precision=precision,
                 classifier=CLASSIFIERS.get(name), aliases=ALIASES.get(name, ()))
