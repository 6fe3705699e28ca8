"""The insightface plugin runs real onnxruntime inference on a stand-in SCRFD model pack.

The pack is built here with the ``onnx`` helper API: an SCRFD-shaped detector (9 outputs:
scores, box distances and keypoint offsets for strides 8/16/32, 2 anchors per position) whose
scores are the average brightness of each stride cell, so white squares drawn on a black
image become "faces" whose decoded boxes and keypoints follow from SCRFD's decoding rules;
and a 2d106det-shaped landmark model with a known output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fertk import plugins
from fertk.errors import FertkError

SIZE = 160  # the stand-in's fixed input: feature maps 20x20, 10x10, 5x5
KPS_OFFSETS = np.array([[-0.4, -0.3], [0.4, -0.3], [0.0, 0.1], [-0.3, 0.5], [0.3, 0.5]], np.float32)
BOX_DIST = {8: 1.0, 16: 3.0, 32: 1.0}  # in stride units
SCORE_GAIN = {8: 0.0, 16: 0.9, 32: 1.0}


def _const(name, array):
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def build_scrfd(path: Path) -> None:
    nodes, inits, outputs = [], [], {}
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, SIZE, SIZE])
    nodes.append(helper.make_node("ReduceMean", ["input.1"], ["gray"], axes=[1], keepdims=1))
    for s in (8, 16, 32):
        n = (SIZE // s) ** 2
        inits += [
            _const(f"half_{s}", [0.5 * SCORE_GAIN[s]]),
            numpy_helper.from_array(np.array([n, 1], np.int64), f"shape_n_{s}"),
            numpy_helper.from_array(np.array([2 * n, 1], np.int64), f"shape_2n_{s}"),
            _const(f"bbox_{s}", np.full((2 * n, 4), BOX_DIST[s])),
            _const(f"kpsc_{s}", np.tile(KPS_OFFSETS.reshape(1, 10), (2 * n, 1))),
            _const("one", [1.0]) if s == 8 else None,
        ]
        nodes += [
            helper.make_node("AveragePool", ["gray"], [f"pool_{s}"], kernel_shape=[s, s], strides=[s, s]),
            helper.make_node("Add", [f"pool_{s}", "one"], [f"p1_{s}"]),
            helper.make_node("Mul", [f"p1_{s}", f"half_{s}"], [f"sc_{s}"]),
            helper.make_node("Reshape", [f"sc_{s}", f"shape_n_{s}"], [f"scn_{s}"]),
            helper.make_node("Concat", [f"scn_{s}", f"scn_{s}"], [f"sc2_{s}"], axis=1),
            helper.make_node("Reshape", [f"sc2_{s}", f"shape_2n_{s}"], [f"score_{s}"]),
            helper.make_node("Identity", [f"bbox_{s}"], [f"bbox_out_{s}"]),
            helper.make_node("Identity", [f"kpsc_{s}"], [f"kps_{s}"]),
        ]
        outputs[s] = n
    inits = [i for i in inits if i is not None]
    outs = [helper.make_tensor_value_info(f"score_{s}", TensorProto.FLOAT, [2 * outputs[s], 1]) for s in (8, 16, 32)]
    outs += [helper.make_tensor_value_info(f"bbox_out_{s}", TensorProto.FLOAT, [2 * outputs[s], 4]) for s in (8, 16, 32)]
    outs += [helper.make_tensor_value_info(f"kps_{s}", TensorProto.FLOAT, [2 * outputs[s], 10]) for s in (8, 16, 32)]
    graph = helper.make_graph(nodes, "scrfd_standin", [x], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


LM106 = np.stack(
    [np.linspace(-0.8, 0.8, 106), np.cos(np.linspace(0, 3 * np.pi, 106)) * 0.5], axis=1
).astype(np.float32)


def build_2d106(path: Path) -> None:
    x = helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 192, 192])
    y = helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 212])
    nodes = [
        helper.make_node("Sub", ["data", "zero"], ["sub0"], name="Sub_0"),
        helper.make_node("Mul", ["sub0", "zero"], ["mul0"], name="Mul_1"),
        helper.make_node("ReduceMean", ["mul0"], ["m"], axes=[1, 2, 3], keepdims=0, name="ReduceMean_2"),
        helper.make_node("Reshape", ["m", "shape11"], ["m11"], name="Reshape_3"),
        helper.make_node("Add", ["m11", "pred"], ["fc1"], name="Add_4"),
    ]
    inits = [
        _const("zero", [0.0]),
        numpy_helper.from_array(np.array([1, 1], np.int64), "shape11"),
        _const("pred", LM106.reshape(1, 212)),
    ]
    model = helper.make_model(helper.make_graph(nodes, "lm106_standin", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def pack(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("buffalo_standin")
    build_scrfd(folder / "det_10g.onnx")
    build_2d106(folder / "2d106det.onnx")
    return folder


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.delenv("FERTK_LOAD_PLUGINS", raising=False)
    plugins.reset()
    yield plugins.get_registry("detectors")
    plugins.reset()


def scene() -> np.ndarray:
    """320x320 black image: a 64 px white square at (128, 64) and a 32 px one at (256, 256)."""
    img = np.zeros((320, 320, 3), np.uint8)
    img[64:128, 128:192] = 255
    img[256:288, 256:288] = 255
    return img


def test_registered_by_entry_point(registry):
    spec = registry.get("insightface")
    assert spec.plugin == "insightface"


def test_scrfd_decoding_boxes_keypoints_and_nms(registry, pack):
    det = registry.create("insightface", model_dir=str(pack), threshold=0.5)
    faces = det.detect(scene())
    # letterbox scale 0.5. Big square -> stride-32 cell (2,1), anchor (64,32) ±32 in the canvas;
    # its 4 stride-16 duplicates (±48, score 0.9) are suppressed by NMS.
    # Small square -> only stride 16 fires: anchor (128,128) ±48, i.e. the larger box.
    assert len(faces) == 2
    big, small = faces  # sorted by box area, not by score
    np.testing.assert_allclose(big.box, [160, 160, 352, 352], atol=1e-3)
    assert big.score == pytest.approx(0.9 * (1 + 127.5 / 128) / 2, abs=1e-3)
    np.testing.assert_allclose(small.box, [64, 0, 192, 128], atol=1e-3)
    assert small.score > 0.99
    expected_kps = (np.array([64.0, 32.0]) + KPS_OFFSETS * 32) / 0.5
    np.testing.assert_allclose(small.landmarks, expected_kps, atol=1e-3)
    assert small.scheme == "five_point"
    # keep only the largest / min size
    largest = registry.create("insightface", model_dir=str(pack), largest=True).detect(scene())
    assert len(largest) == 1 and largest[0].box == big.box
    assert registry.create("insightface", model_dir=str(pack), min_size=150).detect(scene())[0].box == big.box


def test_empty_image_gives_no_faces(registry, pack):
    det = registry.create("insightface", model_dir=str(pack))
    assert det.detect(np.zeros((240, 320, 3), np.uint8)) == []


def test_106_landmarks_mapped_back_to_the_image(registry, pack):
    det = registry.create("insightface", model_dir=str(pack), landmarks=106)
    faces = det.detect(scene())
    face = next(f for f in faces if f.box[2] - f.box[0] == pytest.approx(128, abs=1e-3))
    assert face.scheme == "insightface106" and face.landmarks.shape == (106, 2)
    # box (64,0,192,128): centre (128,64), crop scale 192/(128*1.5) = 1 -> point = pred*96 + centre
    np.testing.assert_allclose(face.landmarks, LM106 * 96 + np.array([128.0, 64.0]), atol=1e-3)


def test_landmark_crop_of_five_point_face(registry, pack):
    from fertk.plugins import get_registry

    face = registry.create("insightface", model_dir=str(pack)).detect(scene())[1]
    crop = get_registry("crops").create("landmark").crop(scene(), face)
    nose = crop.to_crop(face.landmarks)[2]
    np.testing.assert_allclose(nose, [59.5, 59.5], atol=1e-6)


def test_missing_pack_names_the_folder(registry, tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "buffalo_l"
    monkeypatch.setenv("FERTK_INSIGHTFACE_MODEL_DIR", str(missing))
    with pytest.raises(FertkError) as info:
        registry.create("insightface")
    msg = str(info.value)
    assert str(missing) in msg and "buffalo_l" in msg and "\n" not in msg
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FertkError, match="no SCRFD model"):
        registry.create("insightface", model_dir=str(empty))


def test_cli_detect_with_standin_pack(pack, tmp_path):
    import cv2

    img = tmp_path / "squares.png"
    cv2.imwrite(str(img), scene())
    out = tmp_path / "faces.json"
    cmd = [sys.executable, "-m", "fertk.cli", "detect", str(img), "--detector", "insightface",
           "-D", f"model_dir={pack}", "--json", str(out), "--save-crops", str(tmp_path / "crops")]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    record = json.loads(out.read_text())[0]
    assert [f["box"] for f in record["faces"]] == [[160, 160, 352, 352], [64, 0, 192, 128]]
    assert len(record["faces"][1]["landmarks"]) == 5
    assert len(list((tmp_path / "crops").glob("*.png"))) == 2
