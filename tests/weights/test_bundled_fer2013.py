"""The models fertk trained on FER2013 and bundles: checksums, the paper's layers at 48×48,
their recorded results and GRU heads, and the rule that picks the default."""

from __future__ import annotations

import json

import pytest
import torch

from fertk.checkpoint import build_from_checkpoint, load_checkpoint, sha256_file
from fertk.weights import ASSETS_DIR, BUNDLED, DEFAULT_WEIGHTS, bundled_metadata, choose_default

TRAINED = {"compact-fer2013": ("compact", 903_559), "compact_tiny-fer2013": ("compact_tiny", 344_887)}


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_bundled_asset_matches_its_pinned_checksum_and_loads(name):
    base, sha = BUNDLED[name]
    assert sha256_file(ASSETS_DIR / f"{base}.safetensors") == sha
    ckpt = load_checkpoint(name)  # verifies the registered sha256 again
    net, _ = build_from_checkpoint(ckpt)
    h, w = ckpt.metadata["input_spec"]["input_size"]
    with torch.no_grad():
        out = net(torch.zeros(2, ckpt.metadata["input_spec"]["in_chans"], h, w))
    assert out.shape == (2, len(ckpt.classes)) and torch.isfinite(out).all()


@pytest.mark.parametrize(("name", "expected"), sorted(TRAINED.items()))
def test_fertk_trained_models_are_the_papers_layers_at_48_pixels(name, expected):
    backbone, params = expected
    ckpt = load_checkpoint(name)
    meta = ckpt.metadata
    assert meta["backbone"]["name"] == backbone
    assert meta["backbone"]["options"].get("batch_norm", False) is False
    assert meta["input_spec"]["input_size"] == [48, 48]
    net, head = build_from_checkpoint(ckpt)
    assert sum(p.numel() for p in net.parameters()) == params
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
    train = meta["train"]
    # trained and selected on FER2013's own splits, recipe and command recorded
    assert (train["dataset"], train["train_split"], train["val_split"], train["test_split"]) == \
        ("fer2013", "Training", "PublicTest", "PrivateTest")
    assert train["frame_run"]["command"].startswith("fertk train examples/configs/fer2013_") or \
        "examples/configs/fer2013_" in train["frame_run"]["command"]
    assert train["test"]["accuracy"] > 0.6
    # the GRU head is bundled with it, and on held-out tracks it is at least as accurate as
    # the parameter-free heads scored on the same tracks
    assert meta["temporal"]["name"] == "gru" and head is not None
    seq = train["sequence_run"]["test"]
    assert seq["gru"]["accuracy"] >= max(seq["average"]["accuracy"], seq["last"]["accuracy"])


def test_the_default_is_what_the_rule_picks_from_measured_metadata():
    metas = bundled_metadata()
    assert DEFAULT_WEIGHTS == choose_default(metas)
    measured = {n: m for n, m in metas.items() if (m.get("metrics") or {}).get("PrivateTest")}
    assert "minixception-fer2013" in measured  # the reference is measured the same way
    ref = measured["minixception-fer2013"]["metrics"]["PrivateTest"]["accuracy"]
    if DEFAULT_WEIGHTS != "minixception-fer2013":
        assert metas[DEFAULT_WEIGHTS]["metrics"]["PrivateTest"]["accuracy"] > ref


def test_assets_json_is_valid():
    for base, _ in BUNDLED.values():
        json.loads((ASSETS_DIR / f"{base}.json").read_text())
