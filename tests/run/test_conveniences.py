"""The peers' conveniences (issue #38 item 6), on real photos with the bundled default model:
``fertk.top_emotion`` (fer), faces cropped already (``detector="none"``, listed;
``fertk.classify`` in batches: HSEmotion's ``predict_multi_emotions``), embeddings
(``Pipeline.features``, ``fertk run --embeddings``: HSEmotion's ``extract_features``) and the
choice between an error and an empty result when no face is found (``require_face``,
``--require-face``: deepface's ``enforce_detection``)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import fertk
from fertk.cli import cli

REPO = Path(__file__).resolve().parents[2]
GROUP = REPO / "tests" / "data" / "group.jpg"
PHOTO = REPO / "examples" / "media" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def pipe():
    return fertk.Pipeline(engine="torch")


@pytest.fixture(scope="module")
def crops(pipe):
    """The five faces of the group photo, cut out along the detector's boxes, and the labels
    the pipeline gives them in the photo."""
    image = cv2.imread(str(GROUP))
    res = pipe.analyze(str(GROUP))
    assert len(res.faces) == 5
    cut = [image[int(f.box[1]):int(f.box[3]), int(f.box[0]):int(f.box[2])].copy() for f in res.faces]
    return cut, [f.label for f in res.faces]


def test_top_emotion_is_the_largest_face(pipe, tmp_path):
    label, score = fertk.top_emotion(str(GROUP), engine="torch")
    faces = pipe.analyze(str(GROUP)).faces
    largest = max(faces, key=lambda f: f.w * f.h)
    assert (label, score) == (largest.label, pytest.approx(largest.confidence, abs=1e-5))
    assert 0 < score <= 1 and isinstance(label, str)
    blank = np.full((160, 160, 3), 90, np.uint8)
    assert fertk.top_emotion(blank) is None
    with pytest.raises(fertk.NoFaceError, match=r"no face found \(a face is required"):
        fertk.top_emotion(blank, require_face=True)
    with pytest.raises(fertk.FertkError, match="pass one image"):
        fertk.top_emotion([str(PHOTO)])


def test_require_face_is_a_choice_in_the_api(pipe):
    blank = np.full((160, 160, 3), 90, np.uint8)
    assert pipe.analyze(blank).faces == []  # the default is unchanged: an empty result
    with pytest.raises(fertk.NoFaceError):
        pipe.analyze(blank, require_face=True)
    with pytest.raises(fertk.NoFaceError):
        fertk.analyze([str(PHOTO), blank], require_face=True)
    assert len(fertk.analyze([str(PHOTO), blank])) == 2


def test_detector_none_is_listed_and_documented():
    res = CliRunner().invoke(cli, ["list", "detectors", "--json"])
    none = next(d for d in json.loads(res.stdout) if d["name"] == "none")
    assert "whole image is one face" in none["description"] and none["landmarks"] is None


def test_classify_crops_in_batches(pipe, crops):
    cut, labels = crops
    results = pipe.classify(cut)
    assert len(results) == len(cut) and all(r.classes == pipe.classes for r in results)
    agree = sum(r.label == lbl for r, lbl in zip(results, labels, strict=True))
    assert agree >= 4, ([r.label for r in results], labels)  # the same faces, cropped by hand
    # the same as detector none, one crop at a time, and batching changes nothing
    alone = fertk.Pipeline(detector="none", engine="torch")
    for crop, r in zip(cut, results, strict=True):
        (face,) = alone.analyze(crop).faces
        assert face.box == (0.0, 0.0, float(crop.shape[1]), float(crop.shape[0]))
        np.testing.assert_allclose(face.probs, r.probs, atol=1e-5)
    small = fertk.Pipeline(engine="torch", batch_size=2).classify(cut)
    np.testing.assert_allclose(np.stack([r.probs for r in small]),
                               np.stack([r.probs for r in results]), atol=1e-5)
    # an (N, H, W, C) array and gray (N, H, W) crops, and fertk.classify
    same = np.stack([cv2.resize(c, (100, 100)) for c in cut])
    as_array = pipe.classify(same)
    as_list = fertk.classify(list(same), engine="torch")
    np.testing.assert_allclose(np.stack([r.probs for r in as_array]),
                               np.stack([r.probs for r in as_list]), atol=1e-5)
    gray = pipe.classify(np.stack([cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for c in same]))
    assert len(gray) == len(cut) and gray[0].to_dict()["label"] == gray[0].label


def test_classify_refuses_what_is_not_a_list_of_crops_in_one_line(pipe, crops):
    cut, _ = crops
    for bad, match in ((cut[0], "is ambiguous"), (str(PHOTO), "pass a list"),
                       ([cut[0], 3], "item 1 is a int")):
        with pytest.raises(fertk.FertkError, match=match):
            pipe.classify(bad)


def test_features_are_the_penultimate_layer(pipe):
    import torch

    feats = pipe.features(str(GROUP))
    net = pipe.model.backbone
    assert feats.shape == (5, net.feature_dim) and feats.dtype == np.float32
    faces = pipe.analyze(str(GROUP)).faces
    with torch.no_grad():
        probs = torch.softmax(net.forward_head(torch.from_numpy(feats)), 1).numpy()
    np.testing.assert_allclose(probs, np.stack([f.probs for f in faces]), atol=1e-4)
    onnx = fertk.Pipeline(engine="onnxruntime").features(str(GROUP))
    np.testing.assert_allclose(onnx, feats, rtol=1e-3, atol=1e-3)
    assert pipe.features(np.full((120, 120, 3), 90, np.uint8)).shape == (0, 0)
    assert pipe.analyze(str(GROUP)).faces[0].embedding is None  # only when asked
    variant = fertk.Pipeline(engine="int8_dynamic")
    with pytest.raises(fertk.FertkError, match="embeddings need --engine torch or onnxruntime"):
        variant.features(str(PHOTO))


def test_run_embeddings_in_the_jsonl_and_require_face(pipe, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["run", str(GROUP), "--embeddings", "--out", str(out),
                                   "--no-annotate", "--no-table", "--engine", "torch"])
    assert res.exit_code == 0, res.output
    (line,) = (out / "group.jsonl").read_text().splitlines()
    vectors = np.asarray([f["embedding"] for f in json.loads(line)["faces"]], np.float32)
    np.testing.assert_allclose(vectors, pipe.features(str(GROUP)), rtol=1e-4, atol=1e-4)
    bad = CliRunner().invoke(cli, ["run", str(GROUP), "--embeddings", "--no-jsonl",
                                   "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "leave out --no-jsonl" in bad.output
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 90, np.uint8))
    plain = CliRunner().invoke(cli, ["run", str(blank), "--out", str(tmp_path / "p"),
                                     "--no-annotate", "--no-table"])
    assert plain.exit_code == 0, plain.output
    strict = CliRunner().invoke(cli, ["run", str(blank), "--require-face", "--out",
                                      str(tmp_path / "s"), "--no-annotate", "--no-table"])
    assert strict.exit_code == 1 and "Traceback" not in strict.output
    assert "blank.png: no face found (a face is required" in strict.output
    from fertk.io.video import write_video

    video = write_video(tmp_path / "empty.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 6, fps=6)
    strict = CliRunner().invoke(cli, ["run", str(video), "--require-face", "--out",
                                      str(tmp_path / "v"), "--no-annotate", "--no-table"])
    assert strict.exit_code == 1 and "empty: no face found in any frame" in strict.output
