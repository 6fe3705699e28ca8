"""Training uses the registries it advertises: a plugin's geometric and illumination
augmentations train like built-in ones, and config names are checked against the registry."""

from __future__ import annotations

import numpy as np
import pytest

from fertk import hookimpl
from fertk.errors import FertkError
from fertk.training.config import build_config

CALLS: dict[str, list] = {"geo": [], "ill": []}


class Darken:
    """A plugin's illumination normalisation: every pixel halved."""

    def __call__(self, images):
        CALLS["ill"].append(len(images))
        return (np.asarray(images) // 2).astype(np.uint8)


class CentreFlip:
    """A plugin's geometric augmentation: the centre window, mirrored, resized."""

    def __init__(self, crop=96, size=96, flip=0.5, strength=1.0):
        self.crop, self.size, self.flip, self.strength = crop, size, flip, strength

    def __call__(self, x, generator=None):
        from fertk.augment.geometric import center_crop, resize

        CALLS["geo"].append((tuple(x.shape), self.strength))
        return resize(center_crop(x, self.crop).flip(-1), self.size)


class _Plugin:
    @hookimpl
    def register_augmentations(self, register):
        register("darken", f"{__name__}:Darken", description="halve", kind="illumination")
        register("centre_flip", f"{__name__}:CentreFlip", description="mirror", kind="geometric",
                 options=["crop", "size", "flip"])


def config(**augment):
    return build_config({
        "name": "plug", "protocol": {"kind": "standard"},
        "model": {"backbone": "compact_tiny", "backbone_options": {"input_size": 16}, "temporal": None},
        "frame": {"epochs": 1, "batch_size": 32, "warmup_epochs": 0, "augment": augment},
        "run": {"progress": False},
    })


def test_a_plugins_augmentations_train_like_built_in_ones(tmp_path, fresh_plugins, bars):
    from fertk.training.train import Trainer

    fresh_plugins.register_plugin(_Plugin(), name="plug")
    CALLS["geo"].clear()
    CALLS["ill"].clear()
    cfg = config(illumination="darken", geometric="centre_flip", geometric_options={"strength": 2.0})
    ds = bars(n_per_class=8)
    Trainer(cfg, out=tmp_path / "run", data=ds).run()
    # every training batch went through the plugin's warp, built with its options
    assert CALLS["geo"] and all(s == 2.0 and shape[1:] == (1, 120, 120) for shape, s in CALLS["geo"])
    assert sum(shape[0] for shape, _ in CALLS["geo"]) >= 32  # Training: 32 images, one epoch
    assert CALLS["ill"]  # the normalisation ran on the crops (train and test alike)
    import json

    meta = json.loads((tmp_path / "run" / "folds" / "standard" / "frame.json").read_text())
    assert meta["illumination"] == "darken"


def test_augmentation_names_are_checked_against_the_registry():
    with pytest.raises(FertkError, match=r"frame.augment.illumination: .*'hee'.*he"):
        config(illumination="hee")
    with pytest.raises(FertkError, match="frame.augment.geometric: 'he' is a illumination"):
        config(geometric="he")
    with pytest.raises(FertkError, match="test_illumination: 'aug' is a training scheme"):
        config(illumination="aug", test_illumination="aug")
    assert config(geometric="paper", illumination="aug", test_illumination="he").frame.augment.geometric == "paper"


def test_new_augment_keys_at_their_defaults_keep_old_digests():
    """Runs made before geometric/illumination options existed resume with the same digest."""
    a = config(illumination="he", test_illumination="he")
    b = config(illumination="he", test_illumination="he", geometric="geometric", geometric_options={})
    assert a.digest() == b.digest()
    assert config(geometric="paper").digest() != a.digest()


class _ContextOnly:
    """A plugin registered in one private :class:`fertk.plugins.Context` only: a backbone and
    an illumination normalisation that the default context does not know."""

    @hookimpl
    def register_backbones(self, register):
        register("ctx_tiny", "fertk.backbones.compact:build_compact_tiny",
                 description="compact_tiny under another name", input_size=[96, 96], in_chans=1,
                 channels_last=True)

    @hookimpl
    def register_augmentations(self, register):
        register("ctx_darken", f"{__name__}:Darken", description="halve", kind="illumination")


def test_a_trainer_builds_every_component_from_its_own_context(tmp_path, bars):
    """Config check, data, backbone, augmentations, channels_last choice and evaluation all
    use the registries of the context the trainer is given, not the default one."""
    import json

    from fertk.plugins import Context, get_registry
    from fertk.training.evaluate import evaluate
    from fertk.training.fold_runner import cpu_channels_last
    from fertk.training.train import Trainer

    ctx = Context()
    ctx.register_plugin(_ContextOnly(), name="context-only")
    raw = {"name": "ctx", "protocol": {"kind": "standard"},
           "model": {"backbone": "ctx_tiny", "backbone_options": {"input_size": 16}, "temporal": None},
           "frame": {"epochs": 1, "batch_size": 32, "warmup_epochs": 0,
                     "augment": {"illumination": "ctx_darken"}},
           "run": {"progress": False}}
    with pytest.raises(FertkError, match="frame.augment.illumination: .*'ctx_darken'"):
        build_config(raw)  # the default context does not know the plugin
    cfg = build_config(raw, context=ctx)
    assert "ctx_tiny" not in get_registry("backbones") and "ctx_darken" not in get_registry("augmentations")
    assert cpu_channels_last("ctx_tiny", ctx) and not cpu_channels_last("ctx_tiny")
    CALLS["ill"].clear()
    ds = bars(n_per_class=8)
    summary = Trainer(cfg, out=tmp_path / "run", data=ds, context=ctx).run()
    assert summary["backbone"] == "ctx_tiny" and CALLS["ill"]
    ckpt = tmp_path / "run" / "folds" / "standard" / "frame"
    meta = json.loads(ckpt.with_suffix(".json").read_text())
    assert meta["backbone"]["name"] == "ctx_tiny" and meta["illumination"] == "ctx_darken"
    with pytest.raises(FertkError, match="ctx_tiny"):
        Trainer(cfg, out=tmp_path / "other", data=ds).run()  # default context: unknown backbone
    report = evaluate(ckpt, ds, context=ctx)  # rebuilt from the same context
    assert report["illumination"] == "ctx_darken" and 0.0 <= report["frame"]["accuracy"] <= 1.0
    with pytest.raises(FertkError, match="ctx_tiny"):
        evaluate(ckpt, ds)
