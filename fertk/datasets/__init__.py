"""Built-in data sets, registered through the ``register_datasets`` hook like any plugin's.

Factories are given as ``"module:attribute"`` strings so that heavy imports happen only
when a component is built.
"""

from __future__ import annotations

from fertk.hookspecs import hookimpl


@hookimpl
def register_datasets(register):
    pass
