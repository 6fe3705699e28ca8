"""Every hook spec works through a plugin, has a test, and is documented in the plugin guide."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from fertk import hookimpl, hookspecs

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"

# hook name -> registry kind; each hook is exercised through a real in-process plugin below.
COMPONENT_HOOKS = {
    "register_detectors": "detectors",
    "register_crops": "crops",
    "register_backbones": "backbones",
    "register_temporal_heads": "temporal",
    "register_datasets": "datasets",
    "register_augmentations": "augmentations",
    "register_weights": "weights",
    "register_engines": "engines",
}


def _spec_names() -> list[str]:
    return sorted(
        name
        for name, obj in vars(hookspecs).items()
        if inspect.isfunction(obj) and hasattr(obj, "fertk_spec")
    )


def test_kinds_table_matches_specs():
    assert set(COMPONENT_HOOKS) | {"register_commands", "register_landmark_schemes"} == set(_spec_names())
    assert {hook: kind for kind, (hook, _) in hookspecs.KINDS.items()} == COMPONENT_HOOKS


class _Probe:
    """What a probe factory builds: records its options; has every member of every kind's
    Protocol (fertk.types), so Registry.create's contract check passes for each kind."""

    input_size, in_chans, num_classes, feature_dim = (96, 96), 1, 7, 8
    input_kind, classes, name, precision = "probs", ["a"], "probe", "fp32"

    def __init__(self, kind, kw):
        self.kind, self.kw = kind, kw

    def __eq__(self, other):
        return other == ("probe", self.kind, self.kw)

    __hash__ = None

    def __call__(self, x):
        return x

    def detect(self, image):
        return []

    def crop(self, image, face):
        return None

    def samples(self):
        return []

    def forward_features(self, x):
        return x

    def forward_head(self, features):
        return features


@pytest.mark.parametrize("hook,kind", sorted(COMPONENT_HOOKS.items()))
def test_component_hook_registers(fresh_plugins, hook, kind):
    def impl(register):
        register(f"probe_{kind}", lambda **kw: _Probe(kind, kw), description=f"probe {kind}")

    impl.__name__ = hook
    plugin = type("Probe", (), {hook: staticmethod(hookimpl(impl))})
    fresh_plugins.register_plugin(plugin, name=f"probe-{kind}")
    registry = fresh_plugins.get_registry(kind)
    spec = registry.get(f"probe_{kind}")
    assert spec.plugin == f"probe-{kind}"
    assert registry.create(f"probe_{kind}", x=1) == ("probe", kind, {"x": 1})


def test_register_landmark_schemes_hook(fresh_plugins):
    """A plugin's landmark layout becomes known to get_scheme (loaded on the first miss), in
    the plugin context only: another context, or this one reset, does not know it."""
    from fertk.plugins import Context
    from fertk.registry import UnknownComponentError
    from fertk.types import SCHEMES, find_scheme, get_scheme

    class Schemes:
        @hookimpl
        def register_landmark_schemes(self, register):
            register("probe3", num_points=3, nose=2, left_eye=(0,), right_eye=(1,))

    fresh_plugins.register_plugin(Schemes(), name="schemes")
    scheme = get_scheme("probe3")
    assert (scheme.num_points, scheme.nose, scheme.left_eye) == (3, 2, (0,))
    assert get_scheme("dlib68").num_points == 68
    assert "probe3" not in SCHEMES and find_scheme("probe3", Context()) is None
    fresh_plugins.reset()
    with pytest.raises(UnknownComponentError, match="probe3"):
        get_scheme("probe3")


def test_builtin_engines_registered_through_the_hook(fresh_plugins):
    """The engines registry holds exactly the engines of fertk.engines (the built-in table),
    with their precision, and builds them (checked against fertk.types.InferenceEngine)."""
    import torch

    from fertk.engines import ENGINES, INT8_ENGINES
    from fertk.inference import BUILTIN_ENGINES, build_variant

    registry = fresh_plugins.get_registry("engines")
    assert registry.names() == sorted(ENGINES) == sorted(BUILTIN_ENGINES)
    assert {n for n in registry.names() if registry.get(n).metadata.precision == "int8"} == set(INT8_ENGINES)
    model = torch.nn.Linear(3, 2)
    x = torch.randn(2, 3)
    engine = build_variant(model, "eager", x)
    assert (engine.name, engine.precision) == ("eager", "fp32")
    assert torch.allclose(engine(x), model(x))


