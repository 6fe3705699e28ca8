"""What each component kind promises: typed registry metadata and the Protocol of built objects.

``register(name, factory, *, description="", aliases=(), prefix=False, **metadata)``: the
``metadata`` keywords that name a *field* of the kind's info class below (``landmarks`` of a
detector, ``trainable`` of a temporal head …) are documented, typed and checked when the plugin
registers; a wrong type is refused with one line naming the plugin, the component and the
field. Other keywords are kept as free-form extras (shown by ``fertk list KIND --json``, never
read by fertk), except a near-miss of a field name (``trainble``), refused as a misspelling
with the field it resembles, since silently ignoring it would change behaviour.

``spec.metadata`` is the info object. It reads as a mapping of what was registered
(``spec.metadata.get("landmarks")``, ``dict(spec.metadata)``) and as typed attributes with the
documented defaults (``spec.metadata.trainable``).

Each kind's built objects are checked against a runtime-checkable Protocol of
:mod:`fertk.types` by :meth:`fertk.registry.Registry.create` (:data:`CONTRACTS`); the Protocols
are the one statement of each contract, which :mod:`fertk.hookspecs` and ``docs/plugins.md``
refer to.

Nothing heavy is imported here: the Protocols are named as ``"module:attribute"`` strings and
imported only when a component is built.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from fertk.errors import FertkError


class MetadataError(FertkError, ValueError):
    """A plugin registered a documented metadata field with a value of the wrong type."""


# -- field checks: each returns None when the value is valid, else what was expected -------------
Check = Callable[[Any], "str | None"]


def _is(kind: type, text: str, optional: bool = False) -> Check:
    def check(value: Any) -> str | None:
        if optional and value is None:
            return None
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        return None if ok else text + (" or null" if optional else "")
    return check


def _names(optional: bool = True) -> Check:
    def check(value: Any) -> str | None:
        if optional and value is None:
            return None
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        return None if ok else "a list of strings" + (" or null" if optional else "")
    return check


def _size(value: Any) -> str | None:
    ok = (value is None or isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value))
    return None if ok else "[height, width] (two positive integers) or null"


def _choice(*values: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in values else "one of " + ", ".join(repr(v) for v in values)
    return check


def _field(default: Any, check: Check, doc: str) -> Any:
    return field(default=default, metadata={"check": check, "doc": doc})


def _describe(value: Any) -> str:
    text = repr(value)
    return (text if len(text) <= 40 else text[:37] + "...") + f" ({type(value).__name__})"


@dataclass(frozen=True, eq=False, kw_only=True)
class ComponentInfo(Mapping[str, Any]):
    """Metadata fields every kind has; a mapping of the registered keys (typed and extras)."""

    options: list[str] | None = _field(
        None, _names(), "the options the factory accepts (default: its keyword parameters)")
    _given: tuple[str, ...] = field(default=(), repr=False)
    _extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def typed_fields(cls) -> dict[str, str]:
        """Field name → documentation of the typed fields of this kind."""
        return {f.name: f.metadata["doc"] for f in fields(cls) if "check" in f.metadata}

    @classmethod
    def parse(cls, metadata: Mapping[str, Any], where: str) -> ComponentInfo:
        """The info of ``metadata`` registered for ``where`` (``"plugin 'p', detector 'd'"``).

        Raises :class:`MetadataError` for a typed field of the wrong type or a near-miss of a
        field name; other unknown keys are kept as free-form extras.
        """
        checks = {f.name: f.metadata["check"] for f in fields(cls) if "check" in f.metadata}
        typed: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in metadata.items():
            if key in checks:
                expected = checks[key](value)
                if expected is not None:
                    raise MetadataError(f"{where}: metadata field '{key}' must be {expected}, "
                                        f"got {_describe(value)}")
                typed[key] = value
                continue
            close = difflib.get_close_matches(key, list(checks), n=1, cutoff=0.8)
            if close:
                raise MetadataError(f"{where}: unknown metadata field '{key}' (did you mean "
                                    f"'{close[0]}'?); typed fields: {', '.join(sorted(checks))}")
            extra[key] = value
        return cls(**typed, _given=tuple(typed), _extra=extra)

    # -- mapping of what was registered ---------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        if key in self._given:
            return getattr(self, key)
        return self._extra[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._given
        yield from self._extra

    def __len__(self) -> int:
        return len(self._given) + len(self._extra)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)!r})"


@dataclass(frozen=True, eq=False, kw_only=True)
class DetectorInfo(ComponentInfo):
    landmarks: str | None = _field(
        None, _is(str, "a landmark scheme name", optional=True),
        "the landmark scheme of the faces it finds (dlib68, five_point …; fertk.types.SCHEMES); "
        "null: boxes only; not given: unknown, assumed to find landmarks")

    @property
    def finds_landmarks(self) -> bool:
        """Whether its faces carry landmarks: the declared scheme, or ``True`` when undeclared."""
        return "landmarks" not in self._given or bool(self.landmarks)


@dataclass(frozen=True, eq=False, kw_only=True)
class CropInfo(ComponentInfo):
    needs_landmarks: bool = _field(
        False, _is(bool, "true or false"), "the policy needs face landmarks (refused with box-only detectors)")


@dataclass(frozen=True, eq=False, kw_only=True)
class BackboneInfo(ComponentInfo):
    input_size: list[int] | None = _field(None, _size, "input [height, width] at the default options")
    in_chans: int | None = _field(None, _is(int, "an integer", optional=True), "input channels")
    paper: bool = _field(False, _is(bool, "true or false"), "the paper's (Kuo et al. 2018) model")
    example: str | None = _field(None, _is(str, "a component name", optional=True),
                                 "an example name for a prefix family (timm:resnet18)")
    recipe: str | None = _field(None, _is(str, "a path", optional=True),
                                "a training config that trains it (named when it has no weights)")


@dataclass(frozen=True, eq=False, kw_only=True)
class TemporalInfo(ComponentInfo):
    input_kind: str = _field("probs", _choice("probs", "features"),
                             "what it consumes per frame: class probabilities or backbone features")
    trainable: bool = _field(True, _is(bool, "true or false"),
                             "has parameters to train (false: average, last)")
    paper: bool = _field(False, _is(bool, "true or false"), "the paper's (Kuo et al. 2018) head")
    recipe: str | None = _field(None, _is(str, "a path", optional=True),
                                "a training config that trains it (named when it has no weights)")


@dataclass(frozen=True, eq=False, kw_only=True)
class DatasetInfo(ComponentInfo):
    landmarks: str | None = _field(None, _is(str, "a landmark scheme name", optional=True),
                                   "scheme of the landmarks shipped with the data (--detector dataset)")


@dataclass(frozen=True, eq=False, kw_only=True)
class AugmentationInfo(ComponentInfo):
    kind: str | None = _field(None, _is(str, "a string", optional=True),
                              "'illumination' (uint8 gray images) or 'geometric' (tensor batches)")


@dataclass(frozen=True, eq=False, kw_only=True)
class WeightsInfo(ComponentInfo):
    backbone: str | None = _field(None, _is(str, "a backbone name", optional=True), "backbone name")
    temporal: str | None = _field(None, _is(str, "a temporal head name", optional=True),
                                  "temporal head name (null: frame model only)")
    classes: list[str] | None = _field(None, _names(), "class names, in output order")
    crop: Any = _field(None, lambda v: None, "crop policy (name, or {name, options})")
    detector: str | None = _field(None, _is(str, "a detector name", optional=True), "detector name")
    input_spec: dict[str, Any] | None = _field(None, _is(dict, "a mapping", optional=True),
                                               "input size, channels, crop size, mean, std")
    licence: str | None = _field(None, _is(str, "a string", optional=True), "licence of the weights")
    source: str | None = _field(None, _is(str, "a string", optional=True), "where the weights come from")
    sha256: str | None = _field(None, _is(str, "a hex string", optional=True), "sha256 of the .safetensors")
    metrics: dict[str, Any] | None = _field(None, _is(dict, "a mapping", optional=True), "measured metrics")
    cost: dict[str, Any] | None = _field(None, _is(dict, "a mapping", optional=True), "measured cost")
    accuracy: dict[str, Any] | None = _field(
        None, _is(dict, "a mapping", optional=True),
        "accuracy measured by fertk and reported by the authors (fertk.weights.accuracy; "
        "default: derived from metrics and train)")
    origin: str | None = _field(None, _is(str, "a string", optional=True), "bundled, cache or a plugin's")
    path: str | None = _field(None, _is(str, "a path", optional=True), "path of the .safetensors")


@dataclass(frozen=True, eq=False, kw_only=True)
class EngineInfo(ComponentInfo):
    precision: str = _field("fp32", _choice("fp32", "int8"), "numeric precision of its outputs")
    classifier: str | None = _field(
        None, _is(str, "a 'module:attr' path", optional=True),
        "for an engine that runs the whole model outside torch (ONNX Runtime): the "
        "'module:attr' factory of its classifier, called as factory(model_spec, threads=, "
        "device=); None: a torch classifier runs this variant of the module")


#: kind → (info class, ``"module:Protocol"`` its built objects satisfy, or ``None``).
CONTRACTS: dict[str, tuple[type[ComponentInfo], str | None]] = {
    "detectors": (DetectorInfo, "fertk.types:Detector"),
    "crops": (CropInfo, "fertk.types:CropPolicy"),
    "backbones": (BackboneInfo, "fertk.types:Backbone"),
    "temporal": (TemporalInfo, "fertk.types:TemporalHead"),
    "datasets": (DatasetInfo, "fertk.types:Dataset"),
    "augmentations": (AugmentationInfo, "fertk.types:Augmentation"),
    "weights": (WeightsInfo, None),  # a loader returning a checkpoint path
    "engines": (EngineInfo, "fertk.types:InferenceEngine"),
}


def protocol_members(protocol: type) -> list[str]:
    """The attribute and method names a Protocol class requires (``__call__`` included)."""
    names: list[str] = []
    for klass in reversed(protocol.__mro__):
        if klass in (object,) or klass.__name__ in ("Protocol", "Generic"):
            continue
        for name in (*getattr(klass, "__annotations__", {}), *vars(klass)):
            keep = name == "__call__" or not name.startswith("_")
            if keep and name not in names:
                names.append(name)
    return names


def missing_members(obj: Any, protocol: type) -> list[str]:
    """The members of ``protocol`` that ``obj`` lacks (``__call__`` when it is not callable)."""
    def has(name: str) -> bool:  # the class first: a property (a data set's lazy classes) is not run
        return hasattr(type(obj), name) or hasattr(obj, name)

    return [m for m in protocol_members(protocol) if not (callable(obj) if m == "__call__" else has(m))]


def check_object(obj: Any, kind: str, what: str) -> None:
    """Refuse ``obj``, a caller-built component of ``kind`` given as ``what`` (``detector=``),
    when it lacks a member of that kind's Protocol: one line naming what is missing (the rule
    of :meth:`fertk.registry.Registry.check` for registered components)."""
    import importlib

    from fertk.errors import FertkError

    module_name, _, attr = (CONTRACTS[kind][1] or ":").partition(":")
    if not module_name:
        return
    protocol = getattr(importlib.import_module(module_name), attr)
    missing = missing_members(obj, protocol)
    if missing:
        raise FertkError(f"{what}: a {type(obj).__name__} is not a {kind.rstrip('s')} (it lacks "
                         f"{', '.join(missing)}; see {module_name}.{attr}): pass a registered "
                         "name or an object that has them")
