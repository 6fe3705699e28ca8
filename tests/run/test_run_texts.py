"""What ``fertk run`` says (issue #38 items 5 and 7): ``--show`` where DISPLAY names a display
that cannot be reached (which made OpenCV's Qt backend abort the process) warns once and the
run goes on (no DISPLAY at all: tests/run/test_stills_and_outputs.py); the header names the
crop with its options."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from fertk.cli import cli

PHOTO = Path(__file__).resolve().parents[2] / "examples" / "media" / "grace_hopper.jpg"
NOWHERE = ":87"  # a display number no X server of this machine listens on


def _run(tmp_path, env):
    res = CliRunner().invoke(cli, ["run", str(PHOTO), "--show", "--out", str(tmp_path / "out"),
                                   "--no-annotate", "--no-table"], env={"COLUMNS": "200", **env})
    assert res.exit_code == 0, res.output
    return res


@pytest.mark.skipif(os.path.exists(f"/tmp/.X11-unix/X{NOWHERE[1:]}"), reason="a display is there")
def test_show_with_an_unreachable_display_warns_once_and_runs(tmp_path):
    res = _run(tmp_path, {"DISPLAY": NOWHERE, "WAYLAND_DISPLAY": None})
    assert res.stderr.count("--show") == 1, res.stderr
    assert f"OpenCV cannot open a window on {NOWHERE}" in res.stderr
    assert "running without the preview window" in res.stderr
    assert (tmp_path / "out" / "grace_hopper.csv").is_file()


def test_header_names_the_crop_with_its_options(tmp_path):
    res = CliRunner().invoke(cli, ["run", str(PHOTO), "--out", str(tmp_path / "out"),
                                   "--no-annotate", "--no-table", "-C", "margin=0.3"],
                             env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    header = next(ln for ln in res.stderr.splitlines() if ln.startswith("fertk run:"))
    assert "crop box(margin=0.3, shift=-0.111)" in header, header