def test_plugin_engine_works_wherever_a_builtin_does(fresh_plugins):
    """build_variant (of a module) and engine_names (--engine of fertk run) look names up in
    the engines registry, so a plugin's engine is accepted like a built-in one."""
    import torch

    from fertk.inference import build_engine, build_variant, engine_names

    class Halved:
        name, precision = "halved", "fp32"

        def __init__(self, model):
            self.model = model

        def __call__(self, x):
            with torch.inference_mode():
                return self.model(x) / 2

    class Plugin:
        @hookimpl
        def register_engines(self, register):
            register("halved", lambda model, example, **_: Halved(model), precision="fp32")

    fresh_plugins.register_plugin(Plugin(), name="halved-engine")
    model = torch.nn.Linear(3, 2)
    x = torch.randn(2, 3)
    assert torch.allclose(build_variant(model, "halved", x)(x), model(x) / 2)
    assert "halved" in engine_names() and engine_names()[:2] == ["torch", "onnxruntime"]
    assert engine_names()[-1] == "halved"  # variants after the built-ins
    with pytest.deprecated_call():  # the old name of both builders, kept for one release
        assert torch.allclose(build_engine(model, "halved", x)(x), model(x) / 2)


def test_register_commands_hook(fresh_plugins):
    import click

    class Cmds:
        @hookimpl
        def register_commands(self, cli):
            @cli.command("probe-cmd")
            def probe():
                click.echo("probe ran")

    fresh_plugins.register_plugin(Cmds(), name="cmds")
    from fertk.cli import FertkGroup, cli

    # a fresh group instance so the hook runs after the plugin was registered
    group = FertkGroup(name="fertk", commands=dict(cli.commands))
    result = CliRunner().invoke(group, ["probe-cmd"])
    assert result.exit_code == 0 and "probe ran" in result.output


def test_failing_register_commands_hook_leaves_the_others(fresh_plugins):
    """A plugin whose register_commands raises is reported (one line, in its status); the
    built-in commands and the other plugins' commands still work."""
    import click

    class Broken:
        @hookimpl
        def register_commands(self, cli):
            raise RuntimeError("boom")

    class Good:
        @hookimpl
        def register_commands(self, cli):
            @cli.command("probe-ok")
            def probe():
                click.echo("probe ok")

    fresh_plugins.register_plugin(Broken(), name="broken")
    fresh_plugins.register_plugin(Good(), name="good")
    from fertk.cli import FertkGroup, cli

    group = FertkGroup(name="fertk", commands=dict(cli.commands))
    result = CliRunner().invoke(group, ["probe-ok"])
    assert result.exit_code == 0 and "probe ok" in result.output
    assert CliRunner().invoke(group, ["run", "--help"]).exit_code == 0
    infos = {i.name: i for i in fresh_plugins.plugin_infos()}
    assert infos["broken"].errors == ["plugin 'broken' failed in register_commands: RuntimeError: boom"]
    assert infos["good"].errors == []


def test_every_hook_has_a_test():
    """Each hook is implemented by a test plugin (``def register_x(`` in a test file) or is a
    parameter of ``test_component_hook_registers``, which calls it through a plugin."""
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    implemented = set(re.findall(r"def (register_\w+)\(", sources))
    marks = [m for m in test_component_hook_registers.pytestmark if m.name == "parametrize"]
    parametrized = {hook for m in marks for hook, _ in m.args[1]}
    for name in _spec_names():
        assert name in implemented | parametrized, f"hook {name} has no test"


def test_every_hook_is_documented():
    guide = GUIDE.read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `?(register_\w+)", guide, flags=re.M))
    missing = set(_spec_names()) - documented
    assert not missing, f"hooks missing from docs/plugins.md: {sorted(missing)}"
