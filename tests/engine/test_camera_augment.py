"""Camera augmentations (issue #35 item 4): blur, noise, JPEG, down-up and all four, as
registered components of kind ``camera`` applied to training batches after the geometric one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fertk.errors import FertkError
from fertk.plugins import get_registry
from fertk.training.batching import BatchPipeline
from fertk.training.config import build_config

NAMES = ["blur", "noise", "jpeg", "downup", "camera"]
SPEC = {"input_size": [48, 48], "in_chans": 1, "crop_size": 48, "mean": [0.5], "std": [0.5]}


def faces(n: int = 12, side: int = 48) -> torch.Tensor:
    """Sharp-edged images: a bright disc and stripes on a dark ground, in [0, 1]."""
    yy, xx = np.mgrid[:side, :side]
    base = ((xx - side / 2) ** 2 + (yy - side / 2) ** 2 < (side / 3) ** 2) * 0.6
    base = base + ((xx // 3) % 2) * 0.3
    imgs = np.stack([np.roll(base, i, axis=1) for i in range(n)])[:, None]
    return torch.from_numpy(imgs.astype(np.float32)).clamp(0, 1)


def sharpness(x: torch.Tensor) -> float:
    """Mean absolute horizontal gradient: falls when an image is blurred or down-sampled."""
    return float((x[..., 1:] - x[..., :-1]).abs().mean())


def build(name: str, **options):
    return get_registry("augmentations").create(name, **options)


@pytest.mark.parametrize("name", NAMES)
def test_each_is_a_registered_camera_augmentation(name):
    spec = get_registry("augmentations").get(name)
    assert spec.metadata["kind"] == "camera"
    assert "p" in spec.metadata["options"]


@pytest.mark.parametrize("name", NAMES)
def test_p_one_degrades_every_image_p_zero_none(name):
    x = faces()
    g = torch.Generator().manual_seed(0)
    y = build(name, p=1.0)(x, g)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    changed = (y - x).abs().flatten(1).amax(1)
    assert bool((changed > 1e-3).all()), changed
    assert torch.equal(build(name, p=0.0)(x, g), x)


def test_blur_and_downup_remove_detail_noise_adds_it():
    x = faces()
    g = torch.Generator().manual_seed(1)
    assert sharpness(build("blur", p=1.0, sigma=1.5)(x, g)) < 0.6 * sharpness(x)
    assert sharpness(build("downup", p=1.0, scale=0.3)(x, g)) < 0.8 * sharpness(x)
    y = build("noise", p=1.0, std=0.05)(torch.full((8, 1, 48, 48), 0.5), g)
    assert 0.04 < float((y - 0.5).std()) < 0.06


def test_jpeg_quality_orders_the_error():
    x = faces()
    g = torch.Generator().manual_seed(2)
    low = (build("jpeg", p=1.0, quality=5)(x, g) - x).abs().mean()
    high = (build("jpeg", p=1.0, quality=95)(x, g) - x).abs().mean()
    assert float(low) > 2 * float(high) > 0


def test_p_is_a_per_image_probability():
    x = faces(400, 16)
    y = build("noise", p=0.5, std=0.05)(x, torch.Generator().manual_seed(3))
    share = float(((y - x).abs().flatten(1).amax(1) > 0).float().mean())
    assert 0.4 < share < 0.6


@pytest.mark.parametrize("name", NAMES)
def test_the_same_generator_replays_the_same_draws(name):
    x = faces()
    a = build(name)(x, torch.Generator().manual_seed(7))
    b = build(name)(x, torch.Generator().manual_seed(7))
    c = build(name)(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("name, options, words", [
    ("blur", {"sigma": [2, 1]}, "sigma"), ("noise", {"std": -1}, "std"),
    ("jpeg", {"quality": 0}, "quality"), ("downup", {"scale": 2}, "scale"),
    ("blur", {"p": 1.5}, "probability"), ("noise", {"sd": 1}, "unknown option"),
    ("camera", {"jpeg_q": 3}, "unknown option"), ("camera", {"gamma_p": 1}, "unknown option"),
])
def test_bad_options_are_one_line(name, options, words):
    with pytest.raises(FertkError, match=words):
        build(name, **options)


def test_the_config_names_a_camera_augmentation_and_keeps_old_digests():
    assert build_config({}).digest() == build_config({"frame": {"augment": {"camera": "none"}}}).digest()
    assert build_config({}).digest() != build_config({"frame": {"augment": {"camera": "blur"}}}).digest()
    with pytest.raises(FertkError, match="frame.augment.camera.*not a camera one"):
        build_config({"frame": {"augment": {"camera": "he"}}})
    with pytest.raises(FertkError, match="frame.augment.camera_options"):
        build_config({"frame": {"augment": {"camera": "blur", "camera_options": 3}}})


def test_training_batches_get_it_after_the_geometric_one_and_test_batches_never():
    crops = (faces(6).numpy()[:, 0] * 255).astype(np.uint8)
    plain = BatchPipeline(SPEC, build_config({}).frame.augment)
    cam = BatchPipeline(SPEC, build_config({"frame": {"augment": {
        "camera": "noise", "camera_options": {"p": 1.0, "std": 0.05}}}}).frame.augment)
    assert plain.camera is None and cam.camera is not None
    a = plain.train(crops, torch.Generator().manual_seed(4))
    b = cam.train(crops, torch.Generator().manual_seed(4))
    assert a.shape == b.shape and not torch.equal(a, b)
    # the geometric draws come first: the same windows, plus noise (std 0.05 of [0, 1] = 0.1
    # after normalising by std 0.5), where the noisy pixel was not clipped
    inside = (b > -0.95) & (b < 0.95)
    assert 0.07 < float((b - a)[inside].std()) < 0.13
    assert torch.equal(plain.test(crops), cam.test(crops))
