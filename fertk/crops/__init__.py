"""Built-in crop policies, registered through the ``register_crops`` hook like any plugin's.

Factories are given as ``"module:attribute"`` strings so that heavy imports (cv2) happen
only when a component is built. See :mod:`fertk.crops.policies` for the geometry.
"""

from __future__ import annotations

from fertk.faces import DEFAULT_CROP  # noqa: F401 - the default lives in fertk.faces (re-exported)
from fertk.hookspecs import hookimpl


@hookimpl
def register_crops(register):
    register(
        "landmark",
        "fertk.crops.policies:build_landmark",
        description="Paper's crop: side 1.05*max(dv, dh) of the landmarks, centred on the nose, 120x120 gray",
        needs_landmarks=True,
        options=["alpha", "shift", "size", "border"],
    )
    register(
        "box",
        "fertk.crops.policies:build_box",
        description="Square around the detector box with a margin (box-only detectors), 120x120 gray",
        needs_landmarks=False,
        options=["margin", "shift", "size", "border"],
    )
    register(
        "aligned",
        "fertk.crops.policies:build_aligned",
        description="Rotate so the eye line is horizontal, then the landmark crop",
        needs_landmarks=True,
        options=["alpha", "shift", "size", "border"],
    )
