"""Prepared data: detection + cropping run once per data set into a memory-mapped cache.

:func:`prepare` builds (or loads) a :class:`PreparedSet`; :class:`BatchLoader` turns its
crops into augmented, normalised training batches. Importing this package is light (numpy
only); torch/cv2/dlib are imported when work starts.
"""

from __future__ import annotations

from fertk.data.prepare import cache_key, default_cache_dir, prepare
from fertk.data.prepared import PreparedSet

__all__ = ["PreparedSet", "cache_key", "default_cache_dir", "prepare", "BatchLoader"]


def __getattr__(name: str):
    if name == "BatchLoader":
        from fertk.data.loader import BatchLoader

        return BatchLoader
    raise AttributeError(name)
