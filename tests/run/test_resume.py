"""Collection runs that resume (fertk.io.ledger) and outputs written whole or not at all
(fertk.fsutil.Staged): a run killed with SIGKILL and started again ends with the files of an
uninterrupted run, without redoing what was done; changed settings are refused; failed
sources are retried on request; a write error (a full disk) is one line and leaves no file
under a final name."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fertk.cli import main

from .conftest import make_frames

pytestmark = pytest.mark.xdist_group("resume")

CODE = "import sys; from fertk.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    """Three short one-face videos in one folder."""
    from fertk.io.video import write_video

    root = tmp_path_factory.mktemp("collection")
    for k, name in enumerate(("a", "b", "c")):
        write_video(root / f"{name}.mp4", make_frames(30, step=2 + k), fps=12)
    return root


def _files(out: Path) -> dict[str, bytes]:
    """Every output file's bytes, the summaries' paths made relative to ``out``."""
    got = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and not p.name.startswith(".") and p.name != "fertk-run.ledger.json":
            data = p.read_bytes()
            if p.name.endswith(".summary.json"):
                data = data.replace(str(out).encode(), b"OUT")
            got[str(p.relative_to(out))] = data
    return got


def test_a_killed_collection_run_restarts_to_identical_outputs(tmp_path, collection, checkpoint,
                                                              capsys):
    args = ["run", str(collection), "--weights", str(checkpoint), "--engine", "torch"]
    ref = tmp_path / "ref"
    assert main([*args, "--out", str(ref)]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", CODE, *args, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 120
    while not (out / "a.summary.json").exists():  # the first source done, the second going
        assert proc.poll() is None and time.monotonic() < end, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "c.summary.json").exists()
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("a.*")}
    assert main([*args, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "resuming" in err and "1 source(s) done before, skipped" in " ".join(err.split())
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("a.*")} == first  # not done twice
    assert _files(out) == _files(ref)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and "tmp" in p.name]
    ledger = json.loads((out / "fertk-run.ledger.json").read_text(encoding="utf-8"))
    assert {k: v["status"] for k, v in ledger["sources"].items()} == \
        {"a": "done", "b": "done", "c": "done"}


def test_changed_settings_are_refused_unless_out_is_new(tmp_path, media, checkpoint, capsys):
    args = ["run", str(media["one"]), "--weights", str(checkpoint), "--engine", "torch",
            "--max-frames", "4", "--no-annotate", "--no-timeline"]
    out = tmp_path / "out"
    assert main([*args, "--out", str(out)]) == 0
    before = (out / "one.csv").read_bytes()
    capsys.readouterr()
    assert main([*args, "--out", str(out), "--smooth", "0.5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other settings" in err[0] and "smoothing" in err[0], err
    assert (out / "one.csv").read_bytes() == before
    assert main([*args, "--out", str(tmp_path / "new"), "--smooth", "0.5"]) == 0
    capsys.readouterr()
    # the same settings: done, skipped (engine and threads are not settings)
    assert main([*args, "--out", str(out), "--threads", "1"]) == 0
    assert "1 source(s) done before, skipped" in " ".join(capsys.readouterr().err.split())


def test_the_default_folder_starts_afresh_on_other_settings(tmp_path, media, checkpoint,
                                                             capsys, monkeypatch):
    """No --out: fertk-run/ is a scratch folder; other settings there replace the earlier
    results (with a note) instead of being refused."""
    monkeypatch.chdir(tmp_path)
    args = ["run", str(media["one"]), "--weights", str(checkpoint), "--engine", "torch",
            "--max-frames", "4", "--no-annotate", "--no-timeline"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--stride", "2"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "made with other settings (stride" in err and "replaced" in err
    rows = (tmp_path / "fertk-run" / "one.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert [r.split(",")[1] for r in rows] == ["0", "2", "4", "6"]
    ledger = json.loads((tmp_path / "fertk-run" / "fertk-run.ledger.json").read_text())
    assert ledger["settings"]["stride"] == 2 and list(ledger["sources"]) == ["one"]


def test_a_failed_source_is_skipped_until_retry_failed(tmp_path, media, checkpoint, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for key in ("one", "junk"):
        os.symlink(media[key], videos / media[key].name)
    args = ["run", str(videos), "--weights", str(checkpoint), "--engine", "torch",
            "--max-frames", "3", "--no-annotate", "--no-timeline", "--out", str(tmp_path / "out")]
    assert main(args) == 1
    capsys.readouterr()
    assert main(args) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "1 source(s) done before, skipped; 1 failed before, skipped" in err
    assert main([*args, "--retry-failed"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "1 failed before" not in err and "0 failed before" in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")
def test_a_write_error_is_one_line_and_leaves_no_file_under_a_final_name(tmp_path, media,
                                                                         checkpoint):
    """A file-size limit makes every write past 20 kB fail as a full disk does (EFBIG):
    the run fails in one line, and none of the source's files is left under its name."""
    out = tmp_path / "out"
    limit = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
             "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000)); ")
    res = subprocess.run([sys.executable, "-c", limit + CODE, "run", str(media["one"]),
                          "--weights", str(checkpoint), "--engine", "torch", "--landmarks",
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[-1].startswith("Error: one: cannot write its files in") and \
        "File too large" in lines[-1], lines[-1]
    assert not [p.name for p in out.iterdir() if p.name.startswith("one")]
    assert not [p.name for p in out.iterdir() if "tmp" in p.name]
    ledger = json.loads((out / "fertk-run.ledger.json").read_text(encoding="utf-8"))
    assert ledger["sources"]["one"]["status"] == "interrupted"  # the same command re-does it
