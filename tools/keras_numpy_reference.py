"""Exact NumPy (float64) interpreter of a Keras 2 functional model read straight from its HDF5 file.

Used once to compute the reference outputs of ``fer``'s ``emotion_model.hdf5`` without
TensorFlow (see ``tools/make_parity_reference.py``). It walks the ``model_config`` graph and
implements the layers that model uses with Keras/TensorFlow semantics:

- ``Conv2D`` (NHWC, kernel HWIO, "valid"/"same" padding with TF's bottom/right-first
  asymmetric split, strides, optional bias, linear/relu/softmax activation),
- ``SeparableConv2D`` (depthwise ``(kh, kw, C, m)`` then pointwise ``(1, 1, C·m, F)``),
- ``BatchNormalization`` (inference: ``gamma·(x−mean)/sqrt(var+eps)+beta``),
- ``Activation``, ``MaxPooling2D`` (padding with −inf), ``Add``, ``GlobalAveragePooling2D``.

Nothing here imports torch or fertk: it is an independent implementation.

    python tools/keras_numpy_reference.py emotion_model.hdf5 faces.npy   # prints probabilities
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import numpy as np


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int], padding: str,
         value: float = 0.0) -> np.ndarray:
    if padding == "valid":
        return x
    if padding != "same":
        raise NotImplementedError(padding)
    pt, pb = _same_pads(x.shape[1], kernel[0], strides[0])
    pl, pr = _same_pads(x.shape[2], kernel[1], strides[1])
    return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)


def _windows(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    """(N, OH, OW, kh, kw, C) sliding windows of an already padded NHWC array."""
    kh, kw = kernel
    sh, sw = strides
    n, h, w, c = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.empty((n, oh, ow, kh, kw, c), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, :, i, j, :] = x[:, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw, :]
    return out


def conv2d(x, kernel, bias, strides, padding):
    kh, kw, _, _ = kernel.shape
    win = _windows(_pad(x, (kh, kw), strides, padding), (kh, kw), strides)
    y = np.einsum("nhwijc,ijcf->nhwf", win, kernel)
    return y + bias if bias is not None else y


def depthwise2d(x, kernel, strides, padding):
    kh, kw, c, m = kernel.shape
    win = _windows(_pad(x, (kh, kw), strides, padding), (kh, kw), strides)
    y = np.einsum("nhwijc,ijcm->nhwcm", win, kernel)
    return y.reshape(*y.shape[:3], c * m)


def max_pool(x, pool, strides, padding):
    win = _windows(_pad(x, pool, strides, padding, value=-np.inf), pool, strides)
    return win.max(axis=(3, 4))


def activation(x, name):
    if name in ("linear", None):
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise NotImplementedError(name)


class KerasModel:
    """A Keras 2 functional model evaluated in float64 NumPy from its HDF5 file."""

    def __init__(self, path: str):
        import h5py

        with h5py.File(path, "r") as f:
            config = f.attrs["model_config"]
            self.config = json.loads(config.decode() if isinstance(config, bytes) else config)
            group = f["model_weights"] if "model_weights" in f else f
            self.weights: dict[str, dict[str, np.ndarray]] = {}
            for layer in self.config["config"]["layers"]:
                name = layer["name"]
                if name not in group:
                    continue
                found: dict[str, np.ndarray] = {}
                group[name].visititems(
                    lambda key, obj, found=found: found.__setitem__(key.split("/")[-1].split(":")[0], obj[()])
                    if hasattr(obj, "shape") else None
                )
                self.weights[name] = {k: np.asarray(v, dtype=np.float64) for k, v in found.items()}
        self.layers = self.config["config"]["layers"]
        self.inputs = [i[0] for i in self.config["config"]["input_layers"]]
        self.outputs = [o[0] for o in self.config["config"]["output_layers"]]

    def _layer(self, layer: dict[str, Any], args: list[np.ndarray]) -> np.ndarray:
        kind, cfg, w = layer["class_name"], layer["config"], self.weights.get(layer["name"], {})
        if kind == "Conv2D":
            y = conv2d(args[0], w["kernel"], w.get("bias"), tuple(cfg["strides"]), cfg["padding"])
            return activation(y, cfg["activation"])
        if kind == "SeparableConv2D":
            y = depthwise2d(args[0], w["depthwise_kernel"], tuple(cfg["strides"]), cfg["padding"])
            y = conv2d(y, w["pointwise_kernel"], w.get("bias"), (1, 1), "valid")
            return activation(y, cfg["activation"])
        if kind == "BatchNormalization":
            assert cfg["axis"] in (-1, 3), cfg["axis"]
            gamma = w.get("gamma", 1.0)
            beta = w.get("beta", 0.0)
            return gamma * (args[0] - w["moving_mean"]) / np.sqrt(w["moving_variance"] + cfg["epsilon"]) + beta
        if kind == "Activation":
            return activation(args[0], cfg["activation"])
        if kind == "MaxPooling2D":
            return max_pool(args[0], tuple(cfg["pool_size"]), tuple(cfg["strides"]), cfg["padding"])
        if kind == "Add":
            return sum(args[1:], args[0])
        if kind == "GlobalAveragePooling2D":
            return args[0].mean(axis=(1, 2))
        raise NotImplementedError(f"layer type {kind}")

    def predict(self, x: np.ndarray, return_all: bool = False):
        """``x``: (N, H, W, C) already preprocessed; returns the model output (probabilities)."""
        values: dict[str, np.ndarray] = {self.inputs[0]: np.asarray(x, dtype=np.float64)}
        pending = [layer for layer in self.layers if layer["class_name"] != "InputLayer"]
        while pending:  # layers are topologically ordered in practice; loop for safety
            rest = []
            for layer in pending:
                sources = [node[0] for node in layer["inbound_nodes"][0]]
                if all(s in values for s in sources):
                    values[layer["name"]] = self._layer(layer, [values[s] for s in sources])
                else:
                    rest.append(layer)
            if len(rest) == len(pending):
                raise RuntimeError("graph has unresolved inputs")
            pending = rest
        out = values[self.outputs[0]]
        return (out, values) if return_all else out


def fer_preprocess(gray_u8: np.ndarray) -> np.ndarray:
    """fer's ``preprocess_input(x, v2=True)``: x/255, −0.5, ×2 (NHWC with one channel)."""
    x = gray_u8.astype(np.float64) / 255.0
    x = (x - 0.5) * 2.0
    return x[..., None] if x.ndim == 3 else x


if __name__ == "__main__":  # pragma: no cover
    model = KerasModel(sys.argv[1])
    faces = np.load(sys.argv[2])
    np.set_printoptions(precision=5, suppress=True)
    print(model.predict(fer_preprocess(faces)))
