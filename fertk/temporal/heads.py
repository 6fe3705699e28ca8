"""Temporal heads: the paper's GRU, probability averaging, the last (peak) frame; streaming.

Every head maps ``(B, T, input_dim)`` per-frame outputs to ``(B, num_classes)`` logits, has an
``input_kind`` (``"probs"``: softmax of the frozen frame model, or ``"features"``: its feature
vectors), a ``seq_len`` (the number of steps sequences are resampled to, ``None`` = as given)
and ``predict_window(x (T', D)) -> probs (K,)`` for live video. :class:`SlidingWindow` keeps
the latest frames and calls ``predict_window`` on every new one.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import torch
from torch import nn

from fertk.errors import FertkError
from fertk.temporal.resample import uniform_indices

INPUT_KINDS = ("probs", "features")


def resample_batch(x: torch.Tensor, seq_len: int, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Resample each row of ``x`` (B, T, D) uniformly to ``seq_len`` steps.

    ``lengths`` (B,) gives the number of valid leading steps of each row of a padded batch.
    """
    b, t, _ = x.shape
    if lengths is None:
        if t == seq_len:
            return x
        idx = torch.as_tensor(uniform_indices(t, seq_len), device=x.device)
        return x.index_select(1, idx)
    lengths = torch.as_tensor(lengths).tolist()
    if len(lengths) != b or min(lengths) < 1 or max(lengths) > t:
        raise ValueError(f"lengths must be {b} values in 1..{t}, got {lengths}")
    idx = torch.stack([torch.as_tensor(uniform_indices(int(n), seq_len)) for n in lengths])
    idx = idx.to(x.device).unsqueeze(-1).expand(-1, -1, x.shape[-1])
    return x.gather(1, idx)


@torch.no_grad()
def predict_window(head: nn.Module, x: Any) -> Any:
    """``head``'s class probabilities (K,) for one window (T', D); works for any head module."""
    as_numpy = isinstance(x, np.ndarray)
    t = torch.as_tensor(np.asarray(x, dtype=np.float32)) if as_numpy else x
    if t.dim() != 2:
        raise ValueError(f"predict_window expects (T, D), got {tuple(t.shape)}")
    was_training = head.training
    head.eval()
    try:
        probs = torch.softmax(head(t.unsqueeze(0).float()), dim=-1)[0]
    finally:
        head.train(was_training)
    return probs.cpu().numpy() if as_numpy else probs


class TemporalHead(nn.Module):
    """Base class: input checks, ``predict_window`` and ``stream``."""

    def __init__(self, num_classes: int, input_dim: int | None, input_kind: str, seq_len: int | None):
        super().__init__()
        if input_kind not in INPUT_KINDS:
            raise FertkError(f"{type(self).__name__}: input_kind must be 'probs' or 'features', got {input_kind!r}")
        if input_dim is None:
            if input_kind == "features":
                raise FertkError(f"{type(self).__name__}: input_kind='features' needs input_dim (the backbone's feature_dim)")
            input_dim = num_classes
        if input_kind == "probs" and input_dim != num_classes:
            raise FertkError(f"{type(self).__name__}: probs input needs input_dim == num_classes ({num_classes}), got {input_dim}")
        if seq_len is not None and seq_len < 1:
            raise FertkError(f"{type(self).__name__}: seq_len must be >= 1, got {seq_len}")
        self.num_classes = int(num_classes)
        self.input_dim = int(input_dim)
        self.input_kind = input_kind
        self.seq_len = None if seq_len is None else int(seq_len)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.input_dim or x.shape[1] < 1:
            raise ValueError(
                f"{type(self).__name__} expects (B, T>=1, {self.input_dim}), got {tuple(x.shape)}"
            )

    def predict_window(self, x: Any) -> Any:
        """Class probabilities (K,) for one window (T', D) of per-frame outputs.

        The window is resampled to ``seq_len`` like a training sequence; numpy in, numpy out.
        """
        return predict_window(self, x)

    def stream(self, window: int | None = None, min_frames: int = 1) -> SlidingWindow:
        """A :class:`SlidingWindow` over the latest ``window`` frames for live video."""
        return SlidingWindow(self, window=window, min_frames=min_frames)


