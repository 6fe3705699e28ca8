"""``fertk run`` end to end on real face videos: CSV, JSONL, annotated video, timeline, errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from fertk.cli import cli, main

from .conftest import CLASSES


def _run(args):
    return CliRunner().invoke(cli, ["run", *map(str, args)], catch_exceptions=False)


def _rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_run_video_writes_every_output(tmp_path, media, checkpoint):
    import cv2

    out = tmp_path / "out"
    res = _run([media["one"], "--weights", checkpoint, "--temporal", "gru", "--detect-every", "3",
                "--out", out, "--landmarks"])
    assert res.exit_code == 0, res.output
    rows = _rows(out / "one.csv")
    assert len(rows) == 24  # one row per frame: 21 with one face, 3 marked without a face
    empty = [r for r in rows if r["faces"] == "0"]
    assert sorted(int(r["frame"]) for r in empty) == [12, 13, 14]
    assert all(r["track"] == "" and r["label"] == "" for r in empty)
    faces = [r for r in rows if r["faces"] == "1"]
    assert {r["label"] for r in faces} <= set(CLASSES)
    for r in faces:
        probs = [float(r[f"p_{c}"]) for c in CLASSES]
        assert sum(probs) == pytest.approx(1.0, abs=1e-3)
        assert r["label"] == CLASSES[int(np.argmax(probs))]
        assert r[f"x_{67}"] and r["y_30"] and f"x_{68}" not in r  # landmarks as columns
        assert float(r["x1"]) <= float(r["x_30"]) <= float(r["x2"])
    assert {r["detected"] for r in faces} == {"0", "1"}  # detected, or moved by tracking
    assert float(faces[1]["time"]) == pytest.approx(1 / 12, abs=1e-3)
    # the face is followed by flow between detections: boxes move right with the face
    xs = [float(r["x1"]) for r in faces[:12]]
    assert xs[-1] - xs[0] > 15
    lines = (out / "one.jsonl").read_text().splitlines()
    assert len(lines) == 24
    recs = [json.loads(line) for line in lines]
    assert [len(r["faces"]) for r in recs].count(0) == 3
    assert set(recs[0]["faces"][0]["probs"]) == set(CLASSES) and "frame_probs" in recs[0]["faces"][0]
    cap = cv2.VideoCapture(str(out / "one.annotated.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 24
    png = cv2.imread(str(out / "one.timeline.png"))
    assert png is not None and png.shape[0] > 100 and png.shape[1] > 300
    tracks = _rows(out / "one.tracks.csv")
    assert tracks and sum(int(t["frames"]) for t in tracks) == 21
    assert all(len(t["end"].partition(".")[2]) <= 3 for t in tracks)  # rounded times
    summary = json.loads((out / "one.summary.json").read_text())
    assert summary["frames_without_face"] == 3 and summary["decoded"] == 24
    assert "1/1 source(s) done" in res.output and "without a face" in res.output


def test_two_faces_two_tracks_and_stride(tmp_path, media, checkpoint):
    out = tmp_path / "out"
    res = _run([media["two"], "--weights", checkpoint, "--out", out, "--stride", "2",
                "--no-annotate", "--no-timeline", "--no-jsonl"])
    assert res.exit_code == 0, res.output
    rows = _rows(out / "two.csv")
    assert sorted({int(r["frame"]) for r in rows}) == list(range(0, 16, 2))
    assert len(rows) == 16 and {r["track"] for r in rows} == {"1", "2"}
    tracks = _rows(out / "two.tracks.csv")
    assert [int(t["frames"]) for t in tracks] == [8, 8]
    assert float(tracks[0]["seconds"]) == pytest.approx(8 * 2 / 12, abs=0.01)
    assert not (out / "two.annotated.mp4").exists() and not (out / "two.jsonl").exists()


def test_corrupt_video_among_several_is_reported_others_complete(tmp_path, media, checkpoint,
                                                                 capsys):
    out = tmp_path / "out"
    code = main(["run", str(media["one"]), str(media["junk"]), str(media["two"]), "--weights",
                 str(checkpoint), "--out", str(out), "--workers", "2", "--no-annotate",
                 "--no-timeline", "--detect-every", "4"])
    captured = capsys.readouterr()
    assert code == 1
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("Error: 1 of 3 source(s) failed (broken)")
    assert "broken.mp4" in captured.err
    assert "one: done (" in captured.err and "3/3 sources" in captured.err  # plain log lines
    assert len(_rows(out / "one.csv")) == 24 and len(_rows(out / "two.csv")) == 32
    assert "2/3 source(s) done" in captured.out


def test_untrained_model_is_refused_in_one_line(tmp_path, media, capsys):
    code = main(["run", str(media["one"]), "--backbone", "compact_bn", "--temporal", "gru",
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "compact_bn" in err[0] and "fertk train" in err[0] and "--weights" in err[0]
    assert not list(tmp_path.iterdir())


def test_options_contradicting_the_checkpoint_are_refused(tmp_path, media, checkpoint, capsys):
    for extra, word in ((["--crop", "box"], "crop"), (["--backbone", "compact"], "backbone"),
                        (["--temporal", "example_attention"], "temporal")):
        code = main(["run", str(media["one"]), "--weights", str(checkpoint), *extra,
                     "--out", str(tmp_path)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(err) == 1 and "contradicts" in err[0] and word in err[0]


def test_a_head_that_needs_no_training_replaces_the_checkpoints_gru(checkpoint):
    """``--temporal average`` (or ``last``) with weights that hold a trained GRU runs the same
    frame model with the parameter-free head (nothing untrained), e.g. on the default model;
    a trainable head other than the checkpoint's stays refused (above)."""
    import fertk

    own = fertk.Pipeline(weights=str(checkpoint), temporal="gru", engine="torch")
    for name in ("average", "last"):
        pipe = fertk.Pipeline(weights=str(checkpoint), temporal=name, engine="torch")
        assert type(pipe.model.head).__name__ != type(own.model.head).__name__
        assert pipe.model.backbone is not None and pipe.model.classes == own.model.classes
    assert type(own.model.head).__name__ == "GRUHead"
    # the checkpoint's own head runs only when named: by default the frame model, smoothed
    plain = fertk.Pipeline(weights=str(checkpoint), engine="torch")
    assert plain.model.head is None and plain.weights_temporal == "gru" and plain.smoothing > 0


