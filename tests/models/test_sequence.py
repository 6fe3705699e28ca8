"""SequenceModel: the paper's two-stage contract (frozen frame model) and the joint mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fertk
from fertk.errors import FertkError
from fertk.models.sequence import SequenceModel
from fertk.temporal import resample_uniform


def _frames(b, t, size=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, t, 1, size, size, generator=g)


def test_two_stage_freezes_the_frame_model():
    model = SequenceModel.from_names("compact_tiny", "gru", num_classes=7)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    assert all(not p.requires_grad for p in model.backbone.parameters())
    assert model.trainable_parameters() and all(
        any(p is q for q in model.head.parameters()) for p in model.trainable_parameters())
    model.train()
    assert model.head.training and not model.backbone.training  # dropout off in the frame model
    opt = torch.optim.Adam(model.trainable_parameters(), lr=0.01)
    head_before = [p.clone() for p in model.head.parameters()]
    loss = torch.nn.functional.cross_entropy(model(_frames(2, 12)), torch.tensor([1, 3]))
    loss.backward()
    opt.step()
    after = model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert any(not torch.equal(a, b) for a, b in zip(head_before, model.head.parameters(), strict=True))


def test_joint_mode_trains_both():
    model = SequenceModel.from_names("compact_tiny", "average", num_classes=4, mode="joint")
    model.train()
    assert model.backbone.training
    model(_frames(2, 5)).logsumexp(-1).sum().backward()
    grads = [p.grad for p in model.backbone.parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0


def test_resampling_before_the_backbone_is_equivalent():
    model = SequenceModel.from_names("compact_tiny", "gru", num_classes=7).eval()
    frames = _frames(1, 15)
    with torch.no_grad():
        per_frame = torch.softmax(model.backbone(frames[0]), -1)
        expected = model.head(resample_uniform(per_frame, 9)[None])
        assert torch.allclose(model(frames), expected, atol=1e-5)
        # padded batch with lengths
        padded = torch.cat([frames, torch.cat([frames[:, :7], torch.zeros(1, 8, 1, 96, 96)], 1)])
        out = model(padded, lengths=[15, 7])
        assert torch.allclose(out[0], expected[0], atol=1e-5)
        assert torch.allclose(out[1], model(frames[:, :7])[0], atol=1e-5)
    probs = model.predict(frames)
    assert probs.shape == (1, 7) and torch.allclose(probs.sum(-1), torch.ones(1))


def test_features_input_and_mismatch():
    model = SequenceModel.from_names("compact_tiny", "gru", num_classes=5,
                                     head_options={"input_kind": "features", "seq_len": 4})
    assert model.head.input_dim == model.backbone.feature_dim == 64
    assert model(_frames(2, 6)).shape == (2, 5)
    bb = fertk.create("backbones", "compact_tiny", num_classes=5)
    with pytest.raises(FertkError, match="inputs per frame"):
        SequenceModel(bb, fertk.create("temporal", "gru", num_classes=7))
    with pytest.raises(FertkError, match="mode"):
        SequenceModel(bb, fertk.create("temporal", "average", num_classes=5), mode="e2e")


def test_streaming_sequence_model():
    model = SequenceModel.from_names("compact_tiny", "gru", num_classes=7).eval()
    frames = _frames(1, 6)[0]
    stream = model.stream(window=4)
    outs = [stream.push(f) for f in frames]
    vecs = np.stack([o[0] for o in outs])
    with torch.no_grad():
        per_frame = torch.softmax(model.backbone(frames), -1).numpy()
    assert np.allclose(vecs, per_frame, atol=1e-5)
    assert np.allclose(outs[-1][1], model.head.predict_window(per_frame[-4:]), atol=1e-5)
