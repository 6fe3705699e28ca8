"""Fixtures of the engine tests: one small synthetic CK+ tree per session, prepared once."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def synth_ck(tmp_path_factory):
    """``fertk synth`` data in CK+ layout (10 identities × 7 classes × 4 frames, 160×160),
    prepared with the shipped landmarks (whole sequences). Returns (root, cache, prepared)."""
    from fertk.data import prepare
    from fertk.synth import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("synth_ck")
    synthesize(root, SynthConfig(identities=10, frames=4, size=(160, 160), seed=7, unlabelled=0,
                                 layouts=("ckplus",)))
    cache = tmp_path_factory.mktemp("cache")
    ps = prepare("ckplus", root, detector="dataset", cache_dir=cache, workers=1, progress=False,
                 mode="sequence")
    return root, cache, ps


@pytest.fixture(scope="session")
def synth_ck30(tmp_path_factory):
    """More identities for the learning test: 30 identities × 7 classes × 3 frames (144×144)."""
    from fertk.data import prepare
    from fertk.synth import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("synth_ck30")
    synthesize(root, SynthConfig(identities=30, frames=3, size=(144, 144), seed=11, unlabelled=0,
                                 layouts=("ckplus",)))
    cache = tmp_path_factory.mktemp("cache30")
    ps = prepare("ckplus", root, detector="dataset", cache_dir=cache, workers=1, progress=False,
                 mode="sequence")
    return root, cache, ps


@pytest.fixture
def make_config():
    return base_config


def base_config(root, cache, **sections):
    """A small, fast config dict on the synthetic data (few epochs, one or two folds)."""
    from fertk.training.config import deep_merge

    cfg = {
        "name": "t",
        "data": {"dataset": "ckplus", "root": str(root), "cache_dir": str(cache), "workers": 1,
                 "detector": "dataset", "options": {"mode": "sequence"}},
        "protocol": {"kind": "subject_kfold", "folds": 5, "val_fraction": 0.15, "only_folds": [0]},
        "model": {"backbone": "example_convnet", "temporal": "gru"},
        "frame": {"epochs": 2, "batch_size": 32, "frames": "peak", "warmup_epochs": 0,
                  "augment": {"illumination": "none", "test_illumination": "none",
                              "rotate": 0.0, "scale": 0.0}},
        "sequence": {"iterations": 40, "eval_every": 20, "views": 2},
        "run": {"progress": False, "seed": 3},
    }
    return deep_merge(cfg, sections)
