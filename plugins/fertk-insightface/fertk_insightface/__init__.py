"""fertk-insightface: the ``insightface`` detector (SCRFD + 5 landmarks, optional 106 points).

The model pack (for example insightface's ``buffalo_l``) is read from a local folder; nothing
is downloaded. See the README for how to obtain a pack and its licence.
"""

from __future__ import annotations

from fertk import hookimpl

__version__ = "0.1.0"


@hookimpl
def register_detectors(register):
    register(
        "insightface",
        "fertk_insightface.scrfd:build_insightface",
        description="insightface SCRFD detector + 5 landmarks (optional 106) on onnxruntime; local model pack",
        landmarks="five_point",
        options=["model_dir", "pack", "det_size", "threshold", "nms", "landmarks", "largest", "min_size"],
    )
