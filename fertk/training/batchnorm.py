"""Batch-norm statistics that match the weights, for every backbone (built-in, timm, plugin).

A network in evaluation mode normalises with its *running* batch-norm statistics, which
training keeps as an exponential average of past batches. With a slow average (Keras'
momentum 0.99, which the mini-Xception port keeps so that the imported weights load exactly)
and few batches per epoch, those statistics lag far behind weights that change fast, and the
model collapses in evaluation mode although it learnt: training accuracy 98 %, evaluation at
chance. Two pieces, used by the frame stage (:func:`fertk.training.stages.run_frame_stage`):

- :func:`recompute_stats` ("precise BN", Wu & Johnson 2021): before every validation the
  running statistics are recomputed as the plain average over ``frame.precise_bn`` training
  batches with the current weights, whatever the layers' momentum. Validation, model
  selection and the saved checkpoints all see statistics that belong to their weights.
- :func:`mode_gap` (the guard): evaluation-mode accuracy against batch-statistics accuracy
  on the same training images; a large gap is reported in one line (log and ``result.json``)
  instead of a collapsed model being reported as a result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

_BN = nn.modules.batchnorm._BatchNorm

#: Evaluation-mode accuracy this far (absolute) below batch-statistics accuracy on the same
#: training images is reported as a batch-norm mismatch.
GAP_WARN = 0.25


def bn_layers(model: nn.Module) -> list[nn.Module]:
    """The batch-norm layers that keep running statistics."""
    return [m for m in model.modules() if isinstance(m, _BN) and m.track_running_stats]


@torch.no_grad()
def recompute_stats(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Running mean and variance of every batch-norm layer recomputed as the average over
    ``batches`` (forward passes in training mode, no gradients, dropout and other layers as
    in training); returns the number of batches used (0: no batch-norm layer, nothing done).

    Only batch-norm buffers change: momentum, mode and parameters are restored."""
    layers = bn_layers(model)
    if not layers:
        return 0
    was = model.training
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the plain mean over the batches
    model.train()
    n = 0
    try:
        for x in batches:
            model(x)
            n += 1
    finally:
        for m, mom in zip(layers, momenta, strict=True):
            m.momentum = mom
        model.train(was)
    return n


@torch.no_grad()
def mode_gap(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """``(evaluation-mode accuracy, batch-statistics accuracy)`` of ``model`` on ``x``.

    The second pass normalises with the batch's own statistics (batch-norm layers in training
    mode, everything else, dropout included, in evaluation mode) and leaves the running
    statistics as they were."""
    layers = bn_layers(model)
    was = model.training
    model.eval()
    try:
        eval_acc = float((model(x).argmax(1) == y).float().mean())
        if not layers:
            return eval_acc, eval_acc
        saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
                 for m in layers]
        for m in layers:
            m.train()
        try:
            batch_acc = float((model(x).argmax(1) == y).float().mean())
        finally:
            for m, (mean, var, count) in zip(layers, saved, strict=True):
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)
                m.eval()
    finally:
        model.train(was)
    return eval_acc, batch_acc


def gap_warning(name: str, eval_acc: float, batch_acc: float, precise: int) -> str | None:
    """The one-line report of a batch-norm mismatch, or None when the accuracies agree."""
    if batch_acc - eval_acc < GAP_WARN:
        return None
    cause = ("its running statistics do not match its weights (a slow batch-norm momentum or "
             "too few batches per epoch)")
    fix = ("raise frame.precise_bn" if precise else "set frame.precise_bn (e.g. 32 batches)")
    return (f"{name}: evaluation-mode accuracy {100 * eval_acc:.1f} % on training images vs "
            f"{100 * batch_acc:.1f} % with batch statistics: batch norm is likely broken, "
            f"{cause}; {fix}")


def training_batches(pipe: Any, src: torch.Tensor, order: Any, batch: int, count: int,
                     generator: torch.Generator) -> Callable[[], Iterable[torch.Tensor]]:
    """``count`` augmented training batches of ``batch`` rows from ``src`` in ``order``
    (a generator factory for :func:`recompute_stats`)."""

    def batches() -> Iterable[torch.Tensor]:
        for b in range(count):
            idx = order[b * batch : (b + 1) * batch]
            if len(idx) == 0:
                return
            yield pipe.train(src[torch.as_tensor(idx).to(src.device)], generator)
    return batches
