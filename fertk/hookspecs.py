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
- ``metadata``: the documented fields of each kind (``landmarks`` of a detector,
  ``needs_landmarks`` of a crop policy, ``trainable``/``input_kind`` of a temporal head …) are
  typed and validated when the plugin registers (:mod:`fertk.contracts`); other keys are kept
  as free-form extras. All are shown by ``fertk list KIND --json``.

What each factory returns is stated once, as the Protocols of :mod:`fertk.types`
(``Detector``, ``CropPolicy``, ``Backbone``, ``TemporalHead``, ``Dataset``, ``Augmentation``,
``InferenceEngine``); :meth:`fertk.registry.Registry.create` checks every built component
against its Protocol.

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
    """Register face detectors: the factory returns a :class:`fertk.types.Detector`;
    metadata :class:`fertk.contracts.DetectorInfo`."""


@hookspec
def register_crops(register: Register) -> None:
    """Register crop policies: the factory returns a :class:`fertk.types.CropPolicy`;
    metadata :class:`fertk.contracts.CropInfo`."""


@hookspec
def register_backbones(register: Register) -> None:
    """Register frame backbones: the factory takes ``num_classes`` (and ``in_chans`` where it
    makes sense) plus options and returns a :class:`fertk.types.Backbone`; metadata
    :class:`fertk.contracts.BackboneInfo`."""


@hookspec
def register_temporal_heads(register: Register) -> None:
    """Register temporal heads (sequence of per-frame outputs → one prediction): the factory
    takes ``num_classes`` and ``input_dim`` and returns a :class:`fertk.types.TemporalHead`;
    metadata :class:`fertk.contracts.TemporalInfo`."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register data sets: the factory takes ``root`` plus options and returns a
    :class:`fertk.types.Dataset`; metadata :class:`fertk.contracts.DatasetInfo`."""


@hookspec
def register_augmentations(register: Register) -> None:
    """Register augmentations and illumination normalisations: the factory takes options and
    returns a :class:`fertk.types.Augmentation`; metadata :class:`fertk.contracts.AugmentationInfo`."""


@hookspec
def register_weights(register: Register) -> None:
    """Register pretrained weights: ``register(name, loader, description=..., **metadata)``
    where ``loader`` returns the path of a checkpoint (safetensors + JSON metadata); metadata
    :class:`fertk.contracts.WeightsInfo` (backbone, classes, crop, input spec, licence, source,
    sha256 …)."""


@hookspec
def register_engines(register: Register) -> None:
    """Register inference engines (``fertk models bench --engine``, ``Pipeline(engine=...)``):
    the factory takes ``model`` (a frame model in eval mode, never modified), ``example`` (an
    input batch) and options and returns a :class:`fertk.types.InferenceEngine`; metadata
    :class:`fertk.contracts.EngineInfo` (``precision``)."""


@hookspec
def register_landmark_schemes(register: Callable[..., None]) -> None:
    """Register landmark layouts: ``register(name, num_points=..., nose=..., left_eye=(...),
    right_eye=(...), mouth=(...))`` adds a :class:`fertk.types.LandmarkScheme`, the layout a
    detector's ``landmarks`` metadata and its faces' ``scheme`` name. Loaded when a scheme is
    first looked up (:func:`fertk.types.get_scheme`)."""


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
    "engines": ("register_engines", "engine"),
}