class GRUHead(TemporalHead):
    """The paper's frame-to-sequence model (§3.3): one GRU layer, prediction after the last step.

    Input: per-frame softmax probabilities of the frozen frame CNN (``input_kind="probs"``,
    default) or its feature vectors (``"features"``, with ``input_dim`` = ``feature_dim``).
    Sequences are resampled uniformly to ``seq_len`` (9) steps, onset → apex; a padded batch
    can pass ``lengths``. ``hidden=128`` units; ``num_layers``/``dropout`` are fertk options.
    """

    def __init__(
        self,
        num_classes: int = 7,
        input_dim: int | None = None,
        input_kind: str = "probs",
        seq_len: int = 9,
        hidden: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
        resample: bool = True,
    ):
        super().__init__(num_classes, input_dim, input_kind, seq_len)
        self.hidden = int(hidden)
        self.resample = bool(resample)
        self.gru = nn.GRU(
            self.input_dim, self.hidden, num_layers=num_layers, batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.classifier = nn.Linear(self.hidden, self.num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x)
        if self.resample:
            x = resample_batch(x, self.seq_len, lengths)
        elif lengths is not None:
            raise ValueError("lengths needs resample=True")
        out, _ = self.gru(x)
        return self.classifier(out[:, -1])


class _ProbabilityHead(TemporalHead):
    """A head without parameters over class probabilities (works untrained); its logits are
    the log of the probabilities it picks (softmax gives them back). ``label`` and ``reads``
    name it in the error for another ``input_kind``; ``resamples``: ``seq_len`` is used."""

    label, reads, resamples = "", "", True

    def __init__(self, num_classes: int = 7, input_dim: int | None = None, input_kind: str = "probs",
                 seq_len: int | None = None, eps: float = 1e-7):
        if input_kind != "probs":
            raise FertkError(f"{self.label}: input_kind must be 'probs' ({self.reads})")
        super().__init__(num_classes, input_dim, input_kind, seq_len if self.resamples else None)
        self.eps = float(eps)


class AverageHead(_ProbabilityHead):
    """Mean of the per-frame class probabilities; logits are their log (softmax gives the mean).

    No parameters: works untrained. ``seq_len`` (default ``None``) resamples first.
    """

    label, reads = "average", "it averages class probabilities"

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x)
        if self.seq_len is not None:
            x = resample_batch(x, self.seq_len, lengths)
            lengths = None
        if lengths is None:
            mean = x.mean(dim=1)
        else:
            lengths = torch.as_tensor(lengths, device=x.device)
            mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
            mean = (x * mask.unsqueeze(-1)).sum(1) / lengths[:, None].to(x.dtype)
        return torch.log(mean.clamp_min(self.eps))


class LastHead(_ProbabilityHead):
    """The last frame's probabilities alone (the peak frame in onset → apex sequences)."""

    label, reads, resamples = "last", "it returns the last frame's probabilities", False

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x)
        if lengths is None:
            last = x[:, -1]
        else:
            idx = torch.as_tensor(lengths, device=x.device).long() - 1
            last = x[torch.arange(x.shape[0], device=x.device), idx]
        return torch.log(last.clamp_min(self.eps))


class SlidingWindow:
    """Streaming wrapper: ``push`` one frame's output, get the head's probabilities (K,).

    Keeps the latest ``window`` frames (default 18, about the mean length of a CK+ onset →
    apex sequence, 0.6 s at 30 fps) and returns ``head.predict_window`` of them, or ``None``
    while fewer than ``min_frames`` have arrived. Equivalent to calling ``predict_window``
    on the same slice of the full sequence.
    """

    def __init__(self, head: nn.Module, window: int | None = None, min_frames: int = 1):
        self.head = head
        self.input_dim = int(getattr(head, "input_dim", None) or head.num_classes)
        self.window = int(window or 18)
        if self.window < 1 or min_frames < 1:
            raise FertkError("SlidingWindow: window and min_frames must be >= 1")
        self.min_frames = int(min_frames)
        self.frames: deque[np.ndarray] = deque(maxlen=self.window)

    def reset(self) -> None:
        self.frames.clear()

    def __len__(self) -> int:
        return len(self.frames)

    def push(self, frame_output: Any) -> np.ndarray | None:
        """Add one frame's (D,) probabilities/features; the window's (K,) probabilities."""
        vec = np.asarray(
            frame_output.detach().cpu() if isinstance(frame_output, torch.Tensor) else frame_output,
            dtype=np.float32,
        ).reshape(-1)
        if vec.shape[0] != self.input_dim:
            raise ValueError(f"expected {self.input_dim} values per frame, got {vec.shape[0]}")
        self.frames.append(vec)
        if len(self.frames) < self.min_frames:
            return None
        fn = getattr(self.head, "predict_window", None)
        window = np.stack(self.frames)
        return fn(window) if callable(fn) else predict_window(self.head, window)
