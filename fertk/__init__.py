"""fertk: a facial expression recognition toolkit built from swappable, registered parts.

The top-level names are light: importing :mod:`fertk` does not import torch, dlib or timm.
Heavy components are built on demand through the registries (see :mod:`fertk.registry`).
"""

from __future__ import annotations

from fertk._version import __version__
from fertk.errors import FertkError
from fertk.hookspecs import hookimpl, hookspec
from fertk.plugins import Context, default_context, get_plugin_manager, registries
from fertk.registry import Registry, UnknownComponentError


def create(kind: str, name: str, **options):
    """Build the component ``name`` of ``kind`` (e.g. ``create("backbones", "compact")``)
    from the default plugin context's registries."""
    return default_context().get_registry(kind).create(name, **options)


def list_components(kind: str, pattern: str | None = None) -> list[str]:
    """Names registered for ``kind``, optionally filtered by an ``fnmatch`` pattern."""
    return default_context().get_registry(kind).names(pattern)


#: Lazy top-level names → their modules (imported on first use; torch only when a pipeline
#: is built).
_LAZY = {"Pipeline": "fertk.pipeline", "analyze": "fertk.pipeline", "Results": "fertk.pipeline",
         "classify": "fertk.pipeline", "top_emotion": "fertk.pipeline",
         "NoFaceError": "fertk.pipeline",
         "to_dataframe": "fertk.io.results", "read_results": "fertk.io.table",
         "plot_faces": "fertk.plots",
         "plot_timeline": "fertk.plots"}


def __getattr__(name: str):
    """``fertk.analyze``, ``fertk.classify``, ``fertk.top_emotion``, ``fertk.Pipeline``,
    ``fertk.plot_faces``, ... (see :data:`_LAZY`)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fertk' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    """The module's names and the lazy ones, so that ``dir(fertk)`` and tab completion
    (IPython, the ``python`` prompt) offer ``fertk.analyze``, ``fertk.Pipeline``, ..."""
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Context",
    "NoFaceError",
    "Pipeline",
    "Results",
    "analyze",
    "classify",
    "plot_faces",
    "plot_timeline",
    "read_results",
    "to_dataframe",
    "top_emotion",
    "__version__",
    "FertkError",
    "Registry",
    "UnknownComponentError",
    "create",
    "default_context",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "list_components",
    "registries",
]
