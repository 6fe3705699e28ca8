"""Parameter, MAC and timing measurements."""

from __future__ import annotations

import math
import time

import torch

import fertk
from fertk.models.cost import (
    count_macs,
    count_params,
    example_input,
    matmul_gflops,
    measure_latency,
    model_cost,
)


def test_compact_macs_match_layer_arithmetic():
    model = fertk.create("backbones", "compact")
    convs = 96 * 96 * 64 * 25 * (1 + 64) + 48 * 48 * 64 * 64 * 25 * 2
    fcs = 64 * 24 * 24 * 64 + 64 * 64 + 64 * 7
    macs = count_macs(model, torch.zeros(1, 1, 96, 96))
    assert macs == convs + fcs
    assert abs(macs / 1e9 - 1.43) < 0.01  # "about 1.43 GMAC per face"
    assert count_macs(model, torch.zeros(2, 1, 96, 96)) == 2 * macs
    assert model.training  # the training flag is restored


def test_head_cost():
    head = fertk.create("temporal", "gru", num_classes=7)
    x = example_input(head)
    assert x.shape == (1, 9, 7) and torch.allclose(x.sum(-1), torch.ones(1, 9))
    assert count_macs(head, x) == 9 * 3 * (7 * 128 + 128 * 128) + 128 * 7
    assert count_params(fertk.create("temporal", "average")) == 0


def test_trainable_only_and_latency():
    model = fertk.create("backbones", "compact_tiny")
    for p in model.features.parameters():
        p.requires_grad_(False)
    assert count_params(model, trainable_only=True) < count_params(model) == 1_229_623
    stats = measure_latency(model.eval(), example_input(model), warmup=1, iters=3)
    assert stats["calls"] == 3 and 0 < stats["min_ms"] <= stats["median_ms"] <= stats["p90_ms"]
    t0 = time.perf_counter()
    rate = matmul_gflops(128, seconds=0.05)
    elapsed = time.perf_counter() - t0
    # the rate is 2 n^3 flops over the best single matmul, which took part of the call
    best = 2 * 128**3 / (rate * 1e9)
    assert math.isfinite(rate) and 0 < best < elapsed
    assert rate < 1e5  # GFLOP/s, not FLOP/s: no CPU does 100 TFLOP/s in fp32


def test_model_cost_report():
    cost = model_cost(fertk.create("backbones", "dtan"), batch=4, iters=3, max_seconds=1)
    assert cost["params"] == 5_766_635 and cost["input_shape"] == [1, 64, 64]
    assert cost["macs"] > 0 and cost["latency_ms"] > 0 and cost["throughput_b4"] > 0
    assert set(model_cost(fertk.create("temporal", "last"), timing=False)) == {"params", "macs", "input_shape"}
