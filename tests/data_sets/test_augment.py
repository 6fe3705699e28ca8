"""Illumination normalisations (HE, LM, WS, Aug) and the batched geometric augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fertk
from fertk.augment.geometric import center_crop
from fertk.errors import FertkError


@pytest.fixture
def dim_images():
    rng = np.random.default_rng(0)
    return rng.integers(40, 110, size=(4, 120, 120)).astype(np.uint8)


def _he_reference(img):
    hist = np.bincount(img.ravel(), minlength=256)
    cdf = hist.cumsum()
    cmin = cdf[cdf > 0][0]
    lut = np.round((cdf - cmin) / (img.size - cmin) * 255).clip(0, 255)
    return lut[img].astype(np.uint8)


def test_he_matches_textbook_equalisation(dim_images):
    he = fertk.create("augmentations", "he")
    out = he(dim_images)
    assert out.shape == dim_images.shape and out.dtype == np.uint8
    for x, y in zip(dim_images, out, strict=True):
        assert np.abs(y.astype(int) - _he_reference(x).astype(int)).max() <= 1
        # equalised: the cumulative histogram is close to the diagonal
        cdf = np.bincount(y.ravel(), minlength=256).cumsum() / y.size
        assert np.abs(cdf - np.arange(1, 257) / 256).max() < 0.05
    assert np.array_equal(he(dim_images[0]), out[0])  # single image == batch row


def test_lm_is_a_linear_stretch(dim_images):
    out = fertk.create("augmentations", "lm")(dim_images)
    for x, y in zip(dim_images, out, strict=True):
        assert y.min() == 0 and y.max() == 255
        expect = (x.astype(float) - x.min()) * 255 / (x.max() - x.min())
        assert np.abs(y - expect).max() <= 0.5 + 1e-9
    flat = np.full((10, 10), 77, np.uint8)
    assert np.array_equal(fertk.create("augmentations", "lm")(flat), flat)


def test_ws_is_the_half_half_mix_and_aug_has_three_copies(dim_images):
    he = fertk.create("augmentations", "he")(dim_images).astype(float)
    lm = fertk.create("augmentations", "lm")(dim_images).astype(float)
    ws = fertk.create("augmentations", "ws")(dim_images)
    assert np.abs(ws - (0.5 * he + 0.5 * lm)).max() <= 0.5 + 1e-9
    ws8 = fertk.create("augmentations", "ws", lam=0.8)(dim_images)
    assert np.abs(ws8 - (0.8 * he + 0.2 * lm)).max() <= 0.5 + 1e-9
    aug = fertk.create("augmentations", "aug")
    x, y = aug.expand(dim_images, np.arange(4))
    assert x.shape == (12, 120, 120) and y.tolist() == [0, 1, 2, 3] * 3
    assert np.array_equal(x[:4], he) and np.array_equal(x[4:8], lm) and np.array_equal(x[8:], ws)
    assert np.array_equal(fertk.create("augmentations", "aug", mode="expand")(dim_images), x)
    # random mode: each image becomes one of its three copies, and all three are drawn
    many = np.tile(dim_images, (15, 1, 1))  # 60 images
    r = aug(many, rng=np.random.default_rng(0))
    picked = [[k for k in range(3) if np.array_equal(r[i], x[i % 4 + 4 * k])] for i in range(60)]
    assert all(len(p) == 1 for p in picked)
    counts = np.bincount([p[0] for p in picked], minlength=3)
    assert counts.min() >= 10, counts  # 60 draws of 3 equally likely copies
    assert np.array_equal(aug(many, rng=np.random.default_rng(0)), r)  # seeded
    with pytest.raises(FertkError, match="uint8"):
        fertk.create("augmentations", "he")(dim_images.astype(np.float32))


def test_batch_geometric_shapes_and_seeded_determinism():
    x = torch.randint(0, 256, (16, 120, 120), dtype=torch.uint8)
    a = fertk.create("augmentations", "geometric", seed=5)(x)
    b = fertk.create("augmentations", "geometric", seed=5)(x)
    c = fertk.create("augmentations", "geometric", seed=6)(x)
    assert a.shape == (16, 1, 96, 96) and a.dtype == torch.float32
    assert 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    small = fertk.create("augmentations", "paper", size=48, seed=0)(x)
    assert small.shape == (16, 1, 48, 48)


def test_geometric_ops_are_exact_where_they_should_be():
    img = torch.rand(3, 1, 120, 120)
    no_op = fertk.create("augmentations", "hflip", flip=0.0)(img)
    assert torch.allclose(no_op, img[..., 12:108, 12:108], atol=1e-4)
    flipped = fertk.create("augmentations", "hflip", flip=1.0)(img)
    assert torch.allclose(flipped, center_crop(img).flip(-1), atol=1e-4)
    # a random crop is an integer-free shift of the window: it matches some 96x96 window
    # up to interpolation, and the windows differ across the batch
    crops = fertk.create("augmentations", "random_crop", seed=1)(img.repeat(8, 1, 1, 1)[:8])
    assert crops.shape == (8, 1, 96, 96) and len({round(float(c.mean()), 6) for c in crops}) > 1
    # rotation about the centre keeps a centred disc's pixels in place
    yy, xx = torch.meshgrid(torch.arange(120.0), torch.arange(120.0), indexing="ij")
    disc = (((yy - 59.5) ** 2 + (xx - 59.5) ** 2) < 20**2).float()[None, None]
    rot = fertk.create("augmentations", "geometric", shift=False, flip=0.0, rotate=30, scale=(1, 1),
                       seed=0)(disc)
    assert (rot - center_crop(disc)).abs().mean() < 0.01


def test_training_batches_with_the_aug_scheme_and_augmentation(prepared_last3):
    """The engine's one batch path: the registered "aug" scheme's copies (HE, LM, WS), then
    the registered geometric augmentation, replayed exactly by the same generator; test-time
    input is the central crop."""
    from fertk.training.arrays import Illuminated, as_array_set
    from fertk.training.batching import BatchPipeline
    from fertk.training.config import AugmentConfig

    ds = as_array_set(prepared_last3)
    rows = prepared_last3.frame_indices(peak_only=False)
    aug = AugmentConfig(illumination="aug", rotate=10.0, scale=0.1)
    x_u8, y = Illuminated(ds).training(aug, rows)
    assert len(x_u8) == 3 * len(rows) and y.tolist() == np.tile(ds.labels[rows], 3).tolist()
    he = fertk.create("augmentations", "he")(np.asarray(ds.crops[rows[:2]]))
    assert np.array_equal(x_u8[:2], he)
    spec = {"input_size": [96, 96], "in_chans": 1, "crop_size": 96, "mean": [0.5], "std": [0.5]}
    pipe = BatchPipeline(spec, aug)
    x = pipe.train(x_u8[:32], torch.Generator().manual_seed(0))
    assert x.shape == (32, 1, 96, 96)
    assert torch.equal(pipe.train(x_u8[:32], torch.Generator().manual_seed(0)), x)
    tx = pipe.test(np.asarray(ds.crops[rows[:5]]))
    expect = torch.from_numpy(np.asarray(ds.crops[rows[:5]])[:, 12:108, 12:108]) / 255
    assert torch.allclose(tx[:, 0], (expect - 0.5) / 0.5)
