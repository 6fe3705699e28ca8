"""Landmark layouts: :class:`LandmarkScheme` and the schemes fertk knows itself.

Looked up through the plugin context (:func:`fertk.types.get_scheme`,
:meth:`fertk.plugins.Context.find_scheme`), which adds the schemes of plugins. This module
imports nothing of fertk, so both :mod:`fertk.types` and :mod:`fertk.plugins` can use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LandmarkScheme:
    """A named landmark layout and the indices of the points the crop policies need.

    ``nose`` is the crop centre of the paper's landmark crop; ``left_eye``/``right_eye`` are
    the indices averaged to get each eye centre (subject's left/right as seen in the image:
    ``left_eye`` has the smaller x on a frontal face).
    """

    name: str
    num_points: int
    nose: int
    left_eye: tuple[int, ...]
    right_eye: tuple[int, ...]
    mouth: tuple[int, ...] = ()


#: The landmark schemes fertk knows itself (plus any added with :func:`register_scheme`);
#: plugins add theirs with the ``register_landmark_schemes`` hook, which go into the plugin
#: context (:meth:`fertk.plugins.Context.find_scheme`), not here.
SCHEMES: dict[str, LandmarkScheme] = {
    "dlib68": LandmarkScheme(
        "dlib68", 68, nose=30, left_eye=tuple(range(36, 42)), right_eye=tuple(range(42, 48)),
        mouth=tuple(range(48, 68)),
    ),
    # dlib's 5-point model: 0-1 one eye's corners, 2-3 the other's, 4 below the nose.
    "dlib5": LandmarkScheme("dlib5", 5, nose=4, left_eye=(2, 3), right_eye=(0, 1)),
    # insightface / RetinaFace order: left eye, right eye, nose, left mouth, right mouth.
    "five_point": LandmarkScheme("five_point", 5, nose=2, left_eye=(0,), right_eye=(1,), mouth=(3, 4)),
    # mediapipe face mesh (468 points, 478 with irises); 1 is the nose tip.
    "mediapipe478": LandmarkScheme(
        "mediapipe478", 478, nose=1, left_eye=(33, 133), right_eye=(362, 263), mouth=(13, 14, 61, 291)
    ),
    "mediapipe468": LandmarkScheme(
        "mediapipe468", 468, nose=1, left_eye=(33, 133), right_eye=(362, 263), mouth=(13, 14, 61, 291)
    ),
    # insightface 2d106det.
    "insightface106": LandmarkScheme(
        "insightface106", 106, nose=86, left_eye=(35, 39), right_eye=(89, 93), mouth=(52, 61)
    ),
}


def register_scheme(scheme: LandmarkScheme) -> None:
    """Add ``scheme`` to :data:`SCHEMES`, for every context of this process (plugins: prefer
    the ``register_landmark_schemes`` hook)."""
    existing = SCHEMES.get(scheme.name)
    if existing is not None and existing != scheme:
        raise ValueError(f"landmark scheme '{scheme.name}' is already defined differently")
    SCHEMES[scheme.name] = scheme
