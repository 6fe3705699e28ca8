"""Built-in face detectors, registered through the ``register_detectors`` hook like any plugin's.

Factories are given as ``"module:attribute"`` strings so that heavy imports (dlib, cv2)
happen only when a component is built. Plugins add more (``fertk-mediapipe``,
``fertk-insightface``). Every detector returns faces sorted by area, largest first, and
accepts ``largest``, ``min_size`` and ``max_side`` (see :mod:`fertk.detectors.base`).
"""

from __future__ import annotations

from fertk.faces import DEFAULT_DETECTOR  # noqa: F401 - the default lives in fertk.faces (re-exported)
from fertk.hookspecs import hookimpl


@hookimpl
def register_detectors(register):
    register(
        "dlib",
        "fertk.detectors.dlib_detector:build_dlib",
        description="dlib HOG (or CNN, model=cnn) face detector + 68-point landmarks (default)",
        landmarks="dlib68",
        options=["model", "upsample", "landmarks", "threshold", "fit_box", "largest", "min_size",
                 "max_side"],
    )
    register(
        "none",
        "fertk.faces:WholeImage",
        description="no detection: the whole image is one face (faces cropped already, "
                    "fertk.classify); cropped as the model was trained on whole faces",
        landmarks=None,
        options=[],
    )
    register(
        "opencv",
        "fertk.detectors.opencv_detector:build_opencv",
        description="OpenCV Haar cascade (boxes only, no landmarks): light fallback",
        landmarks=None,
        options=["cascade", "scale_factor", "min_neighbors", "equalize", "largest", "min_size", "max_side"],
    )
