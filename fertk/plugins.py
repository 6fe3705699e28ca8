"""The plugin context: built-in plugins plus third-party ones from the ``fertk`` entry points.

One :class:`Context` holds what the plugin system knows: the pluggy plugin manager, the
registries filled from it, the landmark schemes its plugins add, and the warnings already
given. Nothing else in fertk keeps plugin state. fertk uses one default context,
:func:`default_context`, unless another is passed (``fertk.Pipeline(context=...)``); the
functions of this module (:func:`registries`, :func:`get_registry`, :func:`register_plugin`,
:func:`reset` …) are the default context's methods.

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

import contextlib
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
from fertk._version import __version__
from fertk.contracts import CONTRACTS, MetadataError
from fertk.errors import FertkError, one_line
from fertk.registry import DuplicateComponentError, Registry, UnknownComponentError
from fertk.schemes import SCHEMES, LandmarkScheme

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


def _selected_entry_point_names() -> set[str] | None:
    raw = os.environ.get("FERTK_LOAD_PLUGINS")
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


#: Ctrl-C presses (SIGINT) seen while plugin code ran (:func:`_watching_ctrl_c`).
_ctrl_c = [0]


@contextlib.contextmanager
def _watching_ctrl_c():
    """Count the SIGINTs that arrive while plugin code runs (the handler in place still gets
    them), so that a ``KeyboardInterrupt`` the code raises itself, a broken plugin, is told
    apart from the user's Ctrl-C: the first is recorded like any plugin error
    (:func:`_reraise_ctrl_c`), the second stops the command. Main thread only."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def counted(signum: int, frame: Any) -> Any:
        _ctrl_c[0] += 1
        if callable(previous):
            return previous(signum, frame)
        if previous != signal.SIG_IGN:
            raise KeyboardInterrupt
        return None

    try:
        signal.signal(signal.SIGINT, counted)
    except (ValueError, OSError):  # not allowed here: the code runs unwatched
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def _reraise_ctrl_c(exc: BaseException, before: int) -> None:
    """Re-raise ``exc`` when it is the user's Ctrl-C (a SIGINT arrived since the count was
    ``before``); a plugin's own ``KeyboardInterrupt`` or error returns, to be recorded."""
    if isinstance(exc, KeyboardInterrupt) and _ctrl_c[0] != before:
        raise exc


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


def _ordered_impls(pm: pluggy.PluginManager, hook_name: str) -> list[Any]:
    """The implementations of ``hook_name`` in plugin registration order, built-ins first.

    pluggy *calls* the last registered plugin first (and honours ``tryfirst``), which would
    let a third-party plugin take a built-in's names; fertk keeps the first owner instead.
    """
    rank = {id(plugin): i for i, (_, plugin) in enumerate(pm.list_name_plugin())}
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    return sorted(impls, key=lambda impl: rank.get(id(impl.plugin), len(rank)))


