"""Component registries: one per kind, filled by plugins through the ``register_*`` hooks.

A registry holds *factories*, never built objects. A factory is a callable or a
``"module:attribute"`` string resolved only when :meth:`Registry.create` is called, so
listing components never imports torch, dlib or timm.

What each kind's metadata holds and what its factories must return is stated once in
:mod:`fertk.contracts` (typed metadata, checked by :meth:`Registry.register`) and
:mod:`fertk.types` (the Protocols, checked by :meth:`Registry.create`).
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fertk.contracts import ComponentInfo, missing_members
from fertk.errors import FertkError


def did_you_mean(name: str, available: list[str] | tuple[str, ...]) -> tuple[list[str], str]:
    """The names of ``available`` close to ``name`` (at most 3) and the sentence that offers
    them (``" Did you mean 'a' or 'b'?"``, empty when none is close): fertk's one rule for
    suggesting a name."""
    close = difflib.get_close_matches(name, list(available), n=3, cutoff=0.6)
    return close, (" Did you mean " + " or ".join(f"'{c}'" for c in close) + "?") if close else ""


class UnknownComponentError(FertkError, KeyError):
    """No component of that kind has that name."""

    def __init__(self, label: str, name: str, available: list[str]):
        close, hint = did_you_mean(name, available)
        msg = f"Unknown {label} '{name}'.{hint}"
        msg += " Available: " + (", ".join(available) if available else "(none)")
        super().__init__(msg)
        self.name = name
        self.suggestions = close
        self.available = available

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class DuplicateComponentError(FertkError):
    """Two plugins registered the same name for the same kind."""


@dataclass
class ComponentSpec:
    """One registered component: its name, factory, owner plugin, description and metadata.

    ``metadata`` is the kind's typed info (:mod:`fertk.contracts`), readable as a mapping of
    the registered keys (``spec.metadata.get("landmarks")``) or as typed attributes.
    """

    name: str
    factory: Callable[..., Any] | str
    plugin: str
    description: str = ""
    prefix: bool = False
    aliases: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=ComponentInfo)

    @property
    def display_name(self) -> str:
        return f"{self.name}:<name>" if self.prefix else self.name

    def resolve(self) -> Callable[..., Any]:
        """The factory callable, importing its module if it was given as a string."""
        if callable(self.factory):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            missing = getattr(exc, "name", None) or str(exc)
            raise FertkError(
                f"{self.name}: cannot import {module_name} (plugin '{self.plugin}'): "
                f"missing module '{missing}'"
            ) from exc
        try:
            return getattr(module, attr)
        except AttributeError as exc:
            raise FertkError(f"{self.name}: {module_name} has no attribute '{attr}'") from exc

    def as_dict(self) -> dict[str, Any]:
        out = {
            "name": self.display_name,
            "plugin": self.plugin,
            "description": self.description,
        }
        if self.aliases:
            out["aliases"] = list(self.aliases)
        out.update({k: v for k, v in self.metadata.items() if k not in out})
        return out


def _keyword_names(factory: Callable[..., Any]) -> list[str]:
    """The keyword parameters of ``factory`` (empty when it takes ``**options`` only)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # builtins and C callables may have no signature
        return []
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in params if p.kind in kinds]


