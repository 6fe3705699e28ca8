"""Training stops on a non-finite loss: one line, and nothing of the diverged epoch saved.

A loss of NaN or ±Inf (a learning rate too high for the model, broken data) makes every
later step NaN: the weights, the validation, the selection and the saved model would be
meaningless while the run ends "normally". Each stage checks its epoch's (or evaluation
chunk's) mean training loss with :func:`check_loss` before it validates or saves anything.
"""

from __future__ import annotations

import math

from fertk.errors import FertkError


class TrainingDiverged(FertkError):
    """The training loss is not finite."""


def check_loss(loss: float, where: str, lr_key: str, lr: float) -> None:
    """:class:`TrainingDiverged` when ``loss`` is NaN or infinite; ``where`` names the fold,
    stage and step, ``lr_key``/``lr`` the learning rate to lower."""
    if math.isfinite(loss):
        return
    raise TrainingDiverged(
        f"{where}: the training loss is {loss} (training diverged); stopped before anything of it "
        f"was validated or saved: lower {lr_key} (now {lr:g}) or check the data")


__all__ = ["TrainingDiverged", "check_loss"]
