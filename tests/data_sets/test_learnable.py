"""The synthetic data is learnable but not trivial: compact_tiny generalises to unseen identities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fertk
from fertk import splits
from fertk.augment.geometric import BatchAugment
from fertk.data import BatchLoader, prepare
from fertk.synth import SynthConfig, synthesize


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
    norm = lambda x: (x - 0.5) / 0.5  # noqa: E731
    centre48 = BatchAugment(size=48, shift=False, flip=0, rotate=0, scale=(1, 1))
    # mirrored copies (seeded) regularise 18 identities enough that the held-out accuracy is
    # not a thread-count/seed lottery: 0.69-0.81 over torch seeds 0-5 (without: 0.55-0.81)
    mirror48 = BatchAugment(size=48, shift=False, flip=0.5, rotate=0, scale=(1, 1), seed=0)
    train = BatchLoader(ps, train_rows, batch_size=16, seed=0, normalize=norm, augment=mirror48)
    test = BatchLoader(ps, test_rows, batch_size=256, shuffle=False, normalize=norm, augment=centre48)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        model.train()
        for x, y in train:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        x, y = next(iter(test))
        acc = float((model(x).argmax(1) == y).float().mean())
    chance = 1 / len(ps.classes)
    assert len(y) == 42 and np.mean(losses[-10:]) < np.mean(losses[:10])
    assert acc > 0.4 > 2.5 * chance, f"held-out identity accuracy {acc:.2f} (chance {chance:.2f})"
