"""``timm:<model>``: any timm model adapted to gray face crops, never downloading weights.

Two ways to feed gray crops (option ``gray``):

- ``"in_chans"`` (default): the model is built with ``in_chans=1`` (timm sums the pretrained
  RGB filters of the stem when local weights are loaded);
- ``"replicate"``: the model keeps 3 input channels; :class:`fertk.preprocess.FrameTransform`
  replicates the gray channel, and ``forward`` also accepts 1-channel input and expands it.

The classifier is sized to ``num_classes``. ``pretrained`` is a *local file path* (``.pth``,
``.bin``, ``.safetensors``) or ``None``: timm is always called so that it cannot fetch from a
hub. Other keyword options go to :func:`timm.create_model` (``drop_rate``, ``img_size`` …).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from fertk.backbones.base import make_input_spec
from fertk.errors import FertkError, MissingDependencyError


class TimmBackbone(nn.Module):
    """Wraps a timm model: ``forward_features`` gives pooled pre-logits, ``forward_head`` logits."""

    def __init__(
        self,
        model_name: str,
        num_classes: int = 7,
        in_chans: int = 1,
        gray: str = "in_chans",
        input_size: int | tuple[int, int] | list[int] = 96,
        crop_size: int = 96,
        pretrained: str | Path | None = None,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        **timm_options: Any,
    ):
        super().__init__()
        try:
            import timm
        except ImportError as exc:  # pragma: no cover - timm is a core dependency
            raise MissingDependencyError(f"timm:{model_name}", "timm") from exc
        if gray not in ("in_chans", "replicate"):
            raise FertkError(f"timm:{model_name}: gray must be 'in_chans' or 'replicate', got {gray!r}")
        if not timm.is_model(model_name):
            import difflib

            close = difflib.get_close_matches(model_name, timm.list_models(), n=3)
            hint = (" Did you mean " + " or ".join(repr(c) for c in close) + "?") if close else ""
            raise FertkError(f"timm has no model '{model_name}'.{hint} (see timm.list_models())")
        net_chans = 3 if gray == "replicate" else int(in_chans)
        kwargs: dict[str, Any] = dict(num_classes=int(num_classes), in_chans=net_chans, **timm_options)
        if pretrained not in (None, "", False):
            path = Path(str(pretrained)).expanduser()
            if pretrained is True or not path.is_file():
                raise FertkError(
                    f"timm:{model_name}: pretrained must be the path of a local weights file "
                    f"(nothing is downloaded); '{pretrained}' is not a file"
                )
            kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": str(path)})
        else:
            kwargs["pretrained"] = False
        try:
            self.model = timm.create_model(model_name, **kwargs)
        except TypeError as exc:
            raise FertkError(f"timm:{model_name}: bad option for timm.create_model: {exc}") from exc
        if isinstance(input_size, int):
            input_size = (input_size, input_size)
        input_size = tuple(int(v) for v in input_size)
        cfg = getattr(self.model, "pretrained_cfg", {}) or {}
        fixed = cfg.get("fixed_input_size") and tuple(cfg.get("input_size", (0, 0, 0))[1:]) != input_size
        if fixed and "img_size" not in timm_options:  # ViT-like models: size the patch grid
            self.model = timm.create_model(model_name, img_size=input_size, **kwargs)
        self.model_name = model_name
        self.gray = gray
        self.num_classes = int(num_classes)
        self.in_chans = net_chans
        self.input_size = input_size
        self.feature_dim = int(
            getattr(self.model, "head_hidden_size", None) or self.model.num_features
        )
        if mean is None and kwargs["pretrained"]:
            cfg = getattr(self.model, "pretrained_cfg", {}) or {}
            mean = list(cfg.get("mean", (0.5,) * 3))
            std = list(cfg.get("std", (0.5,) * 3))
            if net_chans == 1:
                mean, std = [sum(mean) / len(mean)], [sum(std) / len(std)]
        self.input_spec = make_input_spec(self.input_size, net_chans, crop_size, mean, std)

    def _adapt(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_chans == 3 and x.shape[1] == 1:
            return x.expand(-1, 3, -1, -1)
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled pre-logits features, (B, feature_dim)."""
        feats = self.model.forward_features(self._adapt(x))
        return self.model.forward_head(feats, pre_logits=True)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.model.get_classifier()(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self._adapt(x))


def build_timm(model_name: str, num_classes: int = 7, in_chans: int = 1, **options: Any) -> TimmBackbone:
    """``timm:<model_name>`` (e.g. ``timm:resnet18``), gray input, classifier of ``num_classes``."""
    return TimmBackbone(model_name, num_classes=num_classes, in_chans=in_chans, **options)
