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


def test_truncated_video_is_not_ok_and_ffmpeg_stays_quiet(tmp_path):
    """The first 400 kB of the demo video (108 of its 472 frames): detect warns as run does
    and its summary says "truncated"; FFmpeg's raw "partial file" lines (one per damaged
    packet) are not printed. In a fresh process: FFmpeg reads its log level once."""
    import os
    import subprocess
    import sys

    cut = tmp_path / "cut.mp4"
    cut.write_bytes(DEMO.read_bytes()[:400_000])
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["COLUMNS"] = "200"
    done = subprocess.run([sys.executable, "-m", "fertk.cli", "detect", str(cut), "--detector",
                           "opencv", "--stride", "10"], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "partial file" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert (f"warning: {cut}: the video ends after 108 of the 472 frames its header declares "
            "(truncated file?)") in done.stderr
    assert "truncated" in done.stdout and " ok " not in done.stdout, done.stdout  # the status
