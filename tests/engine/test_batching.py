"""The engine's batch pipeline is fertk.augment.geometric + fertk.preprocess, nothing of its own."""

from __future__ import annotations

import numpy as np
import torch

from fertk.augment.geometric import BatchAugment
from fertk.preprocess import FrameTransform
from fertk.training.batching import BatchPipeline
from fertk.training.config import AugmentConfig

DTAN = {"input_size": [64, 64], "in_chans": 1, "crop_size": 96, "mean": [0.5], "std": [0.5]}


def _crops(n=12, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 120, 120), dtype=np.uint8))


def test_train_batches_are_exact_windows_then_the_test_time_resize():
    x = _crops()
    pipe = BatchPipeline(DTAN, AugmentConfig(shift=True, flip=True))
    out = pipe.train(x, torch.Generator().manual_seed(3))
    assert out.shape == (12, 1, 64, 64)
    ft = FrameTransform(DTAN)
    # every image is FrameTransform's resize/normalise of some whole-pixel 96 window (or its mirror)
    xf = x.float().div(255)[:, None]
    for i in range(len(x)):
        cands = [xf[i : i + 1, :, t : t + 96, left : left + 96] for t in range(25) for left in range(25)]
        cands = torch.cat(cands + [c.flip(-1) for c in cands])
        assert (ft.normalize(cands) - out[i]).abs().amax(dim=(1, 2, 3)).min() < 1e-5
    # same generator seed, same batch (resume replays the draws); another seed differs
    again = pipe.train(x, torch.Generator().manual_seed(3))
    assert torch.equal(out, again)
    assert not torch.equal(out, pipe.train(x, torch.Generator().manual_seed(4)))
    # augmentation off: exactly the test-time transform
    off = BatchPipeline(DTAN, AugmentConfig(shift=False, flip=False)).train(x)
    assert torch.equal(off, ft(x)) and torch.equal(off, pipe.test(x))


def test_rotation_and_scale_sample_straight_to_the_input_size():
    x = _crops(4)
    pipe = BatchPipeline(DTAN, AugmentConfig(rotate=10.0, scale=0.1))
    aug = pipe.augmenter(120)
    assert isinstance(aug, BatchAugment) and not aug.exact
    assert aug.crop == 96 and aug.size == (64, 64) and aug.scale == (0.9, 1.1)
    out = pipe.train(x, torch.Generator().manual_seed(0))
    assert out.shape == (4, 1, 64, 64) and torch.isfinite(out).all()
    # a 60x60 crop takes a proportionally smaller window (FrameTransform.region)
    assert pipe.augmenter(60).crop == 48
