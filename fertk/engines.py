"""Old import path of the engine variants: :mod:`fertk.inference.variants` (kept for plugins,
benchmarks and notebooks; not to be confused with :mod:`fertk.training`, the trainer).

``build_variant(model, name, example, **options)`` builds one (:func:`fertk.inference.build_variant`);
``build_engine`` is its old name here, kept for one release."""

from __future__ import annotations

from fertk.inference.runtime import build_engine, build_variant
from fertk.inference.variants import (
    ENGINES,
    FP32_ENGINES,
    INT8_ENGINES,
    Engine,
    export_onnx_bytes,
)

__all__ = ["ENGINES", "FP32_ENGINES", "INT8_ENGINES", "Engine", "build_engine", "build_variant",
           "export_onnx_bytes"]
