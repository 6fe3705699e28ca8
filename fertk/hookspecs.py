"""Hook specifications of fertk: one ``register_<kind>`` hook per component kind.

Every hook receives a ``register`` callable and calls it once per component it provides::

    from fertk import hookimpl

    @hookimpl
    def register_backbones(register):
        register("mynet", "my_package.models:build_mynet", description="My network")

``register(name, factory, *, description="", aliases=(), prefix=False, **metadata)``:

- ``factory`` is a callable, or a ``"module:attribute"`` string imported only when the
  component is built: plugins keep heavy imports (torch, dlib, timm, onnxruntime) out of
  ``fertk --help`` and ``fertk list`` that way.
- ``prefix=True`` registers a family: ``name`` then matches ``name:<anything>`` and the
  factory receives the part after the colon as its first argument (``timm:resnet18``).
- ``metadata`` is free-form and shown by ``fertk list --json``.

Built-in components are registered through exactly these hooks (see
:data:`fertk.plugins.DEFAULT_PLUGINS`). New hook arguments are added as opt-in keyword
arguments, so existing plugins keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("fertk")
hookimpl = pluggy.HookimplMarker("fertk")

Register = Callable[..., None]


@hookspec
def register_detectors(register: Register) -> None:
    """Register face detectors.

    The factory returns an object with ``detect(image) -> list[fertk.types.Face]`` where
    ``image`` is a uint8 BGR (H×W×3) or gray (H×W) array; faces come sorted by size, largest
    first, with boxes in pixel coordinates of ``image``.
    """


@hookspec
def register_crops(register: Register) -> None:
    """Register crop policies.

    The factory returns an object with ``crop(image, face) -> fertk.types.FaceCrop``: a uint8
    gray square (120×120 by default) plus the affine transform from image to crop.
    """


@hookspec
def register_backbones(register: Register) -> None:
    """Register frame backbones.

    The factory takes ``num_classes`` (and ``in_chans`` where it makes sense) plus options and
    returns a ``torch.nn.Module`` with ``input_size`` ((H, W)), ``in_chans``, ``num_classes``
    and ``feature_dim`` attributes, ``forward(x) -> logits`` and
    ``forward_features(x) -> (B, feature_dim)``.
    """


@hookspec
def register_temporal_heads(register: Register) -> None:
    """Register temporal heads (sequence of per-frame outputs → one prediction).

    The factory takes ``num_classes`` and ``input_dim`` and returns a ``torch.nn.Module``
    mapping ``(B, T, input_dim)`` to ``(B, num_classes)`` logits; its ``input_kind`` attribute
    says whether it consumes per-frame ``"probs"`` or ``"features"``.
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Register data sets.

    The factory takes ``root`` plus options and returns an object whose ``samples()`` gives
    :class:`fertk.types.Sample` records (paths, label, subject, sequence, frame index).
    """


@hookspec
def register_augmentations(register: Register) -> None:
    """Register augmentations and illumination normalisations.

    The factory takes options and returns a callable applied to uint8 gray images or batches.
    """


@hookspec
def register_weights(register: Register) -> None:
    """Register pretrained weights.

    ``register(name, loader, description=..., **metadata)`` where ``loader`` returns the path
    of a checkpoint (safetensors + JSON metadata) and metadata names the backbone, classes,
    crop policy, input size, licence, source and sha256.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``fertk`` click group ``cli`` (``@cli.command()`` …)."""


#: The component kinds, their hook names and their singular labels for messages.
KINDS: dict[str, tuple[str, str]] = {
    "detectors": ("register_detectors", "detector"),
    "crops": ("register_crops", "crop policy"),
    "backbones": ("register_backbones", "backbone"),
    "temporal": ("register_temporal_heads", "temporal head"),
    "datasets": ("register_datasets", "dataset"),
    "augmentations": ("register_augmentations", "augmentation"),
    "weights": ("register_weights", "weights"),
}
