"""Shared fixtures: plugin state isolation, torch's thread count, tiny fake plugin
distributions."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fertk import plugins


@pytest.fixture(autouse=True)
def torch_threads():
    """Give the later tests of this worker torch's thread count back when a test sets it
    itself (fertk sets it only inside a scoped block, ``fertk.threads.torch_threads``;
    torch imported here once, in-process checks of what ``import fertk`` loads run in
    subprocesses)."""
    import torch

    n = torch.get_num_threads()
    yield
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


@pytest.fixture
def fresh_plugins(monkeypatch):
    """Plugin state rebuilt from scratch for this test, and again afterwards."""
    monkeypatch.delenv("FERTK_LOAD_PLUGINS", raising=False)
    plugins.reset()
    yield plugins
    plugins.reset()


@pytest.fixture
def make_distribution(tmp_path, monkeypatch):
    """Create a fake installed distribution with a ``fertk`` entry point, without pip.

    ``make_distribution("fertk-foo", "foo", source)`` writes ``foo_plugin.py`` with
    ``source`` and ``fertk_foo-1.0.dist-info`` declaring ``foo = foo_plugin`` and puts the
    folder on ``sys.path``.
    """
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))

    def make(dist: str, ep_name: str, source: str, version: str = "1.0") -> Path:
        module = f"{ep_name}_plugin"
        (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(f"[fertk]\n{ep_name} = {module}\n", encoding="utf-8")
        return info

    return make


def _bars(n_per_class: int = 24, seed: int = 0, classes: int = 4):
    """A small learnable prepared set in FER2013's standard layout (``<Usage>/<id>`` subjects):
    ``classes × n_per_class`` Training images and as many PublicTest and PrivateTest ones.
    Class k is a bright horizontal bar in the k-th band of the 120×120 crop, on noise, under a
    random gain and offset (so batch-norm statistics matter)."""
    import numpy as np

    from fertk.training.arrays import ArraySet

    rng = np.random.default_rng(seed)
    rows, labels, subjects = [], [], []
    band = 96 // classes
    for split in ("Training", "PublicTest", "PrivateTest"):
        for i in range(classes * n_per_class):
            k = i % classes
            img = rng.normal(0, 12, (120, 120))
            y0 = 12 + k * band
            img[y0 : y0 + max(4, band - 4), 12:108] += 90
            img = img * rng.uniform(0.6, 1.4) + rng.uniform(40, 110)
            rows.append(np.clip(img, 0, 255).astype(np.uint8))
            labels.append(k)
            subjects.append(f"{split}/{i}")
    n = len(rows)
    return ArraySet(crops=np.stack(rows), labels=np.asarray(labels), subjects=np.asarray(subjects),
                    sequences=np.asarray(subjects), frame_index=np.zeros(n, dtype=np.int64),
                    peak=np.ones(n, dtype=bool), classes=[f"c{k}" for k in range(classes)])


@pytest.fixture(scope="session")
def bars():
    """Factory of a small learnable generated set (:func:`_bars`)."""
    return _bars
