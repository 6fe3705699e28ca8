"""``timm:<model>``: any timm model adapted to gray face crops, never downloading weights.

Two ways to feed gray crops (option ``gray``):

- ``"in_chans"`` (default): the model is built with ``in_chans=1`` (timm sums the pretrained
  RGB filters of the stem when local weights are loaded);
- ``"replicate"``: the model keeps 3 input channels; :class:`fertk.preprocess.FrameTransform`
  replicates the gray channel, and ``forward`` also accepts 1-channel input and expands it.

The classifier is sized to ``num_classes`` (timm drops the pretrained one when the class count
differs). timm's pretrained weights (``pretrained=true``) come from

- ``pretrained_file=PATH``: a local ``.safetensors``, ``.pth`` or ``.bin`` state dict, on any
  machine (read by timm with ``weights_only=True``);
- otherwise timm's Hugging Face hub entry (``timm/resnet18.a1_in1k`` …) from the hub cache, or
  downloaded where the machine has internet; without either, one line says so.

Gray input: with ``gray="in_chans"`` timm sums the pretrained RGB filters of the stem into one
channel, the gray image's response equal to that of an RGB image with three equal channels; mean
and std are the pretrained ones averaged over RGB. ``pretrained=PATH`` (older configs) means
``pretrained=true, pretrained_file=PATH``. Other keyword options go to
:func:`timm.create_model` (``drop_rate``, ``img_size`` …).
"""

from __future__ import annotations

import os
import warnings
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
        pretrained: bool | str | Path | None = False,
        pretrained_file: str | Path | None = None,
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
            from fertk.registry import did_you_mean

            hint = did_you_mean(model_name, timm.list_models())[1]
            raise FertkError(f"timm has no model '{model_name}'.{hint} (see timm.list_models())")
        net_chans = 3 if gray == "replicate" else int(in_chans)
        kwargs: dict[str, Any] = dict(num_classes=int(num_classes), in_chans=net_chans, **timm_options)
        if isinstance(pretrained, (str, Path)) and str(pretrained).lower() not in ("", "false", "true"):
            pretrained_file, pretrained = pretrained_file or pretrained, True  # pretrained=PATH
        #: where the pretrained weights came from (``None``: random init); checkpoint provenance
        self.pretrained_source: dict[str, Any] | None = None
        if pretrained_file not in (None, ""):
            path = Path(str(pretrained_file)).expanduser()
            if not path.is_file():
                raise FertkError(f"timm:{model_name}: pretrained_file '{pretrained_file}' is not a file "
                                 "(expected a .safetensors, .pth or .bin state dict)")
            kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": str(path)})
            self.pretrained_source = {"file": str(path)}
        elif pretrained is True or str(pretrained).lower() == "true":
            hub_id, cached = _hub_weights(model_name)
            if cached is not None:
                kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": cached})
            else:
                kwargs["pretrained"] = True
            self.pretrained_source = {"hub": hub_id, **({"file": cached} if cached else {})}
        else:
            kwargs["pretrained"] = False
        try:
            with warnings.catch_warnings():  # torch.load's advice on weights_only: fertk's
                warnings.filterwarnings("ignore", message=".*weights_only.*")  # error says it
                self.model = timm.create_model(model_name, **kwargs)
        except TypeError as exc:
            raise FertkError(f"timm:{model_name}: bad option for timm.create_model: {exc}") from exc
        except Exception as exc:  # a failed download or an unreadable weights file surfaces as
            # whatever huggingface_hub, requests, torch or safetensors raise; all mean the same
            if not kwargs["pretrained"]:
                raise
            raise FertkError(_load_failure(model_name, exc, self.pretrained_source)) from exc
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

    def get_classifier(self) -> nn.Module:
        """The wrapped model's classifier (:func:`fertk.backbones.base.classifier_of`)."""
        return self.model.get_classifier()

    def _adapt(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_chans == 3 and x.shape[1] == 1:
            return x.expand(-1, 3, -1, -1)
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled pre-logits features, (B, feature_dim)."""
        feats = self.model.forward_features(self._adapt(x))
        return self.model.forward_head(feats, pre_logits=True)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.get_classifier()(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self._adapt(x))


def _hub_weights(model_name: str) -> tuple[str, str | None]:
    """``(hub id, cached file or None)`` of timm's default pretrained weights for ``model_name``.

    A one-line :class:`FertkError` when timm has none, or when they are not in the local
    Hugging Face cache and the hub cannot be reached (offline mode, or no connection within a
    few seconds: timm itself would retry for about a minute before failing).
    """
    import timm

    cfg = timm.models.get_pretrained_cfg(model_name)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    url = getattr(cfg, "url", None) if cfg is not None else None
    if not hub_id and not url:
        raise FertkError(f"timm:{model_name}: timm has no pretrained weights for this model; "
                         "pass pretrained_file=PATH or drop pretrained")
    if not hub_id:
        return url, None
    from huggingface_hub import constants, try_to_load_from_cache

    cache = os.environ.get("HF_HUB_CACHE") or (
        str(Path(os.environ["HF_HOME"]).expanduser() / "hub") if os.environ.get("HF_HOME")
        else constants.HF_HUB_CACHE)
    for name in (getattr(cfg, "hf_hub_filename", None), "model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(hub_id, name, cache_dir=cache) if name else None
        if isinstance(found, str):
            return hub_id, found
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    if offline or not _reachable(endpoint):
        why = "HF_HUB_OFFLINE is set" if offline else f"{endpoint} cannot be reached (no internet)"
        raise FertkError(f"timm:{model_name}: pretrained=true needs timm's weights {hub_id} from the "
                         f"Hugging Face hub, but {why} and they are not in the local cache; download "
                         "them where there is internet and pass pretrained_file=PATH")
    return hub_id, None


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``timeout`` seconds."""
    import socket
    from urllib.parse import urlparse

    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return True
    except OSError:  # DNS failure, refused, unreachable network, timeout
        return False


def _load_failure(model_name: str, exc: BaseException, source: dict[str, Any] | None) -> str:
    """The one line for pretrained weights that did not load: a pickle refused by torch's
    ``weights_only`` loader is named as such (loading its objects could run code), anything
    else is shortened at a word, never cut inside one."""
    import re
    import textwrap

    from fertk.errors import one_line

    text = one_line(exc)
    file = (source or {}).get("file")
    if file and "weights_only" in str(exc):
        found = re.search(r"Unsupported globals?: ?([\w.]+)", str(exc))
        names = f" ({found.group(1).rstrip('.')})" if found else ""
        return (f"timm:{model_name}: pretrained_file '{file}' is a pickle that holds Python "
                f"objects{names} besides tensors; fertk refuses it because loading them could "
                "run code: save the state dict alone (torch.save(model.state_dict(), PATH)) or "
                "as .safetensors")
    short = textwrap.shorten(text, 200, placeholder=" ...")
    return f"timm:{model_name}: cannot load its pretrained weights ({short}); pass pretrained_file=PATH"


def build_timm(model_name: str, num_classes: int = 7, in_chans: int = 1, **options: Any) -> TimmBackbone:
    """``timm:<model_name>`` (e.g. ``timm:resnet18``), gray input, classifier of ``num_classes``."""
    return TimmBackbone(model_name, num_classes=num_classes, in_chans=in_chans, **options)
