"""Bad inputs of ``fertk detect`` (issue #24): one clear line, never a traceback; a truncated
video is not reported "ok"."""

from __future__ import annotations

from pathlib import Path

import pytest

from fertk.cli import main

REPO = Path(__file__).resolve().parents[2]
PHOTO = REPO / "tests" / "data" / "astronaut.png"
DEMO = REPO / "examples" / "media" / "pexels_wolfgang_langer.mp4"


def _error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("flag", ["--annotate", "--save-crops"])
def test_output_folder_under_a_file_is_one_line(flag, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code = main(["detect", str(PHOTO), flag, str(blocker / "sub")])
    line = _error_line(capsys.readouterr().err)
    assert code == 1 and line.startswith(f"Error: {flag} {blocker / 'sub'}: cannot create")
    assert str(blocker) in line and "is a file" in line
