"""Inline plugin example: register a backbone in-process and train it with the fertk engine.

Run (a few minutes on a CPU; makes its own synthetic data):

    python examples/inline_plugin.py /tmp/inline-demo

The same ``@hookimpl`` functions in an installed package (entry point group ``fertk``)
make the backbone available to ``fertk train`` configs (``model.backbone: tinyfer``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

from fertk import hookimpl
from fertk.plugins import register_plugin


class TinyFER(nn.Module):
    """Two conv blocks and a linear head on 64×64 gray faces (the 96 centre, resized)."""

    def __init__(self, num_classes: int = 7, width: int = 24):
        super().__init__()
        self.num_classes, self.in_chans, self.input_size = num_classes, 1, (64, 64)
        self.feature_dim = width * 2
        # the contract: what the crop → tensor step must produce for this model
        self.input_spec = {"input_size": [64, 64], "in_chans": 1, "crop_size": 96,
                           "mean": [0.5], "std": [0.5]}
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, width * 2, 3, padding=1), nn.BatchNorm2d(width * 2), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(self.feature_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward_head(self, f: torch.Tensor) -> torch.Tensor:
        return self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class InlinePlugin:
    @hookimpl
    def register_backbones(self, register):
        register("tinyfer", TinyFER, description="Inline example backbone (64x64, BN)")


def main(out: str) -> None:
    from fertk.synth import SynthConfig, synthesize
    from fertk.training.config import build_config
    from fertk.training.train import Trainer

    register_plugin(InlinePlugin(), name="inline-example")
    root = Path(out) / "synth"
    if not (root / "cohn-kanade-images").exists():
        synthesize(root, SynthConfig(identities=12, frames=4, size=(160, 160), layouts=("ckplus",)))
    cfg = build_config({
        "name": "inline", "preset": "default",
        "data": {"dataset": "ckplus", "root": str(root), "detector": "dataset",
                 "cache_dir": str(Path(out) / "cache"), "options": {"mode": "sequence"}},
        "protocol": {"folds": 4, "val_fraction": 0.15},
        "model": {"backbone": "tinyfer", "temporal": "gru"},
        "frame": {"epochs": 10, "frames": "all", "init": "default"},
        "sequence": {"iterations": 300, "eval_every": 50},
    })
    summary = Trainer(cfg, out=Path(out) / "run").run()
    for stage, st in summary["stages"].items():
        print(stage, {m: round(v["mean"], 3) for m, v in st["stats"].items()})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "inline-demo")