def test_interrupted_run_leaves_valid_files(tmp_path, media, checkpoint):
    from fertk.io.video import expand_sources
    from fertk.jobs import OutputOptions, run_job
    from fertk.pipeline import Pipeline

    pipe = Pipeline(weights=checkpoint, batch_size=4)
    (item,) = expand_sources([str(media["one"])])
    seen = []

    def progress(n):
        seen.append(n)
        if len(seen) == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_job(pipe, item, tmp_path, OutputOptions(annotate=True, timeline=True), progress)
    rows = _rows(tmp_path / "one.csv")
    assert len(rows) == 7 and rows[-1]["frame"] == "6"
    assert [json.loads(x)["frame"] for x in (tmp_path / "one.jsonl").read_text().splitlines()] \
        == list(range(7))
    import cv2

    cap = cv2.VideoCapture(str(tmp_path / "one.annotated.mp4"))
    assert cap.read()[0]
    summary = json.loads((tmp_path / "one.summary.json").read_text())
    assert summary["interrupted"] is True and summary["frames"] == 7


def test_completed_run_summary_is_not_interrupted(tmp_path, media, checkpoint):
    from fertk.io.video import expand_sources
    from fertk.jobs import OutputOptions, run_job
    from fertk.pipeline import Pipeline

    (item,) = expand_sources([str(media["two"])])
    res = run_job(Pipeline(weights=checkpoint, batch_size=8), item, tmp_path,
                  OutputOptions(annotate=False, timeline=False))
    assert res["interrupted"] is False
    assert json.loads((tmp_path / "two.summary.json").read_text())["interrupted"] is False
    assert "missing_frames" not in res  # a complete file


def test_truncated_video_is_reported(tmp_path, checkpoint, capsys):
    """The first 400 kB of the demo video: 108 of the 472 frames its header declares."""
    from pathlib import Path

    demo = Path(__file__).resolve().parents[2] / "examples" / "media" / "pexels_wolfgang_langer.mp4"
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(demo.read_bytes()[:400_000])
    code = main(["run", str(cut), "--weights", str(checkpoint), "--out", str(tmp_path / "out"),
                 "--no-annotate", "--no-timeline", "--detector-option", "max_side=320"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads((tmp_path / "out" / "cut.summary.json").read_text())
    assert summary["declared_frames"] == 472 and summary["decoded"] == 108
    assert summary["missing_frames"] == 472 - 108
    assert ("warning: cut: the video ends after 108 of the 472 frames its header declares "
            "(truncated file?)") in captured.err
    # the decode stopped mid-video: the outputs hold every frame decoded before it
    import csv

    with open(tmp_path / "out" / "cut.csv", newline="") as fh:
        frames = {int(r["frame"]) for r in csv.DictReader(fh)}
    assert frames == set(range(108))


def test_webcam_that_cannot_be_opened_is_one_line(tmp_path, checkpoint, capfd):
    out = tmp_path / "out"
    code = main(["run", "7", "--weights", str(checkpoint), "--out", str(out)])
    err = capfd.readouterr().err
    assert code == 1
    (line,) = [ln for ln in err.splitlines() if "webcam" in ln.lower() and "7" in ln]
    assert line.startswith("Error: webcam 7: cannot be opened")
    for noise in ("WARN", "Traceback", "others completed", "Warning", "error "):
        assert noise not in err, err
    assert not out.exists() or not list(out.iterdir())  # no empty CSV, JSONL or timeline


@pytest.mark.parametrize("backbone", ["compact", "compact_tiny"])
def test_the_papers_model_with_its_gru_runs_with_no_other_option(tmp_path, backbone):
    """The design card's command, ``fertk run clip.mp4 --detector dlib --backbone B --temporal
    gru``, runs on the bundled FER2013 weights of B and their GRU head."""
    from pathlib import Path

    clip = Path(__file__).resolve().parents[2] / "examples" / "media" / "pexels_wolfgang_langer.mp4"
    res = _run([clip, "--detector", "dlib", "--backbone", backbone, "--temporal", "gru",
                "--max-frames", "12", "--out", tmp_path / "out", "--no-annotate"])
    assert res.exit_code == 0, res.output
    import fertk

    pipe = fertk.Pipeline(detector="dlib", backbone=backbone, temporal="gru")
    assert pipe.model.source == f"{backbone}-fer2013" and pipe.model.head is not None
    rows = _rows(next((tmp_path / "out").rglob("*.csv")))
    assert len(rows) >= 12 and any(r["label"] for r in rows)
