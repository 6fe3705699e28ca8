"""Model cost: parameter counts, MACs (torch.utils.flop_counter), CPU latency and throughput."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (of those with ``requires_grad`` if ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module | Callable[..., Any], *inputs: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass on ``inputs`` (FLOPs of matmul/conv ops / 2).

    Counted with :class:`torch.utils.flop_counter.FlopCounterMode`, which sees every matmul,
    convolution and attention op (GRU cells included); element-wise ops are not counted.
    """
    from torch.utils.flop_counter import FlopCounterMode

    was_training = getattr(model, "training", None)
    if isinstance(model, nn.Module):
        model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(*inputs)
    finally:
        if isinstance(model, nn.Module) and was_training:
            model.train()
    return int(counter.get_total_flops() // 2)


def example_input(model: nn.Module, batch: int = 1) -> torch.Tensor:
    """A random input batch at the model's declared size: backbone (B, C, H, W) or head (B, T, D)."""
    if hasattr(model, "input_kind"):  # temporal head
        t = getattr(model, "seq_len", None) or 9
        d = int(getattr(model, "input_dim", None) or model.num_classes)
        x = torch.rand(batch, t, d)
        return x / x.sum(-1, keepdim=True) if model.input_kind == "probs" else x
    h, w = getattr(model, "input_size", (96, 96))
    return torch.randn(batch, int(getattr(model, "in_chans", 1)), int(h), int(w))


def measure_latency(
    fn: Callable[[torch.Tensor], Any],
    example: torch.Tensor,
    warmup: int = 3,
    iters: int = 20,
    max_seconds: float = 5.0,
    rounds: int = 1,
    warmup_seconds: float = 0.0,
) -> dict[str, float]:
    """Wall-clock per call of ``fn(example)`` under ``torch.no_grad``: median/mean/min/p90 in ms.

    At least ``warmup`` untimed calls (and ``warmup_seconds`` of them), then ``iters`` timed
    calls in ``rounds`` rounds; stops early after ``max_seconds`` of timed calls (at least 3
    calls and one whole round are timed). ``best_ms`` is the lowest median of a round, which
    another process' burst of work does not inflate the way it inflates the overall median;
    ``spread`` is the median of the rounds' medians over ``best_ms`` (about 1 on a quiet
    machine).
    """
    times: list[float] = []
    medians: list[float] = []
    per_round = max(1, -(-iters // max(1, rounds)))
    with torch.no_grad():
        start = time.perf_counter()
        done = 0
        while done < warmup or time.perf_counter() - start < warmup_seconds:
            fn(example)
            done += 1
        start = time.perf_counter()
        for _ in range(max(1, rounds)):
            chunk: list[float] = []
            while len(chunk) < per_round and len(times) + len(chunk) < max(iters, 1):
                t0 = time.perf_counter()
                fn(example)
                chunk.append((time.perf_counter() - t0) * 1000.0)
                if not medians and len(chunk) >= 3 and time.perf_counter() - start > max_seconds:
                    break  # a slow model: one short round is enough
            if not chunk:
                break
            times += chunk
            medians.append(statistics.median(chunk))
            if len(times) >= 3 and time.perf_counter() - start > max_seconds:
                break
    best = min(medians)
    ordered = sorted(times)
    return {
        "median_ms": statistics.median(ordered),
        "mean_ms": statistics.fmean(ordered),
        "min_ms": ordered[0],
        "p90_ms": ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))],
        "best_ms": best,
        "spread": statistics.median(medians) / best if best > 0 else 1.0,
        "rounds": len(medians),
        "calls": len(ordered),
    }


def thread_candidates(cpus: int | None = None) -> list[int]:
    """Thread counts worth trying on this machine: 1, powers of two and the CPU count."""
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    out, t = {1, max(1, cpus)}, 2
    while t < cpus:
        out.add(t)
        t *= 2
    return sorted(out)


def fastest_threads(
    fn: Callable[[torch.Tensor], Any],
    example: torch.Tensor,
    candidates: list[int] | None = None,
    calls: int = 5,
    max_seconds: float = 0.5,
) -> tuple[int, dict[int, float]]:
    """The torch thread count under which ``fn(example)`` is fastest, chosen by measuring
    (the fastest of ``calls`` calls at each of ``candidates``; on a busy machine one thread is
    often far faster than all of them, which then fight the other work for the cores).
    Returns ``(threads, {threads: ms})``; torch's thread count is left as it was."""
    from fertk.threads import torch_threads

    ms: dict[int, float] = {}
    for t in candidates or thread_candidates():
        with torch_threads(t):
            ms[t] = measure_latency(fn, example, warmup=2, iters=calls, max_seconds=max_seconds)["min_ms"]
    return min(ms, key=lambda t: (ms[t], t)), ms


def machine_load() -> float | None:
    """Runnable processes per CPU over the last minute (``os.getloadavg``), None where unknown."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return load / max(1, cpus)


def measure_throughput(
    fn: Callable[[torch.Tensor], Any],
    example: torch.Tensor,
    warmup: int = 1,
    iters: int = 5,
    max_seconds: float = 5.0,
) -> float:
    """Items per second of ``fn`` on the batch ``example`` (median batch time)."""
    stats = measure_latency(fn, example, warmup=warmup, iters=iters, max_seconds=max_seconds)
    return example.shape[0] / (stats["median_ms"] / 1000.0)


def matmul_gflops(n: int = 1024, seconds: float = 1.0) -> float:
    """The machine's fp32 matmul rate in GFLOP/s (best of repeated n×n matmuls)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    start = time.perf_counter()
    reps = 0
    while reps < 3 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
        reps += 1
    return 2.0 * n**3 / best / 1e9


def model_cost(
    model: nn.Module,
    timing: bool = True,
    batch: int = 32,
    iters: int = 20,
    max_seconds: float = 3.0,
) -> dict[str, Any]:
    """Parameters, MACs at the model's input size and (optionally) batch-1 latency and
    batch-``batch`` throughput in eager fp32 on this CPU."""
    model.eval()
    x1 = example_input(model, 1)
    out: dict[str, Any] = {"params": count_params(model), "macs": count_macs(model, x1)}
    out["input_shape"] = list(x1.shape[1:])
    if timing:
        out["latency_ms"] = round(measure_latency(model, x1, iters=iters, max_seconds=max_seconds)["median_ms"], 3)
        xb = example_input(model, batch)
        out[f"throughput_b{batch}"] = round(measure_throughput(model, xb, max_seconds=max_seconds), 1)
    return out
