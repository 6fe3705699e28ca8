"""SequenceModel: a frame backbone composed with a temporal head (paper §3.3).

This module is the one place of the composition rules, used by :class:`SequenceModel`, by
training's stage 2 and ``fertk eval`` (:func:`fertk.training.stages.sequence_outputs`) and by
both run engines (:mod:`fertk.inference.runtime`): what a head reads per frame
(:func:`input_kind`, :func:`frame_outputs`: softmax probabilities or ``forward_features``)
and which frames of a sequence it sees (:func:`window_indices`: uniformly resampled to the
head's ``seq_len``, onset → apex).

Two modes:

- ``"two_stage"`` (the paper's): the frame model is frozen (no gradients, always in eval mode,
  dropout off) and the head is trained on its outputs, per-frame softmax probabilities or
  feature vectors as the head's ``input_kind`` says.
- ``"joint"``: backbone and head are trained end to end (a fertk option, not the paper's).

Frames arrive as (B, T, C, H, W) tensors already preprocessed by
:class:`fertk.preprocess.FrameTransform`. When the head resamples to ``seq_len`` steps, the
frames are resampled *before* the backbone runs, so only ``seq_len`` frames per sequence are
computed (same result: the backbone is frame-wise).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from fertk.errors import FertkError
from fertk.temporal.resample import uniform_indices

MODES = ("two_stage", "joint")


def input_kind(head: Any) -> str:
    """What ``head`` reads per frame: ``"probs"`` (softmax of the frame model) or ``"features"``."""
    return "probs" if head is None else getattr(head, "input_kind", "probs")


def frame_outputs(backbone: nn.Module, frames: torch.Tensor, kind: str = "probs",
                  logits: torch.Tensor | None = None) -> torch.Tensor:
    """(N, C, H, W) frames → (N, D) head inputs: softmax probabilities (of ``logits`` when
    they are computed already) or ``forward_features``."""
    if kind == "features":
        return backbone.forward_features(frames)
    return torch.softmax(backbone(frames) if logits is None else logits, dim=-1)


def window_indices(length: int, seq_len: int | None, resample: bool = True) -> np.ndarray:
    """Indices of the frames of a ``length``-frame sequence that a head of ``seq_len`` steps
    sees: uniformly resampled (first and last kept), or all of them without ``seq_len``."""
    if not seq_len or not resample:
        return np.arange(length)
    return uniform_indices(length, seq_len)


class SequenceModel(nn.Module):
    """``backbone`` (frame model) + ``head`` (temporal head) → sequence logits (B, K).

    The composition rules are the functions of this module (:func:`input_kind`,
    :func:`frame_outputs`, :func:`window_indices`), not this class: training (stage 2),
    ``fertk eval`` (:func:`fertk.training.stages.sequence_outputs`, which runs each distinct frame
    once per view in batches) and both run engines call them directly, so all of them feed a
    head exactly as this module does without going through ``SequenceModel.forward``.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, mode: str = "two_stage"):
        super().__init__()
        if mode not in MODES:
            raise FertkError(f"SequenceModel: mode must be one of {', '.join(MODES)}, got {mode!r}")
        kind = input_kind(head)
        want = backbone.num_classes if kind == "probs" else backbone.feature_dim
        if int(getattr(head, "input_dim", want)) != int(want):
            raise FertkError(
                f"SequenceModel: head expects {head.input_dim} inputs per frame but the backbone "
                f"gives {want} ({kind})"
            )
        self.backbone = backbone
        self.head = head
        self.mode = mode
        self.input_kind = kind
        self.num_classes = int(head.num_classes)
        if mode == "two_stage":
            self.freeze_backbone()

    @classmethod
    def from_names(
        cls,
        backbone: str = "compact",
        head: str = "gru",
        num_classes: int = 7,
        mode: str = "two_stage",
        backbone_options: dict[str, Any] | None = None,
        head_options: dict[str, Any] | None = None,
    ) -> SequenceModel:
        """Build both parts from the registries (``input_dim`` follows the head's input kind)."""
        from fertk.plugins import get_registry

        bb = get_registry("backbones").create(backbone, num_classes=num_classes, **(backbone_options or {}))
        hopts = dict(head_options or {})
        if hopts.get("input_kind", "probs") == "features":
            hopts.setdefault("input_dim", bb.feature_dim)
        hd = get_registry("temporal").create(head, num_classes=num_classes, **hopts)
        return cls(bb, hd, mode=mode)

    def freeze_backbone(self) -> None:
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.backbone.eval()

    def train(self, mode: bool = True) -> SequenceModel:
        super().train(mode)
        if self.mode == "two_stage":
            self.backbone.eval()  # frozen frame model: dropout off, BN statistics fixed
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def frame_outputs(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) frames → (N, D): softmax probabilities or features per frame."""
        if self.mode == "two_stage":
            with torch.no_grad():
                return frame_outputs(self.backbone, frames, self.input_kind)
        return frame_outputs(self.backbone, frames, self.input_kind)

    def _select(self, frames: torch.Tensor, lengths: Any) -> tuple[torch.Tensor, Any]:
        seq_len = getattr(self.head, "seq_len", None)
        if not seq_len or not getattr(self.head, "resample", True):
            return frames, lengths
        b, t = frames.shape[:2]
        if lengths is None:
            if t == seq_len:
                return frames, None
            idx = torch.as_tensor(window_indices(t, seq_len), device=frames.device)
            return frames.index_select(1, idx), None
        lens = torch.as_tensor(lengths).tolist()
        idx = torch.as_tensor(np.stack([window_indices(int(n), seq_len) for n in lens]), device=frames.device)
        rows = torch.arange(b, device=frames.device)[:, None]
        return frames[rows, idx], None

    def forward(self, frames: torch.Tensor, lengths: Any = None) -> torch.Tensor:
        """(B, T, C, H, W) preprocessed frames (``lengths``: valid frames per row) → (B, K)."""
        if frames.dim() != 5:
            raise ValueError(f"SequenceModel expects (B, T, C, H, W) frames, got {tuple(frames.shape)}")
        frames, lengths = self._select(frames, lengths)
        b, t = frames.shape[:2]
        per_frame = self.frame_outputs(frames.flatten(0, 1)).view(b, t, -1)
        if lengths is None:
            return self.head(per_frame)
        return self.head(per_frame, lengths=lengths)

    @torch.no_grad()
    def predict(self, frames: torch.Tensor, lengths: Any = None) -> torch.Tensor:
        """Sequence class probabilities (B, K) in eval mode."""
        was = self.training
        self.eval()
        try:
            return torch.softmax(self(frames, lengths), dim=-1)
        finally:
            self.train(was)

    def stream(self, window: int | None = None, min_frames: int = 1) -> SequenceStream:
        """Live video: feed one preprocessed frame (C, H, W) at a time."""
        return SequenceStream(self, window=window, min_frames=min_frames)


class SequenceStream:
    """Per-frame streaming through a :class:`SequenceModel` over a sliding window."""

    def __init__(self, model: SequenceModel, window: int | None = None, min_frames: int = 1):
        from fertk.temporal.heads import SlidingWindow

        self.model = model
        self.window = SlidingWindow(model.head, window=window, min_frames=min_frames)

    def reset(self) -> None:
        self.window.reset()

    @torch.no_grad()
    def push(self, frame: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """One (C, H, W) frame → (its per-frame output (D,), the window's probabilities or None)."""
        self.model.backbone.eval()
        vec = self.model.frame_outputs(frame.unsqueeze(0))[0].cpu().numpy()
        return vec, self.window.push(vec)
