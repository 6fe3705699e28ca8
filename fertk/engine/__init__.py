"""Training, evaluation and comparison engine of fertk (``fertk train``/``eval``/``compare``).

Submodules import torch only where they need it: :mod:`fertk.engine.metrics`,
:mod:`fertk.engine.config` and :mod:`fertk.engine.stats` are numpy/stdlib only.
"""
