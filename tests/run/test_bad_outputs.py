"""Bad output places are one line (#39 C8), never a traceback, and leave no file behind:
``export --out`` under a file or in /proc, ``--opset`` out of range, ``detect --json`` in
/proc, a split file over a folder; an unwritable cache still runs onnxruntime."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fertk.cli import main

PHOTO = Path(__file__).resolve().parents[2] / "examples" / "media" / "grace_hopper.jpg"


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_export_to_bad_places_is_one_line(tmp_path, checkpoint, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    places = [blocker / "model"]
    if sys.platform.startswith("linux"):
        places.append(Path("/proc/fertk-test/model"))
    for out in places:
        assert main(["export", str(checkpoint), "--out", str(out)]) == 1
        line = _one_line(capsys)
        assert line.startswith("Error: --out") and str(out.parent) in line, line
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "m"), "--opset", "999"]) == 1
    assert "--opset 999" in _one_line(capsys)
    assert not list(tmp_path.glob("m*")) and not list(tmp_path.glob(".m*"))


def test_export_writes_its_files_together(tmp_path, checkpoint, capsys):
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "m"), "--with-head"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.head.onnx", "m.json", "m.onnx"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_detect_json_in_proc_is_one_line(capsys):
    assert main(["detect", str(PHOTO), "--json", "/proc/fertk-test.json"]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("Error: --json /proc/fertk-test.json: cannot write"), line


def test_a_file_over_a_folder_is_one_line(tmp_path):
    from fertk.errors import FertkError
    from fertk.splits import Fold, save_splits

    with pytest.raises(FertkError, match="is a folder"):
        save_splits(tmp_path, [Fold("f", ["a"], ["b"], ["c"], {})])
    assert not list(tmp_path.iterdir())


def test_an_unwritable_cache_still_runs_onnxruntime(tmp_path, checkpoint, monkeypatch):
    import fertk

    cache = tmp_path / "cache"
    cache.write_text("a file, not a folder")
    monkeypatch.setenv("FERTK_CACHE_DIR", str(cache))
    pipe = fertk.Pipeline(weights=str(checkpoint), engine="onnxruntime")
    assert pipe.classifier.name == "onnxruntime"
    assert len(pipe.analyze(str(PHOTO)).faces) == 1
    assert cache.read_text() == "a file, not a folder"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")
def test_a_full_disk_in_any_command_is_one_line(tmp_path):
    """A write error that is the disk's (full, a file-size limit, read-only) in a command with
    no handler of its own (here `fertk synth`) is one line from fertk.cli.main, exit 1."""
    import subprocess

    code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000)); "
            "from fertk.cli import main; sys.exit(main(sys.argv[1:]))")
    res = subprocess.run([sys.executable, "-c", code, "synth", str(tmp_path / "syn"),
                          "--identities", "1"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("Error: cannot write") and \
        "File too large" in res.stderr
