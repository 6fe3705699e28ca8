"""Old import path of the engine variants: :mod:`fertk.inference.variants` (kept for plugins,
benchmarks and notebooks). ``build_engine(model, name, example, **options)`` is
:func:`fertk.inference.build_engine`, the one engine builder."""

from __future__ import annotations

from fertk.inference.runtime import build_engine
from fertk.inference.variants import (
    ENGINES,
    FP32_ENGINES,
    INT8_ENGINES,
    Engine,
    build_variant,
    export_onnx_bytes,
)

__all__ = ["ENGINES", "FP32_ENGINES", "INT8_ENGINES", "Engine", "build_engine", "build_variant",
           "export_onnx_bytes"]
