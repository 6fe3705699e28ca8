"""Bad input through the real entry point ``fertk.cli.main``: exit codes and one-line errors
(issue #14). Each case is what a user types; none may end in a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fertk.cli import main

DATA = Path(__file__).resolve().parent / "data"
PHOTO = DATA / "astronaut.png"


def one_error_line(capsys, code: int) -> str:
    """The run failed with one ``Error:`` line on stderr and no traceback; return that line."""
    err = capsys.readouterr().err
    assert code not in (0, None), err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, err
    return errors[0]


# -- D3: exit codes of fertk detect --------------------------------------------------------
def test_detect_exit_status_when_inputs_fail(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not a JPEG")
    assert main(["detect", str(bad)]) == 1  # every input failed
    assert main(["detect", str(bad), "--strict"]) == 1
    shutil.copy(PHOTO, tmp_path / "ok.png")
    assert main(["detect", str(tmp_path)]) == 0  # one of two failed: reported, not fatal
    assert main(["detect", str(tmp_path), "--strict"]) == 1
    assert main(["detect", str(tmp_path / "ok.png"), "--strict"]) == 0


# -- D4: option values ---------------------------------------------------------------------
@pytest.mark.parametrize("args,expected", [
    (["detect", str(PHOTO), "-D", "threshold=abc"], ["threshold='abc'", "detector 'dlib'",
                                                      "must be a number"]),
    (["detect", str(PHOTO), "-D", "nosuch=1"], ["detector 'dlib' has no option 'nosuch'",
                                                "accepted options:"]),
    (["detect", str(PHOTO), "-D", "a=["], ["detector 'dlib' has no option 'a'"]),
    (["detect", str(PHOTO), "-D", "noequals"], ["--detector-option 'noequals': expected KEY=VALUE"]),
    (["detect", str(PHOTO), "--save-crops", "CROPS", "-C", "alpha=abc"],
     ["crop policy 'landmark'", "alpha='abc'", "must be a number"]),
])
def test_detect_bad_option_values_are_one_line(tmp_path, capsys, args, expected):
    args = [str(tmp_path / a) if a == "CROPS" else a for a in args]
    line = one_error_line(capsys, main(args))
    for text in expected:
        assert text in line, line


@pytest.mark.parametrize("value,expected", [
    ("upsample=abc", ["detector 'dlib'", "upsample='abc'", "must be an integer"]),
    ("nosuch=1", ["detector 'dlib' has no option 'nosuch'"]),
    ("a=[", ["detector 'dlib' has no option 'a'"]),
    ("model=[", ["dlib: model must be 'hog' or 'cnn', got '['"]),
])
def test_run_bad_detector_option_is_one_line(tmp_path, capsys, value, expected):
    code = main(["run", str(PHOTO), "--detector-option", value, "--out", str(tmp_path / "out")])
    line = one_error_line(capsys, code)
    for text in expected:
        assert text in line, line


def test_prepare_bad_crop_option_is_one_line(tmp_path, capsys):
    from fertk.synth import SynthConfig, synthesize

    root = tmp_path / "ck"
    synthesize(root, SynthConfig(identities=2, frames=3, size=(128, 128), layouts=("ckplus",)))
    cache = tmp_path / "cache"
    code = main(["prepare", "ckplus", "--root", str(root), "--detector", "dataset", "--cache-dir",
                 str(cache), "--crop-option", "alpha=abc", "--quiet", "--workers", "2"])
    line = one_error_line(capsys, code)
    assert "crop policy 'landmark'" in line and "alpha='abc'" in line
    assert not [p for p in cache.rglob("*") if ".tmp-" in p.name]  # nothing left behind


# -- D7: fertk synth onto a file -----------------------------------------------------------
def test_synth_onto_existing_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "taken.txt"
    target.write_text("keep me")
    line = one_error_line(capsys, main(["synth", str(target), "--identities", "1"]))
    assert str(target) in line and "is a file" in line
    assert target.read_text() == "keep me"
    below = one_error_line(capsys, main(["synth", str(target / "sub"), "--identities", "1"]))
    assert str(target / "sub") in below and "cannot create the output folder" in below
