"""The example plugin's models (imported only when a component is built)."""

from __future__ import annotations

import torch
from torch import nn


class ExampleConvNet(nn.Module):
    """Three conv stages (16, 32, 64 filters) with batch norm, then global average pooling."""

    def __init__(self, num_classes: int = 7, in_chans: int = 1, width: int = 16, drop: float = 0.2):
        super().__init__()
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.input_size = (96, 96)
        chans = [in_chans, width, width * 2, width * 4]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            layers += [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
        self.features = nn.Sequential(*layers)
        self.feature_dim = chans[-1]
        self.drop = nn.Dropout(drop)
        self.classifier = nn.Linear(self.feature_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.drop(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class AttentionPool(nn.Module):
    """Scores each time step, softmax over time, weighted mean, then a linear classifier."""

    def __init__(self, num_classes: int = 7, input_dim: int | None = None, input_kind: str = "probs",
                 hidden: int = 32, seq_len: int = 9):
        super().__init__()
        self.num_classes = num_classes
        self.input_dim = input_dim or num_classes
        self.input_kind = input_kind
        self.seq_len = seq_len
        self.score = nn.Sequential(nn.Linear(self.input_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.classifier = nn.Linear(self.input_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.score(x).squeeze(-1), dim=1)  # (B, T)
        pooled = (weights.unsqueeze(-1) * x).sum(dim=1)
        return self.classifier(pooled)
