"""FrameTransform: central crop, resize, channel replication and normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fertk.backbones.base import make_input_spec
from fertk.errors import FertkError
from fertk.preprocess import FrameTransform


def _crop():
    img = np.zeros((120, 120), np.uint8)  # border 0, central 96x96 a gradient
    img[12:108, 12:108] = np.arange(96, dtype=np.uint8)[None, :] * 2 + 10
    return img


def test_compact_spec_takes_the_central_96():
    t = FrameTransform(make_input_spec(96, 1, 96))
    x = t(_crop())
    assert x.shape == (1, 1, 96, 96) and x.dtype == torch.float32
    expected = (torch.from_numpy(_crop()[12:108, 12:108]).float() / 255 - 0.5) / 0.5
    assert torch.allclose(x[0, 0], expected)
    batch = t(np.stack([_crop()] * 4))
    assert batch.shape == (4, 1, 96, 96)
    assert torch.equal(t(torch.from_numpy(np.stack([_crop()] * 4))), batch)


def test_resize_replicate_and_per_channel_normalisation():
    spec = make_input_spec(64, 3, 96, mean=[0.1, 0.2, 0.3], std=[0.5, 0.25, 1.0])
    t = FrameTransform(spec)
    x = t(np.full((2, 120, 120), 51, np.uint8))  # 0.2 everywhere
    assert x.shape == (2, 3, 64, 64)
    for c, value in enumerate([(0.2 - 0.1) / 0.5, 0.0, (0.2 - 0.3) / 1.0]):
        assert torch.allclose(x[:, c], torch.full((2, 64, 64), value), atol=1e-5)


def test_normalize_is_the_training_path():
    t = FrameTransform(make_input_spec(64, 1, 96))
    crops = np.random.default_rng(0).integers(0, 256, (3, 120, 120), dtype=np.uint8)
    floats = torch.from_numpy(crops).float().unsqueeze(1) / 255
    assert torch.allclose(t.normalize(t.center(floats)), t(crops), atol=1e-6)
    assert t.normalize(floats[:, :, :96, 5:101]).shape == (3, 1, 64, 64)  # a random 96 crop


def test_other_crop_sizes_scale_the_region():
    t = FrameTransform(make_input_spec(96, 1, 96))
    assert t.region(120) == 96 and t.region(60) == 48
    assert t(np.zeros((60, 60), np.uint8)).shape == (1, 1, 96, 96)


def test_malformed_specs_are_user_errors():
    with pytest.raises(FertkError):
        FrameTransform({"in_chans": 1})
    with pytest.raises(FertkError, match="in_chans"):
        FrameTransform({"input_size": [96, 96], "in_chans": 2, "mean": [0.5], "std": [0.5]})
    with pytest.raises(FertkError, match="gray crops"):
        FrameTransform(make_input_spec(96))(np.zeros((2, 3, 120, 120), np.uint8))
