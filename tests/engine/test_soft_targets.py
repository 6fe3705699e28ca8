"""Training on label distributions (fertk.training.losses): the soft-target loss, the label
modes' losses, the rare-class options, and a frame stage that learns from distributions."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fertk.errors import FertkError
from fertk.training.config import build_config
from fertk.training.losses import FrameLoss, class_prior, class_weights, frame_loss
from fertk.training.train import Trainer


def _stage(**kw):
    return SimpleNamespace(**{"label_smoothing": 0.0, "class_balance": "none", "logit_adjust": 0.0, **kw})


def test_soft_loss_on_one_hot_targets_is_the_cross_entropy_of_the_index():
    torch.manual_seed(0)
    logits = torch.randn(32, 5)
    y = torch.randint(0, 5, (32,))
    one_hot = F.one_hot(y, 5).float()
    for ls in (0.0, 0.1):
        soft = frame_loss(_stage(label_smoothing=ls), one_hot.numpy(), 5, "soft")
        assert soft.kind == "soft"
        ref = F.cross_entropy(logits, y, label_smoothing=ls)
        assert torch.allclose(soft(logits, one_hot), ref, atol=1e-6)
    plain = frame_loss(_stage(), y.numpy(), 5)
    assert plain.kind == "" and torch.equal(plain(logits, y), F.cross_entropy(logits, y))


def test_soft_loss_learns_a_distribution():
    target = torch.tensor([[0.6, 0.3, 0.1, 0.0]]).repeat(8, 1)
    loss = frame_loss(_stage(), target.numpy(), 4, "soft")
    logits = torch.zeros(8, 4, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    for _ in range(400):
        opt.zero_grad()
        loss(logits, target).backward()
        opt.step()
    assert torch.allclose(logits.softmax(1), target, atol=0.02)  # not just the majority class
    # the index loss would have pushed everything onto class 0
    assert logits.softmax(1)[0, 1] > 0.25


def test_sampled_and_max_losses():
    target = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.0, 0.0, 4.0]])
    draws = {tuple(torch.multinomial(target, 1, generator=torch.Generator().manual_seed(s)).squeeze(1).tolist())
             for s in range(20)}
    assert draws <= {(0, 2), (1, 2)} and len(draws) == 2  # both classes of the split face
    sample = frame_loss(_stage(), target.numpy(), 3, "sample")
    g = torch.Generator().manual_seed(3)
    picked = torch.multinomial(target, 1, generator=torch.Generator().manual_seed(3)).squeeze(1)
    assert torch.equal(sample(logits, target, g), F.cross_entropy(logits, picked))
    mx = frame_loss(_stage(), target.numpy(), 3, "max")
    p = logits.softmax(1)
    expected = -torch.log(torch.stack([0.5 * p[0, 0], p[1, 2]])).mean()
    assert torch.allclose(mx(logits, target), expected)
    # a confident prediction of either class of the split face costs the same
    swapped = torch.tensor([[0.0, 4.0, 0.0], [0.0, 0.0, 4.0]])
    assert torch.allclose(mx(swapped, target), mx(logits, target))
    with pytest.raises(FertkError, match="target kind"):
        frame_loss(_stage(), target.numpy(), 3, "votes")


def test_rare_class_options():
    labels = np.array([0] * 80 + [1] * 15 + [2] * 5)
    prior = class_prior(labels, 3)
    assert np.allclose(prior, [0.8, 0.15, 0.05])
    assert np.allclose(class_prior(np.eye(3)[labels], 3), prior)  # distributions too
    w = class_weights(prior, "inverse")
    assert w.mean() == pytest.approx(1.0) and w[2] / w[0] == pytest.approx(16.0)
    assert class_weights(prior, "sqrt")[2] / class_weights(prior, "sqrt")[0] == pytest.approx(4.0)
    assert class_weights(prior, "none") is None
    adj = frame_loss(_stage(logit_adjust=1.0), labels, 3)
    assert torch.allclose(adj.logit_bias, torch.log(torch.tensor(prior, dtype=torch.float32)))
    logits, y = torch.zeros(4, 3), torch.tensor([0, 1, 2, 2])
    # equal logits: the adjusted loss blames the rare classes' terms more than plain CE does
    assert adj(logits, y) > F.cross_entropy(logits, y)
    bal = frame_loss(_stage(class_balance="inverse"), labels, 3)
    assert torch.allclose(bal(logits, y), F.cross_entropy(logits, y, weight=bal.weight))


def _config(**frame):
    return {"name": "soft", "protocol": {"kind": "standard"},
            "model": {"backbone": "compact_tiny", "temporal": None,
                      "backbone_options": {"input_size": 16, "drop": 0.1, "batch_norm": "fold"}},
            "frame": {"epochs": 2, "batch_size": 16, "lr": 0.003, "warmup_epochs": 0, "patience": 100,
                      "label_smoothing": 0.0,
                      "augment": {"illumination": "none", "test_illumination": "none", "rotate": 0.0,
                                  "scale": 0.0, "flip": False, "shift": False}, **frame},
            "run": {"progress": False, "seed": 0}}


def _history(run):
    return json.loads((run / "folds" / "standard" / "result.json").read_text())["frame"]["history"]


def test_frame_stage_trains_on_distributions(tmp_path, bars):
    torch.set_num_threads(1)
    data = bars()
    k = len(data.classes)
    plain = Trainer(build_config(_config()), out=tmp_path / "plain", data=data).run()
    # one-hot targets: the same run as the labels, up to the kernels' last bits
    data.targets, data.target_kind = np.eye(k, dtype=np.float32)[data.labels], "soft"
    onehot = Trainer(build_config(_config()), out=tmp_path / "onehot", data=data).run()
    a, b = _history(tmp_path / "plain"), _history(tmp_path / "onehot")
    assert np.allclose([r["loss"] for r in a], [r["loss"] for r in b], rtol=1e-4)
    assert plain["stages"]["frame"]["pooled"]["accuracy"] == onehot["stages"]["frame"]["pooled"]["accuracy"]
    # soft targets: a quarter of each face's mass on the next class; still learns the majority
    soft = 0.75 * np.eye(k, dtype=np.float32)[data.labels] + 0.25 * np.eye(k, dtype=np.float32)[(data.labels + 1) % k]
    data.targets = soft
    run = Trainer(build_config(_config()), out=tmp_path / "soft", data=data).run()
    assert run["stages"]["frame"]["pooled"]["accuracy"] > 0.6  # chance is 0.25
    assert _history(tmp_path / "soft")[-1]["loss"] > a[-1]["loss"]  # a distribution's entropy remains
    data.target_kind = "max"
    run = Trainer(build_config(_config(class_balance="sqrt", logit_adjust=1.0)), out=tmp_path / "max",
                  data=data).run()
    assert run["stages"]["frame"]["pooled"]["accuracy"] > 0.6


def test_digest_at_the_defaults_and_bad_values(tmp_path):
    raw = {**_config(), "data": {"dataset": "ferplus", "root": str(tmp_path)}}
    base = build_config(raw)
    assert build_config(raw, ["frame.class_balance=none", "frame.logit_adjust=0"]).digest() == base.digest()
    assert build_config(raw, ["frame.logit_adjust=1"]).digest() != base.digest()
    with pytest.raises(FertkError, match=r"frame\.class_balance: must be one of none, inverse, sqrt"):
        build_config(raw, ["frame.class_balance=balanced"])
    for value in ("-1", "true", "x", "11"):
        with pytest.raises(FertkError, match=r"frame\.logit_adjust: must be"):
            build_config(raw, [f"frame.logit_adjust={value}"])


def test_frame_loss_moves_to_a_device():
    loss = frame_loss(_stage(class_balance="inverse", logit_adjust=0.5), np.array([0, 0, 1]), 2)
    moved = loss.to(torch.device("cpu"))
    assert isinstance(moved, FrameLoss) and torch.equal(moved.weight, loss.weight)
