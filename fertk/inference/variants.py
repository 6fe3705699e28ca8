"""Engine variants: one ``nn.Module``, several ways of running it on the CPU, one calling convention.

``build_variant(model, name, example) -> Engine`` (:func:`fertk.inference.build_variant`,
through the ``engines`` registry, where the builders below are registered by
:mod:`fertk.inference.builtins`); an :class:`Engine` is a callable mapping a
float input batch (torch tensor, the model's input layout) to its output tensor, in inference
mode. ``example`` is a representative input batch (used for tracing, export, calibration).

=================  =============================================================  ========
name               what it does                                                   numerics
=================  =============================================================  ========
``eager``          the module itself, ``torch.inference_mode``                    fp32
``channels_last``  NHWC memory format (oneDNN-friendly convolutions)              fp32
``torchscript``    ``torch.jit.trace`` + ``freeze`` (+ ``optimize_for_inference``) fp32
``compile``        ``torch.compile`` (inductor; needs a C++ compiler)             fp32
``onnxruntime``    ONNX export (opset 17, dynamic batch) run by ONNX Runtime CPU  fp32
``int8_dynamic``   ``quantize_dynamic``: int8 Linear/GRU weights, fp32 convs      int8
``int8_static``    FX post-training static quantization (x86), calibrated        int8
``ort_int8``       ONNX Runtime static QDQ quantization (per-channel), calibrated int8
=================  =============================================================  ========

fp32 engines match eager within 1e-4; int8 engines change the numbers, measure their accuracy
(``benchmarks/bench_models.py`` does). ``calibration`` (an iterable of input batches, or one
tensor) feeds the static int8 engines; without it ``example`` is used.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from fertk.errors import FertkError
from fertk.inference.builtins import (
    BUILTIN_ENGINES,  # the one table of built-in names and precisions
)
from fertk.inference.onnx import session, to_onnx
from fertk.inference.runtime import build_variant  # noqa: F401 - the builder, old import path

FP32_ENGINES = tuple(n for n, (precision, _) in BUILTIN_ENGINES.items() if precision == "fp32")
INT8_ENGINES = tuple(n for n, (precision, _) in BUILTIN_ENGINES.items() if precision == "int8")
ENGINES = FP32_ENGINES + INT8_ENGINES


class Engine:
    """A built engine: ``engine(x) -> tensor``; ``name`` and ``precision`` ("fp32"/"int8")."""

    def __init__(self, name: str, fn: Callable[[torch.Tensor], torch.Tensor], precision: str):
        self.name = name
        self.precision = precision
        self._fn = fn

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self._fn(x)

    def __repr__(self) -> str:
        return f"Engine({self.name!r}, {self.precision})"


def _frozen_copy(model: nn.Module) -> nn.Module:
    m = copy.deepcopy(model).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def _batches(calibration: Any, example: torch.Tensor) -> list[torch.Tensor]:
    if calibration is None:
        return [example]
    if isinstance(calibration, torch.Tensor):
        return [calibration]
    out = [b if isinstance(b, torch.Tensor) else torch.as_tensor(b) for b in calibration]
    if not out:
        raise FertkError("calibration data is empty")
    return out


def _eager(model: nn.Module, example: torch.Tensor, **_: Any) -> Engine:
    m = model.eval()
    return Engine("eager", m, "fp32")


def _channels_last(model: nn.Module, example: torch.Tensor, **_: Any) -> Engine:
    m = _frozen_copy(model).to(memory_format=torch.channels_last)

    def run(x: torch.Tensor) -> torch.Tensor:
        return m(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x)

    return Engine("channels_last", run, "fp32")


def _torchscript(model: nn.Module, example: torch.Tensor, optimize: bool = True, **_: Any) -> Engine:
    m = _frozen_copy(model)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(m, example, check_trace=False)
        frozen = torch.jit.freeze(traced)
        if optimize:
            frozen = torch.jit.optimize_for_inference(frozen)
    with torch.inference_mode():  # run the profiling passes once
        frozen(example)
        frozen(example)
    return Engine("torchscript", frozen, "fp32")


def _compile(model: nn.Module, example: torch.Tensor, mode: str | None = None, **_: Any) -> Engine:
    m = _frozen_copy(model)
    try:
        compiled = torch.compile(m, mode=mode, dynamic=False)
        with torch.inference_mode():  # compile for the mode Engine.__call__ runs in
            compiled(example)
    except Exception as exc:  # inductor needs a working C++ toolchain
        raise FertkError(f"engine 'compile': torch.compile failed on this machine: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    return Engine("compile", compiled, "fp32")


def export_onnx_bytes(model: nn.Module, example: torch.Tensor, opset: int = 17) -> bytes:
    """The model as ONNX bytes with a dynamic batch axis (input ``input``, output ``output``)."""
    return to_onnx(_frozen_copy(model), example, opset=opset)


def _ort_session(model_bytes: bytes, threads: int | None):
    return session(model_bytes, threads, exclusive=True)


def _ort_engine(name: str, sess: Any, precision: str) -> Engine:
    input_name = sess.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        arr = x.detach().cpu().contiguous().numpy()
        return torch.from_numpy(sess.run(None, {input_name: arr})[0])

    return Engine(name, run, precision)


def _onnxruntime(model: nn.Module, example: torch.Tensor, threads: int | None = None, **_: Any) -> Engine:
    sess = _ort_session(export_onnx_bytes(model, example), threads)
    return _ort_engine("onnxruntime", sess, "fp32")


def _int8_dynamic(model: nn.Module, example: torch.Tensor, **_: Any) -> Engine:
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize_dynamic(_frozen_copy(model), {nn.Linear, nn.GRU, nn.LSTM}, dtype=torch.qint8)
    return Engine("int8_dynamic", q, "int8")


def _int8_static(model: nn.Module, example: torch.Tensor, calibration: Any = None,
                 backend: str = "x86", **_: Any) -> Engine:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = backend
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            prepared = prepare_fx(_frozen_copy(model), get_default_qconfig_mapping(backend), (example,))
        except Exception as exc:
            raise FertkError(f"engine 'int8_static': the model cannot be FX-traced ({type(exc).__name__}); "
                             "try 'ort_int8' or 'int8_dynamic'") from exc
        with torch.no_grad():
            for batch in _batches(calibration, example):
                prepared(batch)
        q = convert_fx(prepared)
    return Engine("int8_static", q, "int8")


class _Reader:
    """onnxruntime CalibrationDataReader over a list of batches."""

    def __init__(self, name: str, batches: Iterable[torch.Tensor]):
        self._it = iter([{name: b.detach().cpu().numpy()} for b in batches])

    def get_next(self) -> dict[str, Any] | None:
        return next(self._it, None)


def _ort_int8(model: nn.Module, example: torch.Tensor, calibration: Any = None,
              threads: int | None = None, **_: Any) -> Engine:
    import os
    import tempfile

    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(_Reader, CalibrationDataReader):
        pass

    with tempfile.TemporaryDirectory(prefix="fertk-ort-int8-") as tmp:
        fp32 = os.path.join(tmp, "model.onnx")
        pre = os.path.join(tmp, "model.pre.onnx")
        q8 = os.path.join(tmp, "model.int8.onnx")
        with open(fp32, "wb") as fh:
            fh.write(export_onnx_bytes(model, example))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                quant_pre_process(fp32, pre, skip_symbolic_shape=True)
            except Exception:  # pre-processing is an optimisation only
                pre = fp32
            quantize_static(
                pre, q8, Reader("input", _batches(calibration, example)),
                quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            )
        with open(q8, "rb") as fh:
            sess = _ort_session(fh.read(), threads)
    return _ort_engine("ort_int8", sess, "int8")