class Registry:
    """Name → factory table for one component kind.

    ``kind`` is the plural key (``"backbones"``), ``label`` the singular used in messages
    (``"backbone"``). Names are case-sensitive, lowercase by convention.
    """

    def __init__(self, kind: str, label: str | None = None, *,
                 info: type[ComponentInfo] = ComponentInfo, protocol: str | None = None):
        self.kind = kind
        self.label = label or kind
        self.info = info  # the typed metadata of this kind (fertk.contracts)
        self.protocol = protocol  # "module:Protocol" that built components must satisfy
        self._specs: dict[str, ComponentSpec] = {}
        self._aliases: dict[str, str] = {}

    # -- filling -----------------------------------------------------------------------
    def add(self, spec: ComponentSpec) -> ComponentSpec:
        if not isinstance(spec.metadata, self.info):
            where = f"plugin '{spec.plugin}', {self.label} '{spec.name}'"
            spec.metadata = self.info.parse(spec.metadata, where)
        for key in (spec.name, *spec.aliases):
            owner = self._owner_of(key)
            if owner is not None:
                raise DuplicateComponentError(
                    f"{self.label} '{key}' is registered twice: by plugin '{owner.plugin}' "
                    f"and by plugin '{spec.plugin}'"
                )
        self._specs[spec.name] = spec
        for alias in spec.aliases:
            self._aliases[alias] = spec.name
        return spec

    def register(
        self,
        name: str,
        factory: Callable[..., Any] | str,
        *,
        plugin: str = "<direct>",
        description: str = "",
        aliases: tuple[str, ...] | list[str] = (),
        prefix: bool = False,
        **metadata: Any,
    ) -> ComponentSpec:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.label} name must be a non-empty string, got {name!r}")
        if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
            raise ValueError(
                f"{self.label} '{name}': factory must be callable or 'module:attribute', got {factory!r}"
            )
        spec = ComponentSpec(
            name=name,
            factory=factory,
            plugin=plugin,
            description=description,
            prefix=prefix,
            aliases=tuple(aliases),
            metadata=metadata,
        )
        return self.add(spec)

    def unregister(self, name: str) -> None:
        spec = self._specs.pop(name)
        for alias in spec.aliases:
            self._aliases.pop(alias, None)

    # -- lookup ------------------------------------------------------------------------
    def _owner_of(self, key: str) -> ComponentSpec | None:
        if key in self._specs:
            return self._specs[key]
        if key in self._aliases:
            return self._specs[self._aliases[key]]
        return None

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.get(name)
        except UnknownComponentError:
            return False
        return True

    def __iter__(self):
        return iter(sorted(self._specs.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._specs)

    def get(self, name: str) -> ComponentSpec:
        """The spec for ``name`` (an alias, or ``family:member`` for a prefix family)."""
        spec = self._owner_of(name)
        if spec is not None and not spec.prefix:
            return spec
        family, sep, member = name.partition(":")
        if sep and member:
            spec = self._owner_of(family)
            if spec is not None and spec.prefix:
                return spec
        raise UnknownComponentError(self.label, name, self.display_names())

    def split(self, name: str) -> tuple[ComponentSpec, str | None]:
        """The spec and, for a prefix family, the member name after the colon."""
        spec = self.get(name)
        return spec, (name.partition(":")[2] if spec.prefix else None)

    def create(self, name: str, /, **options: Any) -> Any:
        """Build component ``name`` with ``options`` passed to its factory.

        Each value is first checked against the type its factory declares
        (:func:`fertk.option_types.check_options`: ``largest=maybe``, ``threshold=nan`` are
        refused). An option the component does not take, or a value it cannot use (the factory
        raises ``TypeError`` or ``ValueError``), is a :class:`FertkError` naming the option, its
        value and the options the component accepts.
        """
        from fertk.option_types import check_options

        spec, member = self.split(name)
        factory = spec.resolve()
        args = () if member is None else (member,)
        # the declared types first: one line naming the option and what it must be
        options = check_options(self.label, name, factory, options, self._accepted(spec, factory))
        try:
            built = factory(*args, **options)
        except (TypeError, ValueError) as exc:
            error = self._option_error(name, spec, factory, options, exc)
            if error is None:  # not caused by a given option: a bug, keep its traceback
                raise
            raise error from exc
        self.check(name, spec, built)
        return built

    def check(self, name: str, spec: ComponentSpec, built: Any) -> None:
        """Refuse ``built`` if it lacks a member of this kind's Protocol (one line naming the
        component, its plugin and what is missing)."""
        if self.protocol is None:
            return
        module_name, _, attr = self.protocol.partition(":")
        protocol = getattr(importlib.import_module(module_name), attr)
        missing = missing_members(built, protocol)
        if missing:
            raise FertkError(f"{self.label} '{name}' (plugin '{spec.plugin}') built a "
                             f"{type(built).__name__} without {', '.join(missing)}: see "
                             f"{self.protocol.replace(':', '.')}")

    @staticmethod
    def _accepted(spec: ComponentSpec, factory: Callable[..., Any]) -> str:
        """``"; accepted options: a, b"`` (or ``""``) for error messages."""
        accepted = list(spec.metadata.get("options") or _keyword_names(factory))
        return f"; accepted options: {', '.join(accepted)}" if accepted else ""

    def _option_error(self, name: str, spec: ComponentSpec, factory: Callable[..., Any],
                      options: dict[str, Any], exc: Exception) -> FertkError | None:
        """A one-line error when ``exc`` is about one of ``options``, else ``None``.

        Blamed: an option the factory does not take (``unexpected keyword argument``), a
        text value quoted in the message (``int('abc')``), or text values where a ``TypeError``
        mentions ``str`` (``'abc' > 0``).
        """
        known = self._accepted(spec, factory)
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        unknown = re.search(r"unexpected keyword argument '(\w+)'", text)
        if isinstance(exc, TypeError) and unknown and unknown.group(1) in options:
            return FertkError(f"{self.label} '{name}' has no option '{unknown.group(1)}'{known}")
        texts = {k: v for k, v in options.items() if isinstance(v, str)}
        culprits = [k for k, v in texts.items() if repr(v) in text]
        if not culprits and isinstance(exc, TypeError) and "'str'" in text:
            culprits = list(texts)
        if not culprits:
            return None
        given = ", ".join(f"{k}={options[k]!r}" for k in culprits)
        return FertkError(f"{self.label} '{name}': invalid value {given} ({text}){known}")

    def names(self, pattern: str | None = None) -> list[str]:
        names = sorted(self._specs)
        if pattern:
            names = [n for n in names if fnmatch.fnmatch(n, pattern)]
        return names

    def display_names(self) -> list[str]:
        return [s.display_name for s in self]

    def describe(self) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} components)"
