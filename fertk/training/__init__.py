"""Training, evaluation and comparison engine of fertk (``fertk train``/``eval``/``compare``).

Submodules import torch only where they need it: :mod:`fertk.training.metrics`,
:mod:`fertk.training.config` and :mod:`fertk.training.stats` are numpy/stdlib only.
"""