class Context:
    """Plugin manager, registries and landmark schemes of one fertk session.

    Everything is built on first use: the plugin manager loads the built-ins and the entry
    points (:data:`DEFAULT_PLUGINS`, ``FERTK_LOAD_PLUGINS``), the registries are filled from
    its hooks, plugins' landmark schemes are loaded on the first unknown scheme name.
    :attr:`generation` changes whenever the set of plugins changes; what was built from the
    old set (registries, schemes, :meth:`cached` objects) is dropped then.
    """

    def __init__(self) -> None:
        self._pm: pluggy.PluginManager | None = None
        self.infos: dict[str, PluginInfo] = {}
        self._registries: dict[str, Registry] | None = None
        self._schemes: dict[str, LandmarkScheme] = {}  # added by register_landmark_schemes
        self._schemes_generation = -1  # the generation whose landmark-scheme hooks have run
        self._cache: dict[str, tuple[int, Any]] = {}
        self.warned: set[str] = set()
        self.generation = 0  # bumped whenever the set of plugins changes
        self.calling: str | None = None  # the plugin whose hook is running (call_each)

    def __repr__(self) -> str:
        loaded = "not loaded" if self._pm is None else f"{len(self.infos)} plugins"
        return f"Context({loaded}, generation {self.generation})"

    # -- warnings ------------------------------------------------------------------------
    def warn(self, message: str) -> None:
        """Print a one-line plugin warning on stderr, once per message."""
        if message in self.warned:
            return
        self.warned.add(message)
        print(f"fertk: warning: {message}", file=sys.stderr)

    def record_error(self, plugin: str, message: str) -> None:
        """Record ``message`` against ``plugin`` (``fertk plugins`` status) and warn once."""
        info = self.infos.get(plugin)
        if info is not None and message not in info.errors:
            info.errors.append(message)
        self.warn(message)

    # -- the plugin manager --------------------------------------------------------------
    def plugin_manager(self) -> pluggy.PluginManager:
        """The plugin manager, built (built-ins, then entry points) on first use."""
        if self._pm is None:
            pm = pluggy.PluginManager("fertk")
            pm.add_hookspecs(hookspecs)
            self._pm = pm
            with _watching_ctrl_c():
                self._load_builtins(pm)
                self._load_entry_points(pm)
            self._check_pending(pm)
            for name, info in self.infos.items():
                plugin = pm.get_plugin(name)
                if plugin is not None:
                    info.hooks = sorted(c.name for c in (pm.get_hookcallers(plugin) or []))
        return self._pm

    def _load_builtins(self, pm: pluggy.PluginManager) -> None:
        for module_name in DEFAULT_PLUGINS:
            info = PluginInfo(name=module_name, builtin=True, version=__version__, module=module_name)
            self.infos[module_name] = info
            try:
                module = importlib.import_module(module_name)
                pm.register(module, name=module_name)
            except (Exception, SystemExit) as exc:  # a broken built-in must not take the CLI down either
                self.record_error(module_name, f"built-in plugin '{module_name}' failed to load: "
                                               f"{one_line(exc)}")

    def _load_entry_points(self, pm: pluggy.PluginManager) -> None:
        selected = _selected_entry_point_names()
        found: set[str] = set()
        for ep, dist in _iter_entry_points():
            dist_name = dist.metadata["Name"] if dist.metadata else None
            found.update({ep.name, dist_name or ""})
            if selected is not None and ep.name not in selected and dist_name not in selected:
                continue
            if ep.name in self.infos:
                self.warn(f"plugin '{ep.name}' from distribution '{dist_name}' not loaded: the "
                          f"name is already taken by plugin '{ep.name}'")
                continue
            info = PluginInfo(name=ep.name, builtin=False, version=dist.version,
                              distribution=dist_name, module=ep.value)
            self.infos[ep.name] = info
            before = _ctrl_c[0]
            try:
                plugin = ep.load()
                pm.register(plugin, name=ep.name)
            except (Exception, SystemExit, KeyboardInterrupt) as exc:  # any failure of third-party
                _reraise_ctrl_c(exc, before)  # code, sys.exit included; the user's Ctrl-C stops
                self.record_error(ep.name, f"plugin '{ep.name}' failed to load: {one_line(exc)}")
        if selected:
            for name in sorted(selected - found):
                self.warn(f"FERTK_LOAD_PLUGINS names '{name}', but no such plugin is installed")

    def _check_pending(self, pm: pluggy.PluginManager) -> None:
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
                    self.record_error(plugin_name, f"plugin '{plugin_name}' implements unknown "
                                                   f"hook '{name}'{hint}; it is never called")

    def changed(self) -> None:
        """The set of plugins (or what they register) changed: drop the registries and
        whatever was built from them; the next lookup fills them again."""
        self._registries = None
        self._cache.clear()
        self.generation += 1

    def register_plugin(self, plugin: Any, name: str | None = None) -> str:
        """Register an in-process plugin object or module (notebooks, tests, examples)."""
        pm = self.plugin_manager()
        registered = pm.register(plugin, name=name)
        if registered is None:
            raise FertkError(f"plugin '{name}' is already registered")
        info = PluginInfo(name=registered, builtin=False, module=getattr(plugin, "__name__", None))
        info.hooks = sorted(c.name for c in (pm.get_hookcallers(plugin) or []))
        self.infos[registered] = info
        self._check_pending(pm)
        self.changed()
        return registered

    def unregister_plugin(self, name: str) -> None:
        self.plugin_manager().unregister(name=name)
        self.infos.pop(name, None)
        self.changed()

    def reset(self) -> None:
        """Forget all plugins, registries, schemes and warnings; the next use loads them again."""
        self._pm = None
        self.infos = {}
        self._schemes = {}
        self.warned = set()
        self.changed()

    def call_each(self, hook_name: str, **kwargs: Any) -> None:
        """Call every implementation of ``hook_name``, isolating failures plugin by plugin.

        Implementations run in registration order (built-ins first). Each receives only the
        arguments it names, so new hook arguments stay opt-in.
        """
        pm = self.plugin_manager()
        for impl in _ordered_impls(pm, hook_name):
            plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
            args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
            self.calling = plugin_name
            before = _ctrl_c[0]
            try:
                with _watching_ctrl_c():
                    impl.function(**args)
            except (Exception, SystemExit, KeyboardInterrupt) as exc:  # one plugin's failure
                _reraise_ctrl_c(exc, before)  # must not stop the others
                self.record_error(plugin_name, f"plugin '{plugin_name}' failed in {hook_name}: "
                                               f"{one_line(exc)}")
            finally:
                self.calling = None

    def plugin_infos(self, include_builtins: bool = False) -> list[PluginInfo]:
        self.plugin_manager()
        self.registries()  # hook errors are recorded while filling the registries
        infos = sorted(self.infos.values(), key=lambda i: (not i.builtin, i.name))
        return [i for i in infos if include_builtins or not i.builtin]

    # -- registries ----------------------------------------------------------------------
    def _register_into(self, registry: Registry, plugin_name: str, name: str, factory: Any,
                       **kw: Any) -> None:
        try:
            registry.register(name, factory, plugin=plugin_name, **kw)
        except (DuplicateComponentError, MetadataError) as exc:  # their message names plugin and component
            self.record_error(plugin_name, str(exc))
        except (TypeError, ValueError) as exc:
            self.record_error(plugin_name, f"plugin '{plugin_name}' registered an invalid "
                                           f"{registry.label}: {exc}")

    def registries(self) -> dict[str, Registry]:
        """All registries, filled from every loaded plugin (kept until the plugins change)."""
        if self._registries is not None:
            return self._registries
        pm = self.plugin_manager()
        regs = {kind: Registry(kind, label, info=CONTRACTS[kind][0], protocol=CONTRACTS[kind][1])
                for kind, (_, label) in hookspecs.KINDS.items()}
        for kind, (hook_name, _) in hookspecs.KINDS.items():
            for impl in _ordered_impls(pm, hook_name):
                plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
                register = partial(self._register_into, regs[kind], plugin_name)
                before = _ctrl_c[0]
                try:
                    with _watching_ctrl_c():
                        impl.function(register=register)
                except (Exception, SystemExit, KeyboardInterrupt) as exc:  # one plugin's failure
                    _reraise_ctrl_c(exc, before)  # must not stop the others
                    self.record_error(plugin_name, f"plugin '{plugin_name}' failed in {hook_name}: "
                                                   f"{one_line(exc)}")
        self._registries = regs
        return regs

    def get_registry(self, kind: str) -> Registry:
        regs = self.registries()
        if kind not in regs:
            raise UnknownComponentError("component kind", kind, sorted(regs))
        return regs[kind]

    # -- landmark schemes ----------------------------------------------------------------
    def _add_scheme(self, name: str, **fields: Any) -> None:
        scheme = LandmarkScheme(name, **fields)
        existing = self._schemes.get(name) or SCHEMES.get(name)
        if existing is not None and existing != scheme:
            raise ValueError(f"landmark scheme '{name}' is already defined differently")
        self._schemes[name] = scheme

    def find_scheme(self, name: str | None) -> LandmarkScheme | None:
        """The landmark scheme ``name`` (built-in or a plugin's), or ``None`` when unknown.

        Plugins' ``register_landmark_schemes`` hooks run on the first name that is not
        known yet (once per set of plugins)."""
        if not name:
            return None
        found = self._schemes.get(name) or SCHEMES.get(name)
        if found is None and self._schemes_generation != self.generation:
            self.plugin_manager()
            self._schemes_generation = self.generation
            self.call_each("register_landmark_schemes", register=self._add_scheme)
            found = self._schemes.get(name) or SCHEMES.get(name)  # also register_scheme at import
        return found

    def scheme(self, name: str) -> LandmarkScheme:
        """The landmark scheme ``name``; an unknown name is one error naming the known ones."""
        found = self.find_scheme(name)
        if found is None:
            raise UnknownComponentError("landmark scheme", name, sorted({*SCHEMES, *self._schemes}))
        return found

    # -- objects built from this context -------------------------------------------------
    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()`` once per set of plugins (e.g. the default pipeline of
        :func:`fertk.analyze`); dropped when the plugins change."""
        hit = self._cache.get(key)
        if hit is None or hit[0] != self.generation:
            hit = self._cache[key] = (self.generation, build())
        return hit[1]


_DEFAULT = Context()


def default_context() -> Context:
    """The context fertk uses when none is passed: the one of the CLI, ``fertk.create`` and
    ``fertk.analyze``."""
    return _DEFAULT


# -- the default context's methods, as functions (the plugin API of earlier releases) ---------
def generation() -> int:
    """A counter that changes whenever plugins are reset, added or removed."""
    return _DEFAULT.generation


def warn(message: str) -> None:
    """Print a one-line plugin warning on stderr, once per message."""
    _DEFAULT.warn(message)


def record_error(plugin: str, message: str) -> None:
    """Record ``message`` against ``plugin`` (``fertk plugins`` status) and warn once."""
    _DEFAULT.record_error(plugin, message)


def calling_plugin() -> str | None:
    """The name of the plugin whose hook :func:`call_each` is running, else ``None``."""
    return _DEFAULT.calling


def get_plugin_manager() -> pluggy.PluginManager:
    """The default context's plugin manager, built on first use."""
    return _DEFAULT.plugin_manager()


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Register an in-process plugin object or module (notebooks, tests, examples)."""
    return _DEFAULT.register_plugin(plugin, name)


def unregister_plugin(name: str) -> None:
    _DEFAULT.unregister_plugin(name)


def reset() -> None:
    """Forget all plugins and registries; the next use loads them again (for tests)."""
    _DEFAULT.reset()


def call_each(hook_name: str, **kwargs: Any) -> None:
    """:meth:`Context.call_each` of the default context."""
    _DEFAULT.call_each(hook_name, **kwargs)


def registries() -> dict[str, Registry]:
    """All registries of the default context, filled from every loaded plugin."""
    return _DEFAULT.registries()


def get_registry(kind: str, context: Context | None = None) -> Registry:
    """The registry of ``kind`` in ``context`` (default: :func:`default_context`)."""
    return (context or _DEFAULT).get_registry(kind)


def plugin_infos(include_builtins: bool = False) -> list[PluginInfo]:
    return _DEFAULT.plugin_infos(include_builtins)


__all__ = ["DEFAULT_PLUGINS", "ENTRY_POINT_GROUP", "Context", "PluginInfo", "call_each",
           "calling_plugin", "default_context", "generation", "get_plugin_manager",
           "get_registry", "plugin_infos", "record_error", "register_plugin", "registries",
           "reset", "unregister_plugin", "warn"]
