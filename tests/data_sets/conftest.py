"""Fixtures of the data tests: one small synthetic CK+ tree per session, prepared once."""

from __future__ import annotations

import pytest

from fertk.synth import SynthConfig, synthesize


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """10 identities × 7 classes × 4 frames (192×192) (+ a few unlabelled sequences), both layouts."""
    root = tmp_path_factory.mktemp("synth")
    manifest = synthesize(root, SynthConfig(identities=10, frames=4, size=(192, 192), seed=7, unlabelled=0.1))
    return root, manifest


@pytest.fixture(scope="session")
def prepared_last3(synth_root, tmp_path_factory):
    """Last three frames of every labelled sequence, cropped from the shipped landmarks."""
    from fertk.data import prepare

    root, _ = synth_root
    return prepare("ckplus", root, detector="dataset", cache_dir=tmp_path_factory.mktemp("cache"),
                   workers=1, progress=False, mode="last", last_k=3)
