"""Shared pieces of the built-in backbones: the input specification and Xavier initialisation.

Every backbone exposes the contract of :mod:`fertk.hookspecs` (``input_size``, ``in_chans``,
``num_classes``, ``feature_dim``, ``input_spec``, ``forward``, ``forward_features``,
``forward_head``). :func:`input_spec_of` also derives a spec for third-party backbones that
only declare ``input_size``/``in_chans``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from fertk.errors import FertkError

#: Side of the face crops that crop policies produce; ``crop_size`` is relative to it.
BASE_CROP = 120
#: Largest network input side (the crop policies' largest crop, ``fertk.crops.policies``).
MAX_INPUT = 1024


def make_input_spec(
    input_size: tuple[int, int] | list[int] | int,
    in_chans: int = 1,
    crop_size: int = 96,
    mean: list[float] | tuple[float, ...] | None = None,
    std: list[float] | tuple[float, ...] | None = None,
) -> dict[str, Any]:
    """The ``input_spec`` dict of the contract; ``mean``/``std`` default to 0.5 per channel.

    0.5/0.5 maps the [0, 1] gray values to [-1, 1]. The paper does not state its input scaling.
    """
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    h, w = (int(v) for v in input_size)
    if not (8 <= h <= MAX_INPUT and 8 <= w <= MAX_INPUT):  # a network input of 100000² pixels
        raise FertkError(f"input_size must be 8 to {MAX_INPUT} pixels a side, got {h}x{w}")
    mean = [0.5] * in_chans if mean is None else [float(v) for v in mean]
    std = [0.5] * in_chans if std is None else [float(v) for v in std]
    if len(mean) == 1 and in_chans > 1:
        mean = mean * in_chans
    if len(std) == 1 and in_chans > 1:
        std = std * in_chans
    if len(mean) != in_chans or len(std) != in_chans:
        raise FertkError(f"mean/std need {in_chans} values, got {mean} / {std}")
    if not 0 < crop_size <= BASE_CROP:
        raise FertkError(f"crop_size must be in 1..{BASE_CROP}, got {crop_size}")
    return {
        "input_size": [h, w],
        "in_chans": int(in_chans),
        "crop_size": int(crop_size),
        "mean": mean,
        "std": std,
    }


def input_spec_of(model: Any) -> dict[str, Any]:
    """``model.input_spec``, or one derived from ``input_size``/``in_chans`` (plugins)."""
    spec = getattr(model, "input_spec", None)
    if spec:
        return dict(spec)
    size = getattr(model, "input_size", (96, 96))
    return make_input_spec(size, int(getattr(model, "in_chans", 1)), crop_size=96)


def classifier_of(model: nn.Module) -> tuple[str, nn.Module] | None:
    """``(qualified name, module)`` of the backbone's classifier, the layer that maps
    ``forward_features`` to the logits, or ``None`` when the backbone names none.

    ``model.get_classifier()`` (timm's convention) when the backbone has it, else its
    ``classifier`` or ``head`` attribute (the built-ins, the example plugin). The classifier's
    tensors hold one row per class along dimension 0; fine-tuning maps them by class name and
    ``frame.freeze``/``frame.lr_backbone`` treat everything else as the features.
    """
    module = None
    getter = getattr(model, "get_classifier", None)
    if callable(getter):
        module = getter()
    for attr in ("classifier", "head"):
        if module is None and isinstance(getattr(model, attr, None), nn.Module):
            module = getattr(model, attr)
    if not isinstance(module, nn.Module):
        return None
    return next(((name, m) for name, m in model.named_modules() if m is module and name), None)


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every conv and linear layer (paper §3.4)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ConvFCBackbone(nn.Module):
    """Base of the plain conv → fc backbones (``compact``, ``dtan``).

    Subclasses define ``features`` (convolutions), ``fc`` (the fully connected layers whose
    output is the feature vector) and ``classifier``.
    """

    features: nn.Module
    fc: nn.Module
    classifier: nn.Module

    def forward_features(self, x: Any) -> Any:
        """The last fc activations, ``(B, feature_dim)``: the classifier's input."""
        return self.fc(self.features(x))

    def forward_head(self, features: Any) -> Any:
        return self.classifier(features)

    def forward(self, x: Any) -> Any:
        return self.forward_head(self.forward_features(x))


def make_activation(name: str, channels: int) -> nn.Module:
    """``relu`` or ``prelu`` (channel-wise, Caffe's default, as in Fig. 2 of the paper)."""
    from fertk.errors import FertkError

    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "prelu":
        return nn.PReLU(channels, init=0.25)
    raise FertkError(f"activation must be 'relu' or 'prelu', got {name!r}")
