"""Built-in pretrained weights, registered through the ``register_weights`` hook like any plugin's.

Factories are given as ``"module:attribute"`` strings so that heavy imports happen only
when a component is built.
"""

from __future__ import annotations

from fertk.hookspecs import hookimpl


@hookimpl
def register_weights(register):
    pass
