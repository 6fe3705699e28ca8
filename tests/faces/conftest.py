"""Fixtures of the faces tests: the real test photos and shared detectors (built once)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def astronaut_path() -> Path:
    return DATA / "astronaut.png"


@pytest.fixture(scope="session")
def astronaut(astronaut_path) -> np.ndarray:
    from fertk.io.images import read_image

    return read_image(astronaut_path)


@pytest.fixture(scope="session")
def group_path() -> Path:
    return DATA / "group.jpg"


@pytest.fixture(scope="session")
def group_tiles() -> list[tuple[int, int, int, int]]:
    return [tuple(t) for t in json.loads((DATA / "group.json").read_text())["tiles"]]


@pytest.fixture(scope="session")
def registries():
    from fertk import plugins

    return plugins.registries()


@pytest.fixture(scope="session")
def dlib_detector(registries):
    return registries["detectors"].create("dlib")


@pytest.fixture(scope="session")
def astronaut_face(dlib_detector, astronaut):
    faces = dlib_detector.detect(astronaut)
    assert len(faces) == 1
    return faces[0]
