"""Weight EMA (``frame.ema``): an exponential moving average of the frame model's weights.

After every optimiser step each parameter and floating-point buffer of the average moves a
share ``1 - d`` towards the trained model's (integer buffers are copied), with
``d = min(frame.ema, (1 + n) / (10 + n))`` after ``n`` updates, so the first steps do not
average in the random initialisation. The frame stage (:func:`fertk.training.stages.run_frame_stage`)
validates, selects and saves the average; the trained weights themselves follow exactly
the path they follow without it, and their validation accuracy is recorded beside the
average's (``raw_val_acc`` in the history), one run giving both curves.
"""

from __future__ import annotations

import copy
from typing import Any

import torch


class WeightAverage:
    """The running average of ``model``'s weights with decay ``decay`` (0 < decay < 1)."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def factor(self) -> float:
        """The decay of the next update."""
        n = self.updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        d = self.factor()
        own = self.model.state_dict()
        for key, value in model.state_dict().items():
            mine = own[key]
            if mine.dtype.is_floating_point:
                mine.lerp_(value.detach(), 1.0 - d)
            else:
                mine.copy_(value)
        self.updates += 1

    def state(self) -> dict[str, Any]:
        """For the trainer state (tensors and plain numbers: ``torch.load(weights_only=True)``)."""
        return {"weights": {k: v.detach().to("cpu").clone() for k, v in self.model.state_dict().items()},
                "updates": self.updates}

    def load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
