"""Built-in frame backbones, registered through the ``register_backbones`` hook like any plugin's.

Factories are given as ``"module:attribute"`` strings so that heavy imports happen only
when a component is built.
"""

from __future__ import annotations

from fertk.hookspecs import hookimpl


@hookimpl
def register_backbones(register):
    pass
