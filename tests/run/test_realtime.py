"""Fast defaults of ``fertk run``: the detection schedule, smoothing, devices, progress, codecs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner

import fertk
from fertk.cli import cli

from .conftest import CLASSES, astronaut_face, make_frames


def _texture(h: int, w: int) -> np.ndarray:
    """A fixed, detailed background (optical flow finds texture to follow everywhere)."""
    import cv2

    rng = np.random.default_rng(3)
    noise = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_LINEAR)


def cut_frames(n: int = 24, cut: int = 12) -> list[np.ndarray]:
    """A face on a textured background; at frame ``cut`` the shot changes and the face jumps
    from the left to the right of the frame."""
    face = astronaut_face()
    fh, fw = face.shape[:2]
    bg = _texture(240, 400)
    frames = []
    for i in range(n):
        canvas = bg.copy()
        x = 10 + i if i < cut else 260 + (i - cut)
        canvas[50:50 + fh, x:x + fw] = face
        frames.append(canvas)
    return frames


def test_schedule_redetects_when_the_face_jumps(tmp_path, checkpoint):
    from fertk.io.video import write_video

    video = write_video(tmp_path / "cut.mp4", cut_frames(), fps=12)
    # scans far apart: only the cut itself can make the pipeline detect at frame 12
    pipe = fertk.Pipeline(weights=str(checkpoint), detect_every=5, scan_every=100)
    recs = list(pipe.run(str(video)))
    assert len(recs) == 24 and all(len(r.faces) == 1 for r in recs)
    assert [r.detected for r in recs[:12]] == [k % 5 == 0 for k in range(12)]
    assert recs[12].detected  # out of turn: flow lost the face at the cut
    before, after = recs[11].faces[0].box, recs[12].faces[0].box
    assert before[0] < 100 and after[0] > 230  # the box is on the face, right of the cut
    assert all(r.faces[0].box[0] > 230 for r in recs[12:])
    assert sum(r.detected for r in recs) <= 8  # flow in between, not detection every frame


def test_flow_reports_a_face_that_is_gone_as_lost():
    """The appearance check: flow on a textured background after the face left is 'lost'."""
    import cv2

    from fertk.tracking import LandmarkFlow

    frames = cut_frames(n=14, cut=12)
    det = fertk.create("detectors", "dlib")
    faces = det.detect(frames[11])
    assert len(faces) == 1
    faces[0].track_id = 1
    gray = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    flow = LandmarkFlow()
    flow.reset(gray[10], det.detect(frames[10]))
    moved, lost = flow.step(gray[11])  # the face moved by one pixel: followed
    assert len(moved) == 1 and not lost
    flow.reset(gray[11], faces)
    # the appearance check compares a face's box with its look at the last detection
    assert flow.similarity(gray[11], faces[0]) > 0.99
    assert flow.similarity(gray[12], faces[0]) < flow.min_similarity
    moved, lost = flow.step(gray[12])  # the face is gone from there
    assert not moved and len(lost) == 1


def test_stills_keep_the_full_quality_detector(checkpoint):
    # a 53-px face: the fast variant (dlib without upsampling) does not find it, stills do
    frame = make_frames(1)[0]
    pipe = fertk.Pipeline(weights=str(checkpoint))
    assert pipe.fast_detector.detect(frame) == []
    assert len(pipe.analyze(frame).faces) == 1


def test_small_faces_are_followed_between_scans(media, checkpoint):
    # the same 53-px face in a video: region re-detection (scaled up) keeps it every frame
    pipe = fertk.Pipeline(weights=str(checkpoint), scan_every=100)
    recs = list(pipe.run(str(media["one"])))
    counts = [len(r.faces) for r in recs]
    assert counts[:12] == [1] * 12 and counts[12:15] == [0, 0, 0]
    assert all(r.detected for r in recs[:12:5])  # 0 the scan, 5 and 10 around the face
    # back after the gap: the full-quality detector looks every 5 frames while nobody is tracked
    assert counts[20:] == [1] * 4 and counts[15:20].count(1) >= 1


def test_smoothing_reduces_label_flips_on_a_noisy_sequence():
    from fertk.temporal.smoothing import TrackSmoother, label_changes_per_second

    rng = np.random.default_rng(0)
    fps, k = 30.0, 7
    times = np.arange(0, 8, 1 / fps)
    truth = (times >= 4).astype(int) + 3  # "happy" for 4 s, then "sadness"
    logits = rng.normal(0, 1.0, (len(times), k))
    logits[np.arange(len(times)), truth] += 1.2
    raw = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    sm = TrackSmoother(0.3)
    smooth = np.stack([sm.update(7, p, t) for p, t in zip(raw, times, strict=True)])
    raw_flips = label_changes_per_second(list(raw.argmax(1)), times)
    smooth_flips = label_changes_per_second(list(smooth.argmax(1)), times)
    assert raw_flips > 5 and smooth_flips < raw_flips / 4
    assert (smooth.argmax(1)[times < 3.5] == 3).mean() > 0.9  # still the right label
    assert (smooth.argmax(1)[times > 4.5] == 4).mean() > 0.9  # and it follows the change
    assert np.allclose(smooth.sum(1), 1, atol=1e-5)
    # the weight follows the timestamps: half the frame rate, the same smoothing in seconds
    a = TrackSmoother(0.3)
    b = TrackSmoother(0.3)
    x, y = np.eye(k)[0], np.eye(k)[1]
    a.update(1, x, 0.0)
    a.update(1, y, 1 / 30)
    pa = a.update(1, y, 2 / 30)
    b.update(1, x, 0.0)
    assert np.allclose(b.update(1, y, 2 / 30), pa, atol=1e-6)
    off = TrackSmoother(0.0)
    off.update(1, x, 0.0)
    assert np.array_equal(off.update(1, y, 0.1), y)


def test_label_smoother_suppresses_flicker_and_follows_a_change():
    from fertk.temporal.smoothing import (
        LabelSmoother,
        change_lags,
        label_changes_per_second,
        window_agreement,
    )

    rng = np.random.default_rng(0)
    fps, k = 30.0, 7
    times = np.arange(0, 8, 1 / fps)
    truth = (times >= 4).astype(int) + 3  # "happy" for 4 s, then "sadness"
    logits = rng.normal(0, 1.0, (len(times), k))
    logits[np.arange(len(times)), truth] += 1.2
    raw = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    classes = [str(c) for c in range(k)]
    ref = [classes[i] for i in raw.argmax(1)]
    labels = {}
    for ratio in (1.0, 2.0):
        sm = LabelSmoother(1.0, ratio)
        for p, t in zip(raw, times, strict=True):
            sm.add(7, t, p)
        labels[ratio] = [classes[sm.smooth(7, t)[1]] for t in times]
    raw_flips = label_changes_per_second(ref, times)
    assert raw_flips > 5
    assert label_changes_per_second(labels[2.0], times) <= 0.25  # the one real change, at most 2
    assert window_agreement(labels[2.0], [classes[i] for i in truth], times) >= 7 / 8
    lags = change_lags(labels[2.0], [classes[i] for i in truth], times)
    assert len(lags) == 1 and abs(lags[0]) <= 0.5  # the centred window: no causal lag
    # windows are in seconds: the same signal at half the frame rate keeps its labels
    clean = np.eye(k)[truth] * 0.5 + 0.5 / k
    switch = []
    for step in (1, 2):
        sm = LabelSmoother(1.0, 2.0)
        for p, t in zip(clean[::step], times[::step], strict=True):
            sm.add(1, t, p)
        got = np.array([sm.smooth(1, t)[1] for t in times[::step]])
        switch.append(times[::step][np.argmax(got == 4)])
    assert 3.5 < switch[0] < 4.5 and abs(switch[0] - switch[1]) <= 1 / fps + 1e-9
    # a near tie that wobbles slowly: the window alone follows every wobble, hysteresis holds
    tie = np.full((len(times), k), 0.05)
    tie[:, 3] = 0.35 + 0.05 * np.sin(2 * np.pi * times / 2)
    tie[:, 4] = 0.35 - 0.05 * np.sin(2 * np.pi * times / 2)
    flips = {}
    for ratio in (1.0, 1.5):
        sm = LabelSmoother(0.5, ratio)
        for p, t in zip(tie, times, strict=True):
            sm.add(1, t, p)
        flips[ratio] = label_changes_per_second([sm.smooth(1, t)[1] for t in times], times)
    assert flips[1.0] >= 0.75 and flips[1.5] == 0
    off = LabelSmoother(0.0, 1.0)
    off.add(1, 0.0, raw[0])
    off.add(1, 0.1, raw[1])
    assert np.allclose(off.smooth(1, 0.0)[0], raw[0]) and np.allclose(off.smooth(1, 0.1)[0], raw[1])


def test_default_smoothing_and_raw_frame_probabilities_in_the_csv(tmp_path, media):
    out = tmp_path / "out"
    # the default model: its frame model, smoothed (its GRU head runs with --temporal gru)
    res = CliRunner().invoke(cli, ["run", str(media["one"]), "--out", str(out), "--no-annotate",
                                   "--no-timeline", "--device", "cpu"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "frame model" in res.output and "1 s centred smoothing, hysteresis 2x" in res.output
    with open(out / "one.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["faces"] == "1"]
    pipe = fertk.Pipeline()
    assert pipe.model.head is None and pipe.smoothing == 1.0 and pipe.hysteresis == 2.0
    classes = pipe.classes
    times = np.array([float(r["time"]) for r in rows])
    smooth = np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows])
    raw = np.array([[float(r[f"frame_p_{c}"]) for c in classes] for r in rows])
    assert np.allclose(smooth.sum(1), 1, atol=1e-3) and np.allclose(raw.sum(1), 1, atol=1e-3)
    # each frame's probabilities: the mean of its track's frames within half a second
    tracks = np.array([r["track"] for r in rows])
    centred = np.stack([raw[(np.abs(times - t) <= 0.5 + 1e-3) & (tracks == tr)].mean(0)
                        for t, tr in zip(times, tracks, strict=True)])
    assert np.allclose(smooth, centred, atol=2e-4)
    assert not np.allclose(smooth, raw, atol=1e-3)
    assert all(r["frame_label"] == classes[int(np.argmax(p))] for r, p in zip(rows, raw,
                                                                            strict=True))
    # the raw probabilities do not depend on smoothing
    off = fertk.Pipeline(smoothing=0)
    assert off.hysteresis == 1
    frame_only = np.stack([f.probs for r in off.run(str(media["one"])) for f in r.faces])
    assert np.allclose(frame_only, raw, atol=2e-4)


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_device_cpu_and_auto_run(tmp_path, media, checkpoint, device):
    import torch

    out = tmp_path / device
    res = CliRunner().invoke(cli, ["run", str(media["two"]), "--weights", str(checkpoint),
                                   "--device", device, "--out", str(out), "--no-timeline"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    expected = "cuda" if device == "auto" and torch.cuda.is_available() else "cpu"
    assert f"on {expected}" in res.output
    for engine in ("torch", "auto"):
        pipe = fertk.Pipeline(weights=str(checkpoint), device=device, engine=engine)
        assert pipe.device.type == expected
        recs = list(pipe.run(str(media["two"])))
        assert sum(len(r.faces) for r in recs) == 32
        assert all(f.probs.shape == (len(CLASSES),) for r in recs for f in r.faces)


def test_device_cuda_without_cuda_and_bad_devices_are_refused(tmp_path, media, checkpoint):
    import torch

    res = CliRunner().invoke(cli, ["run", str(media["one"]), "--device", "tpu"])
    assert res.exit_code == 2 and "expected auto, cpu, cuda or cuda:N" in res.output
    res = CliRunner().invoke(cli, ["eval", str(checkpoint), "ckplus", "--root", str(tmp_path),
                                   "--device", "gpu"])
    assert res.exit_code == 2 and "expected auto, cpu, cuda or cuda:N" in res.output
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    res = CliRunner().invoke(cli, ["run", str(media["one"]), "--weights", str(checkpoint),
                                   "--device", "cuda", "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert "CUDA is not available on this machine" in res.output
    assert "Traceback" not in res.output
    with pytest.raises(fertk.FertkError, match="CUDA is not available"):
        fertk.Pipeline(weights=str(checkpoint), device="cuda")


def test_plain_progress_lines_codec_and_decoder_times(tmp_path, media, checkpoint):
    import json

    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["run", str(media["one"]), "--weights", str(checkpoint),
                                   "--out", str(out), "--no-timeline"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    # CliRunner's stderr is not a terminal: plain lines instead of a progress bar
    assert "one: 24/24 frames (100%)" in res.output and "fps" in res.output
    summary = json.loads((out / "one.summary.json").read_text())
    assert summary["video_codec"] in ("h264", "mp4v")
    assert f"({summary['video_codec']})" in res.output
    times = [json.loads(line)["time"] for line in (out / "one.jsonl").read_text().splitlines()]
    assert times == pytest.approx([k / 12 for k in range(24)], abs=2e-3)
    track = summary["tracks"][0]  # each frame stands for the time since the previous one
    assert track["seconds"] == pytest.approx(track["frames"] / 12, abs=0.01)


def test_decoder_timestamps_fall_back_when_they_do_not_increase():
    from fertk.io.video import _Timestamps

    vfr = _Timestamps(relative=False)
    assert [vfr.seconds(ms, k / 30) for k, ms in enumerate([0.0, 33.0, 100.0, 110.0])] == \
        [0.0, 0.033, 0.1, 0.11]
    broken = _Timestamps(relative=False)
    assert [broken.seconds(ms, k / 10) for k, ms in enumerate([0.0, 0.0, 0.0])] == [0.0, 0.1, 0.2]
    cam = _Timestamps(relative=True)
    assert [cam.seconds(ms, 0.0) for ms in (5000.0, 5040.0)] == [0.0, pytest.approx(0.04)]
