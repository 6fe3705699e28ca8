"""Parameter, MAC and timing measurements."""

from __future__ import annotations

import math
import time

import pytest
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


class _FakeClock:
    """``time.perf_counter`` that advances only when the timed function says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_latency_is_the_best_rounds_median_under_bursts_of_load(monkeypatch):
    """A burst of other work slows one round: the best round's median is the model's speed,
    while the plain median of every call would report the burst."""
    import fertk.models.cost as cost

    clock = _FakeClock()
    monkeypatch.setattr(cost.time, "perf_counter", clock)
    durations = iter([0.1] * 3 + [0.150] * 6 + [0.002] * 4)  # warm-up, 2 busy rounds, a quiet one

    def fn(x):
        clock.now += next(durations)

    stats = cost.measure_latency(fn, torch.zeros(1), warmup=3, iters=10, rounds=5, max_seconds=60)
    assert stats["rounds"] == 5 and stats["calls"] == 10
    assert stats["best_ms"] == pytest.approx(2.0) and stats["median_ms"] == pytest.approx(150.0)
    assert stats["spread"] == pytest.approx(75.0)


def test_threads_are_chosen_by_measurement(monkeypatch):
    import fertk.models.cost as cost

    clock = _FakeClock()
    monkeypatch.setattr(cost.time, "perf_counter", clock)
    cost_of = {1: 0.004, 2: 0.170, 4: 0.003}  # a busy machine: 2 threads fight the other work

    def fn(x):
        clock.now += cost_of[torch.get_num_threads()]

    before = torch.get_num_threads()
    assert cost.fastest_threads(fn, torch.zeros(1), [1, 2]) == (1, pytest.approx({1: 4.0, 2: 170.0}))
    assert cost.fastest_threads(fn, torch.zeros(1), [1, 2, 4])[0] == 4
    assert torch.get_num_threads() == before
    assert cost.thread_candidates(1) == [1] and cost.thread_candidates(6) == [1, 2, 4, 6]
