"""The frame stage's loss: one function of the logits and the batch's targets.

Targets are class indices, or ``(B, C)`` distributions where the data set gives them
(:attr:`fertk.training.arrays.ArraySet.targets`, FER+'s annotators' votes), used as the data
set's ``target_kind`` says (FERPlus's ``train.py`` for its label modes):

- ``soft``: cross-entropy with the distribution, ``-sum_c t_c log p_c`` (on a one-hot target
  it is the cross-entropy of the index, to the last bit of torch's kernel);
- ``sample``: one class drawn from the distribution for every face of every batch (the
  batch's generator: a resumed run draws the same), then the cross-entropy of that index;
- ``max``: ``-log max_c (t_c p_c)``, FERPlus's multi-label loss: any class the annotators
  gave enough votes is as good as another.

Rare classes (both off by default; see docs/training.md):

- ``frame.class_balance``: ``inverse`` or ``sqrt`` weights each class's term by the inverse
  (square root of the inverse) of its share of the training targets, mean weight 1;
- ``frame.logit_adjust: tau``: the logit-adjusted loss (Menon et al., ICLR 2021): the
  training logits get ``tau * log prior`` added, so the model learns the balanced posterior;
  predictions use the logits as they are.

``frame.label_smoothing`` applies to ``soft`` and ``sample`` as to indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fertk.errors import FertkError

TARGET_KINDS = ("soft", "sample", "max")
CLASS_BALANCES = ("none", "inverse", "sqrt")


def class_prior(targets: np.ndarray, classes: int) -> np.ndarray:
    """Each class's share of the training targets (indices or distributions), floored at a
    tiny share so that an absent class has a finite log prior."""
    t = np.asarray(targets)
    counts = t.sum(0) if t.ndim == 2 else np.bincount(t[t >= 0].astype(np.int64), minlength=classes)
    counts = np.asarray(counts, np.float64)[:classes]
    prior = counts / max(counts.sum(), 1e-12)
    return np.maximum(prior, 1e-6)


def class_weights(prior: np.ndarray, balance: str) -> np.ndarray | None:
    """Per-class weights of ``frame.class_balance`` (mean 1 over the classes), or None."""
    if balance == "none":
        return None
    w = 1.0 / prior if balance == "inverse" else 1.0 / np.sqrt(prior)
    return w * (len(w) / w.sum())


@dataclass
class FrameLoss:
    """``loss(logits, targets, generator)`` for one training run; see the module docstring."""

    kind: str = ""  # "" for class indices, else one of TARGET_KINDS
    label_smoothing: float = 0.0
    weight: torch.Tensor | None = None
    logit_bias: torch.Tensor | None = None

    def tensor(self, targets: np.ndarray) -> torch.Tensor:
        """The training targets as a tensor: long indices, or float distributions."""
        if np.asarray(targets).ndim == 2:
            return torch.as_tensor(np.asarray(targets), dtype=torch.float32)
        return torch.as_tensor(targets, dtype=torch.long)

    @staticmethod
    def labels(y: torch.Tensor) -> torch.Tensor:
        """The class index of each target (a distribution's largest entry)."""
        return y.argmax(1) if y.ndim == 2 else y

    def to(self, device: torch.device) -> FrameLoss:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return FrameLoss(self.kind, self.label_smoothing, move(self.weight), move(self.logit_bias))

    def __call__(self, logits: torch.Tensor, y: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        logits = logits.float()
        if self.logit_bias is not None:
            logits = logits + self.logit_bias
        if y.ndim == 2 and self.kind == "sample":
            y = torch.multinomial(y.cpu(), 1, generator=generator).squeeze(1).to(logits.device)
        if y.ndim == 2 and self.kind == "max":
            picked = (y * logits.softmax(1)).amax(1)
            return -torch.log(picked.clamp_min(1e-12)).mean()
        if self.weight is None:
            return F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        return F.cross_entropy(logits, y, weight=self.weight, label_smoothing=self.label_smoothing)


def frame_loss(stage: Any, targets: np.ndarray, classes: int, target_kind: str = "") -> FrameLoss:
    """The loss of a frame stage (``frame.*`` config ``stage``) on these training ``targets``
    (indices, or distributions used as ``target_kind`` says)."""
    t = np.asarray(targets)
    kind = (target_kind or "soft") if t.ndim == 2 else ""
    if kind and kind not in TARGET_KINDS:
        raise FertkError(f"data: target kind {kind!r} is not one of {', '.join(TARGET_KINDS)}")
    balance = getattr(stage, "class_balance", "none")
    tau = float(getattr(stage, "logit_adjust", 0.0))
    prior = class_prior(t, classes) if balance != "none" or tau else None
    weight = class_weights(prior, balance) if prior is not None else None
    return FrameLoss(
        kind=kind, label_smoothing=float(stage.label_smoothing),
        weight=None if weight is None else torch.as_tensor(weight, dtype=torch.float32),
        logit_bias=torch.as_tensor(tau * np.log(prior), dtype=torch.float32) if tau else None)
