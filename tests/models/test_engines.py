"""Inference engines: fp32 engines match eager within 1e-4; int8 engines stay close."""

from __future__ import annotations

import pytest
import torch

import fertk
from fertk.engines import FP32_ENGINES, build_variant
from fertk.errors import FertkError

MODELS = ["compact", "compact_tiny", "dtan"]
# torch.compile is exercised by benchmarks/bench_models.py: compiling takes 10-30 s here.
FAST_FP32 = [e for e in FP32_ENGINES if e != "compile"]


@pytest.fixture(scope="module")
def built():
    torch.manual_seed(0)
    cache = {}
    for name in MODELS:
        model = fertk.create("backbones", name, num_classes=7).eval()
        cache[name] = (model, torch.randn(2, 1, *model.input_size))
    return cache


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("engine", FAST_FP32)
def test_fp32_engines_match_eager(built, name, engine):
    model, example = built[name]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    run = build_variant(model, engine, example)
    assert run.precision == "fp32" and run.name == engine
    x = torch.randn(3, 1, *model.input_size)  # another batch size: dynamic batch
    with torch.no_grad():
        ref = model(x)
    out = run(x)
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() < 1e-4
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())  # untouched


@pytest.mark.parametrize("engine", ["int8_dynamic", "int8_static", "ort_int8"])
def test_int8_engines_stay_close(built, engine):
    model, _ = built["compact_tiny"]
    calib = [torch.randn(8, 1, 96, 96) for _ in range(2)]
    run = build_variant(model, engine, calib[0], calibration=calib)
    assert run.precision == "int8"
    x = torch.randn(4, 1, 96, 96)
    with torch.no_grad():
        ref = model(x)
    out = run(x).float()
    assert out.shape == ref.shape and torch.isfinite(out).all()
    rel = ((out - ref).norm() / ref.norm()).item()
    assert 0 < rel < 0.1  # quantised (not identical) yet close


def test_engine_also_runs_a_plugin_backbone():
    model = fertk.create("backbones", "example_convnet", num_classes=5).eval()
    x = torch.randn(2, 1, 96, 96)
    with torch.no_grad():
        ref = model(x)
    for engine in ("torchscript", "onnxruntime"):
        assert (build_variant(model, engine, x)(x) - ref).abs().max() < 1e-4


def test_unknown_engine_lists_the_available_ones(built):
    model, example = built["compact_tiny"]
    with pytest.raises(FertkError, match="onnxruntime"):
        build_variant(model, "onnxrt", example)
    assert build_variant(model, "onnx", example).name == "onnxruntime"  # a registered alias
