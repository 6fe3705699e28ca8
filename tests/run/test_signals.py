"""SIGTERM stops ``fertk run`` the way Ctrl-C does (fertk.signals), with 1 and 2 workers: the
files of the frames done are finished (a playable video, the summary, tracks and timeline, a
CSV with one row per JSONL line), no temporary file is left, the workers stop too."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "examples" / "media" / "pexels_wolfgang_langer.mp4"

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
              pytest.mark.xdist_group("signals")]


def _start(args: list[str]) -> subprocess.Popen:
    code = "import sys; from fertk.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, "run", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_mid_video(out: Path, sources: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until each of ``sources`` sources has a temporary CSV with rows (it is mid-video)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()
        busy = [p for p in out.glob(".*.csv") if p.stat().st_size > 2000] if out.is_dir() else []
        if len(busy) >= sources:
            return
        time.sleep(0.2)
    raise AssertionError("the run did not get going")


def _workers(pid: int) -> list[int]:
    """The worker processes of process ``pid`` (spawned by multiprocessing)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="utf-8") as fh:
            children = [int(c) for c in fh.read().split()]
    except OSError:
        return []
    return [c for c in children if b"spawn_main" in _cmdline(c)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _running(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return False


def _check_source(out: Path, name: str) -> int:
    import cv2

    summary = json.loads((out / f"{name}.summary.json").read_text(encoding="utf-8"))
    assert summary["interrupted"] is True
    with open(out / f"{name}.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    lines = (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["frame"] for x in lines] == [int(r["frame"]) for r in rows]
    cap = cv2.VideoCapture(str(out / f"{name}.annotated.mp4"))
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert 0 < frames == len(rows) == summary["frames"] < 472
    assert (out / f"{name}.tracks.csv").is_file() and (out / f"{name}.timeline.png").is_file()
    return frames


def test_sigterm_mid_video_leaves_what_ctrl_c_leaves(tmp_path):
    out = tmp_path / "out"
    proc = _start([DEMO, "--out", out])
    _wait_mid_video(out, 1, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.strip().splitlines()[-1] == "Terminated.", err
    assert "Traceback" not in err
    _check_source(out, DEMO.stem)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_sigterm_to_the_parent_alone_stops_two_workers(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a", "b", "c"):
        os.symlink(DEMO, videos / f"{name}.mp4")
    out = tmp_path / "out"
    proc = _start([videos, "--workers", "2", "--out", out])
    _wait_mid_video(out, 2, proc)
    workers = _workers(proc.pid)
    assert len(workers) == 2
    proc.send_signal(signal.SIGTERM)  # the parent only, as `kill PID` or a scheduler does
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "leaked" not in err, err
    assert not [pid for pid in workers if _running(pid)]  # the workers are gone with the parent
    assert sorted(p.name for p in out.glob("*.summary.json")) == \
        ["a.summary.json", "b.summary.json"], (sorted(p.name for p in out.iterdir()), err)
    for name in ("a", "b"):
        _check_source(out, name)
    assert not list(out.glob("c.*"))  # the third never started
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_a_signal_within_a_deferred_block_is_raised_when_it_ends():
    """One frame reaches every output whole: SIGTERM in the middle of fertk.signals.deferred()
    is held until the block ends, then raised like Ctrl-C; a block run during the clean-up
    of an earlier signal raises nothing."""
    from fertk import signals

    done = []
    with signals.stop_on_signals():
        with pytest.raises(signals.Terminated):
            with signals.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # the handler has run: it must not have raised
                done.append("csv")
                done.append("video")
        assert done == ["csv", "video"]
        assert signals.received() == signal.SIGTERM
        with signals.deferred():  # clean-up after the signal: nothing raised again
            done.append("summary")
    assert done == ["csv", "video", "summary"]
