"""Prepared data: detection + cropping run once per data set into a memory-mapped cache.

:func:`prepare` builds (or loads) a :class:`PreparedSet`; training turns its crops into
augmented, normalised batches with :class:`fertk.training.batching.BatchPipeline` (the one
batch path). Importing this package is light (numpy only); torch/cv2/dlib are imported when
work starts.
"""

from __future__ import annotations

from fertk.data.prepare import cache_key, default_cache_dir, prepare
from fertk.data.prepared import PreparedSet

__all__ = ["PreparedSet", "cache_key", "default_cache_dir", "prepare"]
