"""Helpers for the model tests: every registered backbone and head, plugins included."""

from __future__ import annotations

import pytest
import torch

from fertk import plugins


def _registered(kind: str) -> list[str]:
    plugins.reset()
    names = []
    for spec in plugins.get_registry(kind):
        if spec.prefix:
            example = spec.metadata.get("example")
            if example:
                names.append(example)
        else:
            names.append(spec.name)
    plugins.reset()
    return names


#: Enumerated at collection time, so plugin components (fertk-example) are tested too.
BACKBONES = _registered("backbones")
HEADS = _registered("temporal")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def input_batch(model, batch: int = 2) -> torch.Tensor:
    from fertk.backbones.base import input_spec_of

    spec = input_spec_of(model)
    h, w = spec["input_size"]
    return torch.randn(batch, int(getattr(model, "in_chans", spec["in_chans"])), h, w)
