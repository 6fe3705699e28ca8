"""fertk-mediapipe: the ``mediapipe`` detector (face detection + face mesh landmarks).

Uses the models shipped inside the mediapipe 0.10.21 wheel (``mp.solutions``), so it works
offline. Registers the 6-keypoint layout of mediapipe's face detector as scheme
``mediapipe6``.
"""

from __future__ import annotations

from fertk import hookimpl
from fertk.types import LandmarkScheme, register_scheme

__version__ = "0.1.0"

# Face detection keypoints: right eye, left eye (subject's), nose tip, mouth centre,
# right ear tragion, left ear tragion. The subject's right eye has the smaller x.
register_scheme(LandmarkScheme("mediapipe6", 6, nose=2, left_eye=(0,), right_eye=(1,), mouth=(3,)))


@hookimpl
def register_detectors(register):
    register(
        "mediapipe",
        "fertk_mediapipe.detector:build_mediapipe",
        description="mediapipe face detection + face mesh (478 landmarks with irises), offline",
        landmarks="mediapipe478",
        options=["mesh", "refine", "model_selection", "min_confidence", "max_faces", "largest", "min_size"],
    )
