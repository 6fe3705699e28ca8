"""The plugin manager: built-in plugins plus third-party ones from the ``fertk`` entry points.

Built-in components are ordinary plugins listed in :data:`DEFAULT_PLUGINS` and registered
under their module names (``fertk.backbones`` …), which no entry point can take: an entry
point with a colliding name is refused with a warning instead of being silently skipped.

Environment:

- ``FERTK_LOAD_PLUGINS`` unset: load every installed third-party plugin;
  ``FERTK_LOAD_PLUGINS=`` (empty): load none; ``FERTK_LOAD_PLUGINS=a,b``: load only the
  entry points (or distributions) named ``a`` and ``b``.

A plugin that fails to import, whose hook raises (or calls ``sys.exit``), or that
implements a hook name no spec declares (a misspelling), is reported in one warning line
on stderr naming it; the other plugins and the CLI keep working.

Hooks run in registration order, built-ins first, whatever ``tryfirst``/``trylast`` a plugin
asks for: the first owner of a component or command name keeps it.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pluggy

from fertk import hookspecs
from fertk.contracts import CONTRACTS, MetadataError
from fertk.errors import FertkError, one_line
from fertk.registry import DuplicateComponentError, Registry

#: Modules that register the built-in components, through the same hooks as third parties.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "fertk.detectors",
    "fertk.crops",
    "fertk.backbones",
    "fertk.temporal",
    "fertk.datasets",
    "fertk.augment",
    "fertk.weights",
    "fertk.inference",
    "fertk.commands.core",
    "fertk.commands.detect",
    "fertk.commands.models",
    "fertk.commands.data",
    "fertk.commands.weights",
    "fertk.commands.train",
    "fertk.commands.run",
)

ENTRY_POINT_GROUP = "fertk"


@dataclass
class PluginInfo:
    """What ``fertk plugins`` shows for one plugin."""

    name: str
    builtin: bool
    version: str | None = None
    distribution: str | None = None
    module: str | None = None
    hooks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "builtin": self.builtin,
            "version": self.version,
            "distribution": self.distribution,
            "module": self.module,
            "hooks": sorted(self.hooks),
            "errors": list(self.errors),
        }


class _State:
    def __init__(self) -> None:
        self.pm: pluggy.PluginManager | None = None
        self.infos: dict[str, PluginInfo] = {}
        self.registries: dict[str, Registry] | None = None
        self.warned: set[str] = set()
        self.generation = 0  # bumped whenever the set of plugins changes
        self.calling: str | None = None  # the plugin whose hook is running (call_each)
        self.schemes_generation = -1  # the generation whose landmark-scheme hooks have run


_state = _State()


def generation() -> int:
    """A counter that changes whenever plugins are reset, added or removed."""
    return _state.generation


def warn(message: str) -> None:
    """Print a one-line plugin warning on stderr, once per process per message."""
    if message in _state.warned:
        return
    _state.warned.add(message)
    print(f"fertk: warning: {message}", file=sys.stderr)


def record_error(plugin: str, message: str) -> None:
    """Record ``message`` against ``plugin`` (``fertk plugins`` status) and warn once."""
    info = _state.infos.get(plugin)
    if info is not None and message not in info.errors:
        info.errors.append(message)
    warn(message)


def calling_plugin() -> str | None:
    """The name of the plugin whose hook :func:`call_each` is running, else ``None``."""
    return _state.calling


def _selected_entry_point_names() -> set[str] | None:
    raw = os.environ.get("FERTK_LOAD_PLUGINS")
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _iter_entry_points():
    """(entry point, distribution) pairs of group ``fertk``, one per distribution name, in
    the order of their names (not the file system's), so the first owner of a name is the
    same on every machine."""
    seen: set[tuple[str, str]] = set()
    found = []
    for dist in md.distributions():
        dist_name = (dist.metadata["Name"] or "?") if dist.metadata else "?"
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP:
                continue
            key = (dist_name.lower(), ep.name)
            if key in seen:
                continue
            seen.add(key)
            found.append((ep.name, dist_name.lower(), ep, dist))
    for _, _, ep, dist in sorted(found, key=lambda item: item[:2]):
        yield ep, dist


def _load_builtins(pm: pluggy.PluginManager) -> None:
    from fertk import __version__

    for module_name in DEFAULT_PLUGINS:
        info = PluginInfo(name=module_name, builtin=True, version=__version__, module=module_name)
        _state.infos[module_name] = info
        try:
            module = importlib.import_module(module_name)
            pm.register(module, name=module_name)
        except (Exception, SystemExit) as exc:  # a broken built-in must not take the CLI down either
            record_error(module_name, f"built-in plugin '{module_name}' failed to load: {one_line(exc)}")


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    selected = _selected_entry_point_names()
    found: set[str] = set()
    for ep, dist in _iter_entry_points():
        dist_name = dist.metadata["Name"] if dist.metadata else None
        found.update({ep.name, dist_name or ""})
        if selected is not None and ep.name not in selected and dist_name not in selected:
            continue
        if ep.name in _state.infos:
            warn(
                f"plugin '{ep.name}' from distribution '{dist_name}' not loaded: the name "
                f"is already taken by plugin '{ep.name}'"
            )
            continue
        info = PluginInfo(
            name=ep.name,
            builtin=False,
            version=dist.version,
            distribution=dist_name,
            module=ep.value,
        )
        _state.infos[ep.name] = info
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except (Exception, SystemExit) as exc:  # any failure of third-party code, sys.exit included
            record_error(ep.name, f"plugin '{ep.name}' failed to load: {one_line(exc)}")
    if selected:
        for name in sorted(selected - found):
            warn(f"FERTK_LOAD_PLUGINS names '{name}', but no such plugin is installed")


def _check_pending(pm: pluggy.PluginManager) -> None:
    """Report hook implementations that match no hook spec (a misspelled hook name is
    otherwise silently never called): pluggy's ``check_pending``, one line per plugin."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        specs = sorted(n for n, h in vars(pm.hook).items() if not n.startswith("_") and h.has_spec())
        for name, hook in vars(pm.hook).items():
            if name.startswith("_") or hook.has_spec():
                continue
            for impl in hook.get_hookimpls():
                if impl.optionalhook:
                    continue
                plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
                close = difflib.get_close_matches(name, specs, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                record_error(plugin_name, f"plugin '{plugin_name}' implements unknown hook "
                                           f"'{name}'{hint}; it is never called")


def _ordered_impls(pm: pluggy.PluginManager, hook_name: str) -> list[Any]:
    """The implementations of ``hook_name`` in plugin registration order, built-ins first.

    pluggy *calls* the last registered plugin first (and honours ``tryfirst``), which would
    let a third-party plugin take a built-in's names; fertk keeps the first owner instead.
    """
    rank = {id(plugin): i for i, (_, plugin) in enumerate(pm.list_name_plugin())}
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    return sorted(impls, key=lambda impl: rank.get(id(impl.plugin), len(rank)))


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use."""
    if _state.pm is None:
        pm = pluggy.PluginManager("fertk")
        pm.add_hookspecs(hookspecs)
        _state.pm = pm
        _load_builtins(pm)
        _load_entry_points(pm)
        _check_pending(pm)
        for name, info in _state.infos.items():
            plugin = pm.get_plugin(name)
            if plugin is not None:
                info.hooks = sorted(c.name for c in (pm.get_hookcallers(plugin) or []))
    return _state.pm


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register an in-process plugin object or module (notebooks, tests, examples)."""
    pm = get_plugin_manager()
    registered = pm.register(plugin, name=name)
    if registered is None:
        raise FertkError(f"plugin '{name}' is already registered")
    info = PluginInfo(name=registered, builtin=False, module=getattr(plugin, "__name__", None))
    info.hooks = sorted(c.name for c in (pm.get_hookcallers(plugin) or []))
    _state.infos[registered] = info
    _check_pending(pm)
    _state.registries = None
    _state.generation += 1
    return registered


def unregister_plugin(name: str) -> None:
    pm = get_plugin_manager()
    pm.unregister(name=name)
    _state.infos.pop(name, None)
    _state.registries = None
    _state.generation += 1


def reset() -> None:
    """Forget all plugins and registries; the next use loads them again (for tests)."""
    _state.pm = None
    _state.infos = {}
    _state.registries = None
    _state.warned = set()
    _state.generation += 1


def call_each(hook_name: str, **kwargs: Any) -> None:
    """Call every implementation of ``hook_name``, isolating failures plugin by plugin.

    Implementations run in registration order (built-ins first). Each receives only the
    arguments it names, so new hook arguments stay opt-in.
    """
    pm = get_plugin_manager()
    for impl in _ordered_impls(pm, hook_name):
        plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
        args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
        _state.calling = plugin_name
        try:
            impl.function(**args)
        except (Exception, SystemExit) as exc:  # one plugin's failure must not stop the others
            record_error(plugin_name, f"plugin '{plugin_name}' failed in {hook_name}: {one_line(exc)}")
        finally:
            _state.calling = None


def _register_into(registry: Registry, plugin_name: str, name: str, factory: Any, **kw: Any) -> None:
    try:
        registry.register(name, factory, plugin=plugin_name, **kw)
    except (DuplicateComponentError, MetadataError) as exc:  # their message names plugin and component
        record_error(plugin_name, str(exc))
    except (TypeError, ValueError) as exc:
        record_error(plugin_name, f"plugin '{plugin_name}' registered an invalid {registry.label}: {exc}")


def registries() -> dict[str, Registry]:
    """All registries, filled from every loaded plugin (cached)."""
    if _state.registries is not None:
        return _state.registries
    pm = get_plugin_manager()
    regs = {kind: Registry(kind, label, info=CONTRACTS[kind][0], protocol=CONTRACTS[kind][1])
            for kind, (_, label) in hookspecs.KINDS.items()}
    for kind, (hook_name, _) in hookspecs.KINDS.items():
        for impl in _ordered_impls(pm, hook_name):
            plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
            register = partial(_register_into, regs[kind], plugin_name)
            try:
                impl.function(register=register)
            except (Exception, SystemExit) as exc:  # one plugin's failure must not stop the others
                record_error(plugin_name, f"plugin '{plugin_name}' failed in {hook_name}: {one_line(exc)}")
    _state.registries = regs
    return regs


def load_landmark_schemes(register: Callable[..., None]) -> None:
    """Run the ``register_landmark_schemes`` hooks (once per set of plugins) with ``register``
    (``register(name, **fields)``); :func:`fertk.types.get_scheme` calls it with the one that
    adds to :data:`fertk.types.SCHEMES` (passed in, so this module does not import types)."""
    if _state.schemes_generation == _state.generation:
        return
    get_plugin_manager()
    _state.schemes_generation = _state.generation
    call_each("register_landmark_schemes", register=register)


def get_registry(kind: str) -> Registry:
    regs = registries()
    if kind not in regs:
        from fertk.registry import UnknownComponentError

        raise UnknownComponentError("component kind", kind, sorted(regs))
    return regs[kind]


def plugin_infos(include_builtins: bool = False) -> list[PluginInfo]:
    get_plugin_manager()
    registries()  # hook errors are recorded while filling the registries
    infos = sorted(_state.infos.values(), key=lambda i: (not i.builtin, i.name))
    return [i for i in infos if include_builtins or not i.builtin]
