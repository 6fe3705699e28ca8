"""Old name of :mod:`fertk.training` (``fertk train``, ``eval``, ``compare``), kept for one
release: ``fertk.engine`` read as the inference engines (:mod:`fertk.inference`,
``--engine``), so the training package was renamed. ``import fertk.engine.train`` and
``from fertk.engine.config import ...`` still give the very same modules, with a
DeprecationWarning."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import warnings

from fertk import training as _training

warnings.warn("fertk.engine is now fertk.training; the old name goes in the next release",
              DeprecationWarning, stacklevel=2)

for _info in pkgutil.iter_modules(_training.__path__):
    sys.modules[f"{__name__}.{_info.name}"] = importlib.import_module(f"fertk.training.{_info.name}")


def __getattr__(name: str):
    return getattr(_training, name)
