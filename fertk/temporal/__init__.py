"""Built-in temporal heads, registered through the ``register_temporal_heads`` hook like any plugin's.

Factories are given as ``"module:attribute"`` strings so that heavy imports happen only
when a component is built. :func:`resample_uniform` (numpy/torch) is re-exported here.
"""

from __future__ import annotations

from fertk.hookspecs import hookimpl
from fertk.temporal.resample import resample_uniform, uniform_indices

__all__ = ["resample_uniform", "uniform_indices", "register_temporal_heads"]


@hookimpl
def register_temporal_heads(register):
    register(
        "gru",
        "fertk.temporal.heads:GRUHead",
        description="Paper's frame-to-sequence head: per-frame probs resampled to 9 steps, "
        "1 GRU layer of 128, prediction after the last step",
        input_kind="probs",
        trainable=True,
        paper=True,
        recipe="examples/configs/fer2013_tiny_gru.yaml",
    )
    register(
        "average",
        "fertk.temporal.heads:AverageHead",
        description="Mean of the per-frame class probabilities (no parameters)",
        input_kind="probs",
        trainable=False,
    )
    register(
        "last",
        "fertk.temporal.heads:LastHead",
        description="The last (peak) frame's probabilities alone (no parameters)",
        input_kind="probs",
        trainable=False,
    )
