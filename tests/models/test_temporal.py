"""Every registered temporal head, plus the GRU's resampling, streaming and learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fertk
from fertk.errors import FertkError
from fertk.temporal import resample_uniform, uniform_indices
from fertk.temporal.heads import SlidingWindow

from .conftest import HEADS


def _probs(b, t, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(b, t, k, generator=g), dim=-1)


def test_builtins_and_plugin_are_enumerated():
    assert {"gru", "average", "last", "example_attention"} <= set(HEADS)


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("steps", [1, 5, 9, 23])
def test_forward_backward_shapes_finite(name, steps):
    head = fertk.create("temporal", name, num_classes=6, input_dim=6)
    assert head.input_kind in ("probs", "features")
    head.train()
    x = _probs(3, steps, 6).requires_grad_(True)
    out = head(x)
    assert out.shape == (3, 6) and torch.isfinite(out).all()
    out.logsumexp(-1).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for p in head.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


@pytest.mark.parametrize("name", HEADS)
def test_eval_is_deterministic(name):
    head = fertk.create("temporal", name, num_classes=7, input_dim=7).eval()
    x = _probs(2, 12, 7)
    with torch.no_grad():
        assert torch.equal(head(x), head(x))


def test_uniform_indices_keep_onset_and_apex():
    for n in (1, 2, 5, 9, 10, 37):
        idx = uniform_indices(n, 9)
        assert len(idx) == 9 and idx[0] == 0 and idx[-1] == n - 1
        assert np.all(np.diff(idx) >= 0)
        if n >= 9:
            assert len(set(idx.tolist())) == 9  # no frame repeated when there are enough
    assert uniform_indices(17, 9).tolist() == [0, 2, 4, 6, 8, 10, 12, 14, 16]
    assert uniform_indices(4, 1).tolist() == [3]
    seq = np.arange(17 * 2).reshape(17, 2)
    assert np.array_equal(resample_uniform(seq, 9), seq[::2])
    assert torch.equal(resample_uniform(torch.as_tensor(seq), 9), torch.as_tensor(seq[::2]))
    assert resample_uniform(list("abcdefghi"), 3) == ["a", "e", "i"]


def test_gru_is_the_papers_head():
    head = fertk.create("temporal", "gru", num_classes=7)
    assert head.input_kind == "probs" and head.seq_len == 9
    assert head.gru.hidden_size == 128 and head.gru.num_layers == 1 and head.gru.input_size == 7
    expected = 3 * (7 * 128 + 128 * 128 + 2 * 128) + 128 * 7 + 7
    assert sum(p.numel() for p in head.parameters()) == expected == 53_511


def test_gru_resamples_and_pads():
    head = fertk.create("temporal", "gru", num_classes=7).eval()
    long = _probs(1, 20, 7)
    with torch.no_grad():
        assert torch.allclose(head(long), head(resample_uniform(long, 9, dim=1)), atol=1e-6)
        # a padded batch with per-row lengths equals each sequence alone
        a, b = _probs(1, 13, 7, seed=1), _probs(1, 6, 7, seed=2)
        padded = torch.cat([a, torch.cat([b, torch.zeros(1, 7, 7)], dim=1)])
        out = head(padded, lengths=torch.tensor([13, 6]))
        assert torch.allclose(out[0], head(a)[0], atol=1e-6)
        assert torch.allclose(out[1], head(b)[0], atol=1e-6)
        # the prediction depends on the order of the frames (unlike averaging)
        assert not torch.allclose(head(long), head(long.flip(1)), atol=1e-4)


def test_gru_on_features():
    head = fertk.create("temporal", "gru", num_classes=5, input_kind="features", input_dim=64, seq_len=4)
    assert head(torch.randn(2, 10, 64)).shape == (2, 5)
    with pytest.raises(FertkError, match="input_dim"):
        fertk.create("temporal", "gru", num_classes=5, input_kind="features")
    with pytest.raises(FertkError, match="input_kind"):
        fertk.create("temporal", "gru", num_classes=5, input_kind="logits")


def test_average_and_last_are_parameter_free_baselines():
    x = _probs(2, 11, 7)
    avg = fertk.create("temporal", "average", num_classes=7)
    last = fertk.create("temporal", "last", num_classes=7)
    assert sum(p.numel() for p in avg.parameters()) == sum(p.numel() for p in last.parameters()) == 0
    assert torch.allclose(torch.softmax(avg(x), -1), x.mean(1), atol=1e-6)
    assert torch.allclose(torch.softmax(last(x), -1), x[:, -1], atol=1e-6)
    lengths = torch.tensor([11, 4])
    assert torch.allclose(torch.softmax(avg(x, lengths=lengths), -1)[1], x[1, :4].mean(0), atol=1e-6)
    assert torch.allclose(torch.softmax(last(x, lengths=lengths), -1)[1], x[1, 3], atol=1e-6)
    for name in ("average", "last"):
        with pytest.raises(FertkError, match="probs"):
            fertk.create("temporal", name, num_classes=7, input_kind="features", input_dim=64)


@pytest.mark.parametrize("name", ["gru", "average", "last"])
def test_streaming_equals_windowed_prediction(name):
    head = fertk.create("temporal", name, num_classes=7).eval()
    seq = _probs(1, 30, 7)[0]
    stream = head.stream(window=12, min_frames=3)
    for t in range(30):
        out = stream.push(seq[t].numpy())
        if t < 2:
            assert out is None
            continue
        window = seq[max(0, t - 11) : t + 1]
        expected = head.predict_window(window)
        assert np.allclose(out, expected.numpy(), atol=1e-6)
        assert abs(out.sum() - 1) < 1e-5
        if name == "gru":
            with torch.no_grad():
                direct = torch.softmax(head(resample_uniform(window, 9)[None]), -1)[0]
            assert np.allclose(out, direct.numpy(), atol=1e-6)
    assert len(stream) == 12
    stream.reset()
    assert len(stream) == 0


def test_sliding_window_works_for_plugin_heads():
    head = fertk.create("temporal", "example_attention", num_classes=7, input_dim=7).eval()
    stream = SlidingWindow(head, window=5)
    seq = _probs(1, 8, 7)[0]
    for t in range(8):
        out = stream.push(seq[t])
    with torch.no_grad():
        assert np.allclose(out, torch.softmax(head(seq[3:][None]), -1)[0].numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="7 values"):
        stream.push(np.zeros(3))


def test_gru_learns_temporal_order_that_averaging_cannot():
    # class 0: probability of "a" rises over the sequence; class 1: it falls. Same mean.
    g = torch.Generator().manual_seed(0)

    def batch(n):
        labels = torch.randint(0, 2, (n,), generator=g)
        lengths = torch.randint(9, 25, (n,), generator=g)
        x = torch.zeros(n, 24, 2)
        for i in range(n):
            t = torch.linspace(0.1, 0.9, int(lengths[i]))
            p = t if labels[i] == 0 else t.flip(0)
            p = (p + 0.05 * torch.randn(len(p), generator=g)).clamp(0.01, 0.99)
            x[i, : len(p), 0], x[i, : len(p), 1] = p, 1 - p
        return x, labels, lengths

    head = fertk.create("temporal", "gru", num_classes=2)
    opt = torch.optim.Adam(head.parameters(), lr=0.01)  # the paper's optimiser and rate
    for _ in range(60):
        x, y, n = batch(48)
        loss = torch.nn.functional.cross_entropy(head(x, lengths=n), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y, n = batch(200)
    head.eval()
    with torch.no_grad():
        gru_acc = (head(x, lengths=n).argmax(-1) == y).float().mean().item()
        avg_acc = (fertk.create("temporal", "average", num_classes=2)(x, lengths=n).argmax(-1) == y).float().mean().item()
    assert gru_acc > 0.95
    assert avg_acc < 0.75
