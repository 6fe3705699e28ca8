"""The synthetic data is learnable but not trivial: compact_tiny generalises to unseen identities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fertk
from fertk import splits
from fertk.data import prepare
from fertk.synth import SynthConfig, synthesize
from fertk.training.batching import BatchPipeline
from fertk.training.config import AugmentConfig


@pytest.mark.slow
def test_compact_tiny_recognises_held_out_identities(tmp_path):
    root = tmp_path / "synth"
    synthesize(root, SynthConfig(identities=24, frames=3, size=(160, 160), seed=7, unlabelled=0,
                                 layouts=("ckplus",)))
    ps = prepare("ckplus", root, detector="dataset", cache_dir=tmp_path / "cache", workers=1,
                 progress=False, mode="last", last_k=2)
    torch.manual_seed(0)
    fold = splits.subject_kfold(ps.subjects, k=4)[0]  # 6 identities never seen in training
    train_rows, _, test_rows = fold.rows(ps.subjects)
    test_rows = test_rows[ps.peak[test_rows]]
    assert not set(ps.subjects[train_rows]) & set(ps.subjects[test_rows])
    # the paper's tiny network on the 96x96 centre resampled to 48x48 to keep CPU time low
    model = fertk.create("backbones", "compact_tiny", num_classes=len(ps.classes), input_size=48,
                         drop=0.1)
    # mirrored copies (seeded) regularise 18 identities enough that the held-out accuracy is
    # not a thread-count/seed lottery: 0.69-0.81 over torch seeds 0-5 (without: 0.55-0.81)
    pipe = BatchPipeline(model.input_spec, AugmentConfig(shift=False, flip=True))
    gen, rng = torch.Generator().manual_seed(0), np.random.default_rng(0)
    crops, labels = np.asarray(ps.crops), torch.as_tensor(ps.labels, dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        model.train()
        order = rng.permutation(train_rows)
        for i in range(0, len(order), 16):
            idx = order[i : i + 16]
            x, y = pipe.train(crops[idx], gen), labels[idx]
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        x, y = pipe.test(crops[test_rows]), labels[test_rows]
        acc = float((model(x).argmax(1) == y).float().mean())
    chance = 1 / len(ps.classes)
    assert len(y) == 42 and np.mean(losses[-10:]) < np.mean(losses[:10])
    assert acc > 0.4 > 2.5 * chance, f"held-out identity accuracy {acc:.2f} (chance {chance:.2f})"
