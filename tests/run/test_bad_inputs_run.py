"""Bad inputs of ``fertk run`` and the Python API (issue #24): one clear line, or the same
faces as the picture read from disk; never a traceback, never a silently wrong result."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from fertk.cli import main
from fertk.io.video import expand_sources

REPO = Path(__file__).resolve().parents[2]
PHOTO = REPO / "tests" / "data" / "astronaut.png"


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert lines and lines[-1].startswith("Error: "), err
    return lines[-1]


# -- C1: absolute and relative paths together ----------------------------------------------------
def test_absolute_and_relative_sources_together(tmp_path, monkeypatch):
    shutil.copy(PHOTO, tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    shutil.copy(PHOTO, tmp_path / "sub" / "b.png")
    monkeypatch.chdir(tmp_path)
    (item,) = expand_sources([str(tmp_path / "a.png"), "sub/b.png"])
    assert item.kind == "images" and len(item.paths) == 2
    assert Path(item.source).resolve() == tmp_path.resolve()


# -- C3, S9: --fps of image sequences --------------------------------------------------------------
@pytest.mark.parametrize("fps", ["nan", "inf", "-5", "0"])
def test_image_sequence_fps_must_be_positive_and_finite(fps, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", str(PHOTO), str(PHOTO), "--image-sequence", "--fps", fps, "--out", str(out)])
    line = _one_error_line(capsys.readouterr().err)
    assert code != 0 and "--fps" in line and "positive" in line, line
    assert not out.exists() or not list(out.iterdir())


def test_pipeline_refuses_a_bad_fps():
    from fertk.errors import FertkError
    from fertk.pipeline import Pipeline

    for fps in (0, -5, float("nan"), float("inf")):
        with pytest.raises(FertkError, match="fps"):
            Pipeline(fps=fps)
