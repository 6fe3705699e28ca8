"""The one ONNX writer and the one onnxruntime session builder of fertk.

:func:`to_onnx` writes a module to a file or to bytes (``torch.onnx.export``, TorchScript
tracer, dynamic batch axis); :func:`export_backbone` and :func:`export_head` write a
backbone / temporal head and check parity (same inputs through PyTorch and onnxruntime,
probabilities within ``atol``). :func:`session` builds every ``onnxruntime.InferenceSession``
(``fertk run --engine onnxruntime``, the ``onnxruntime``/``ort_int8`` variants of
:mod:`fertk.inference.variants`). onnxruntime and torch are imported on first use.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fertk.errors import FertkError, MissingDependencyError

DEFAULT_OPSET = 17


def ort():
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError("engine onnxruntime", "onnxruntime") from None
    return onnxruntime


def providers(device: Any = "cpu") -> list[str]:
    """onnxruntime execution providers for a torch device (CUDA needs onnxruntime-gpu)."""
    if getattr(device, "type", str(device).split(":")[0]) != "cuda":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort().get_available_providers():
        raise FertkError("--engine onnxruntime --device cuda: this onnxruntime has no CUDA provider "
                         "(install onnxruntime-gpu, or use --engine torch)")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def session(model: str | os.PathLike | bytes, threads: int | None = None, device: Any = "cpu", *,
            exclusive: bool = False):
    """An InferenceSession for a model file or bytes.

    Shared (default): ``threads`` intra-op threads when given, idle threads sleep (detection
    and decoding share the cores). ``exclusive`` (benchmarks, :mod:`~fertk.inference.variants`):
    all optimisations, ``threads`` or torch's thread count, one inter-op thread.
    """
    rt = ort()
    so = rt.SessionOptions()
    so.log_severity_level = 3
    if exclusive:
        import torch

        so.graph_optimization_level = rt.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = int(threads or torch.get_num_threads())
        so.inter_op_num_threads = 1
    elif threads:
        so.intra_op_num_threads = int(threads)
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    try:
        return rt.InferenceSession(source, so, providers=providers(device))
    except Exception as exc:  # onnxruntime raises its own exception types
        what = "the model" if isinstance(model, bytes) else model
        raise FertkError(f"{what}: onnxruntime cannot load the model "
                         f"({str(exc).splitlines()[0]})") from None


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def to_onnx(module: Any, example: Any, dest: str | os.PathLike | None = None, *,
            input_names: tuple[str, ...] = ("input",), output_names: tuple[str, ...] = ("output",),
            dynamic_axes: dict[str, dict[int, str]] | None = None,
            opset: int = DEFAULT_OPSET) -> bytes | None:
    """Write ``module`` traced on ``example`` to ``dest``, or return the bytes when ``dest`` is
    None. Dynamic axes default to the batch axis of every input and output."""
    import torch

    axes = dynamic_axes or {n: {0: "batch"} for n in (*input_names, *output_names)}
    target: Any = io.BytesIO() if dest is None else str(dest)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter; callers check parity
        torch.onnx.export(module, (example,), target, input_names=list(input_names),
                          output_names=list(output_names), dynamic_axes=axes,
                          opset_version=opset, dynamo=False)
    return target.getvalue() if dest is None else None


def _parity(path: Path, what: str, got: np.ndarray, ref: np.ndarray, atol: float) -> float:
    diff = float(np.abs(softmax(got) - softmax(ref)).max())
    if not np.isfinite(diff) or diff > atol:
        raise FertkError(f"{path}: parity check failed: onnxruntime and PyTorch {what}"
                         f"probabilities differ by {diff:.2e} (> {atol:g})")
    return diff


def backbone_wrapper(net: Any):
    """``(module, has_features)``: outputs ``(logits, features)`` when the backbone has
    ``forward_features`` and ``forward_head``, else logits."""
    import torch.nn as nn

    has_features = callable(getattr(net, "forward_features", None)) and callable(
        getattr(net, "forward_head", None))

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            if has_features:
                f = self.net.forward_features(x)
                return self.net.forward_head(f), f
            return self.net(x)

    return Backbone().eval(), has_features


def export_backbone(net: Any, input_spec: dict[str, Any], path: Path, *, opset: int = DEFAULT_OPSET,
                    atol: float = 1e-4, samples: int = 4, generator: Any = None,
                    name: Path | None = None) -> tuple[list[str], float]:
    """Write the backbone to ``path`` (input ``input``; outputs ``logits`` [, ``features``]);
    ``(output names, parity)``; ``name``: the file to name in messages (``path`` is often a
    temporary one)."""
    import torch

    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    h, w = input_spec["input_size"]
    x = torch.randn(samples, input_spec["in_chans"], h, w, generator=gen)
    wrapper, has_features = backbone_wrapper(net)
    outputs = ["logits", "features"] if has_features else ["logits"]
    to_onnx(wrapper, x, path, output_names=tuple(outputs), opset=opset)
    with torch.no_grad():
        ref = wrapper(x)
    ref_logits = (ref[0] if has_features else ref).numpy()
    got = session(path).run(None, {"input": x.numpy()})[0]
    return outputs, _parity(name or path, "", got, ref_logits, atol)


def export_head(head: Any, path: Path, *, opset: int = DEFAULT_OPSET, atol: float = 1e-4,
                samples: int = 4, generator: Any = None, name: Path | None = None) -> float:
    """Write a temporal head to ``path`` (input ``window`` (B, T, D), output ``logits``); parity."""
    import torch

    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    t = int(getattr(head, "seq_len", None) or 9)
    d = int(head.input_dim)
    win = torch.softmax(torch.randn(samples, t, d, generator=gen), -1) \
        if head.input_kind == "probs" else torch.randn(samples, t, d, generator=gen)
    axes = {"window": {0: "batch"}, "logits": {0: "batch"}}
    if getattr(head, "seq_len", None) is None:
        axes["window"][1] = "time"
    to_onnx(head.eval(), win, path, input_names=("window",), output_names=("logits",),
            dynamic_axes=axes, opset=opset)
    with torch.no_grad():
        href = head(win).numpy()
    hgot = session(path).run(None, {"window": win.numpy()})[0]
    return _parity(name or path, "head ", hgot, href, atol)


class OnnxHead:
    """A temporal head exported to ONNX, callable like the torch one on numpy windows."""

    def __init__(self, path: Path, options: dict[str, Any], num_classes: int):
        self.path = Path(path)
        self.session = session(self.path)
        self.input_kind = options.get("input_kind", "probs")
        self.seq_len = options.get("seq_len", 9)
        self.num_classes = num_classes

    def eval(self) -> OnnxHead:
        return self
