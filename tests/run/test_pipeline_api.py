"""The Python API (Pipeline, to_dataframe), still images, and ONNX export with parity."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import fertk
from fertk.cli import cli

from .conftest import CLASSES, make_frames


def test_pipeline_records_and_dataframe(media, checkpoint):
    pipe = fertk.Pipeline(weights=str(checkpoint), temporal="gru", detect_every=2)
    recs = list(pipe.run(str(media["one"])))
    assert len(recs) == 24 and pipe.classes == CLASSES
    with_face = [r for r in recs if r.faces]
    # frames 12-14 are blank; with detect_every=2 the returning face is found within 2 frames
    assert len(with_face) in (20, 21) and all(not r.faces for r in recs[12:15])
    # the track survives a 3-frame gap (max_missed defaults to 2 * detect_every)
    assert {f.track for r in with_face for f in r.faces} == {1}
    assert sum(r.detected for r in recs) < 24  # flow between detections
    face = with_face[0].faces[0]
    assert face.frame_probs is not None and face.probs.shape == (7,)
    df = fertk.pipeline.to_dataframe(recs)
    assert len(df) == 24 and (df["faces"] == 0).sum() == 24 - len(with_face)
    assert {f"p_{c}" for c in CLASSES} <= set(df.columns)
    # with max_missed=1 the track is closed during the gap and the face comes back as track 2
    short = fertk.Pipeline(weights=str(checkpoint), detect_every=2, max_missed=1)
    tracks = [[f.track for f in r.faces] for r in short.run(str(media["one"]))]
    assert tracks[0] == [1] and tracks[-1] == [2]


def test_stills_and_annotated_images(tmp_path, checkpoint):
    import cv2

    folder = tmp_path / "photos"
    folder.mkdir()
    frames = make_frames(3)
    frames[1][:] = 60  # no face in this one
    for k, f in enumerate(frames):
        cv2.imwrite(str(folder / f"p{k}.png"), f)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["run", str(folder), "--weights", str(checkpoint), "--out",
                                   str(out), "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = (out / "photos.csv").read_text().splitlines()[1:]
    assert len(rows) == 3 and ",0,,,,,,,," in rows[1]
    assert sorted(p.name for p in (out / "photos.annotated").iterdir()) == \
        ["p0.jpg", "p1.jpg", "p2.jpg"]
    summary = json.loads(res.output[res.output.index("["):])
    assert summary[0]["frames_without_face"] == 1
    single = fertk.Pipeline(weights=str(checkpoint)).analyze(frames[0])
    assert len(single.faces) == 1 and single.faces[0].track is None


def test_onnx_export_parity_and_onnxruntime_engine(tmp_path, media, checkpoint):
    out = tmp_path / "model"
    res = CliRunner().invoke(cli, ["export", str(checkpoint), "--format", "onnx", "--with-head",
                                   "--out", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "model.json").read_text())
    diffs = meta["onnx"]["parity_max_abs_diff"]
    assert diffs["backbone"] < 1e-4 and diffs["head"] < 1e-4
    assert (tmp_path / "model.head.onnx").is_file()
    torch_recs = list(fertk.Pipeline(weights=str(checkpoint)).run(str(media["two"])))
    ort = fertk.Pipeline(weights=str(tmp_path / "model.onnx"))
    assert ort.classifier.name == "onnxruntime"
    ort_recs = list(ort.run(str(media["two"])))
    a = np.stack([f.probs for r in torch_recs for f in r.faces])
    b = np.stack([f.probs for r in ort_recs for f in r.faces])
    assert a.shape == b.shape == (32, 7)
    assert np.abs(a - b).max() < 1e-4
    with pytest.raises(fertk.FertkError, match="contradicts"):
        fertk.Pipeline(weights=str(tmp_path / "model.onnx"), backbone="compact")


def test_parameter_free_head_runs_untrained(media, checkpoint, tmp_path):
    from fertk.checkpoint import load_checkpoint, save_checkpoint

    ck = load_checkpoint(str(checkpoint))
    meta = {k: v for k, v in ck.metadata.items() if k not in ("sha256", "parts")}
    meta["temporal"] = None
    frame_only = save_checkpoint(tmp_path / "frame_only", {"backbone": ck.state_dicts["backbone"]},
                                 meta)
    pipe = fertk.Pipeline(weights=str(frame_only), temporal="average", window=4)
    recs = [r for r in pipe.run(str(media["one"])) if r.faces][:6]
    frames = np.stack([r.faces[0].frame_probs for r in recs])
    assert np.allclose(recs[5].faces[0].probs, frames[2:6].mean(0), atol=1e-5)
    with pytest.raises(fertk.FertkError, match="fertk train"):
        fertk.Pipeline(weights=str(frame_only), temporal="gru")
