"""Plugin loading: built-ins, entry points of fake distributions, selection, broken plugins."""

from __future__ import annotations

import pytest

from fertk import hookimpl

GOOD = """
from fertk import hookimpl

@hookimpl
def register_backbones(register):
    register("goodnet", lambda **kw: "goodnet", description="a good backbone")

@hookimpl
def register_temporal_heads(register):
    register("goodhead", lambda **kw: "goodhead")
"""

OTHER = """
from fertk import hookimpl

@hookimpl
def register_detectors(register):
    register("otherdet", lambda **kw: "otherdet")
"""

IMPORT_BROKEN = """
import this_module_does_not_exist_fertk
"""

HOOK_BROKEN = """
from fertk import hookimpl

@hookimpl
def register_backbones(register):
    register("half", lambda **kw: "half")
    raise RuntimeError("boom in hook")
"""

DUPLICATE = """
from fertk import hookimpl

@hookimpl
def register_backbones(register):
    register("goodnet", lambda **kw: "impostor")
    register("dupnet_unique", lambda **kw: "unique")
"""


def test_builtins_registered_through_hooks(fresh_plugins):
    infos = {i.name: i for i in fresh_plugins.plugin_infos(include_builtins=True)}
    for module in fresh_plugins.DEFAULT_PLUGINS:
        assert module in infos, module
        assert infos[module].builtin
        assert not infos[module].errors, infos[module].errors
    assert "register_commands" in infos["fertk.commands.core"].hooks


def test_entry_point_plugins_loaded(fresh_plugins, make_distribution):
    make_distribution("fertk-good", "good", GOOD)
    make_distribution("fertk-other", "other", OTHER, version="2.5")
    regs = fresh_plugins.registries()
    assert regs["backbones"].get("goodnet").resolve()() == "goodnet"
    assert regs["backbones"].get("goodnet").plugin == "good"
    assert regs["detectors"].get("otherdet").resolve()() == "otherdet"
    infos = {i.name: i for i in fresh_plugins.plugin_infos()}
    assert infos["other"].version == "2.5"
    assert infos["other"].distribution == "fertk-other"
    assert infos["good"].hooks == ["register_backbones", "register_temporal_heads"]


def test_load_plugins_env_selects(fresh_plugins, make_distribution, monkeypatch):
    make_distribution("fertk-good", "good", GOOD)
    make_distribution("fertk-other", "other", OTHER)
    monkeypatch.setenv("FERTK_LOAD_PLUGINS", "other")
    fresh_plugins.reset()
    regs = fresh_plugins.registries()
    assert "otherdet" in regs["detectors"]
    assert "goodnet" not in regs["backbones"]


def test_load_plugins_empty_loads_none(fresh_plugins, make_distribution, monkeypatch):
    make_distribution("fertk-good", "good", GOOD)
    monkeypatch.setenv("FERTK_LOAD_PLUGINS", "")
    fresh_plugins.reset()
    assert "goodnet" not in fresh_plugins.registries()["backbones"]
    assert fresh_plugins.plugin_infos() == []
    # built-ins are still there
    assert fresh_plugins.plugin_infos(include_builtins=True)


def test_load_plugins_unknown_name_warns(fresh_plugins, monkeypatch, capsys):
    monkeypatch.setenv("FERTK_LOAD_PLUGINS", "nosuchplugin")
    fresh_plugins.reset()
    fresh_plugins.registries()
    err = capsys.readouterr().err
    assert "FERTK_LOAD_PLUGINS names 'nosuchplugin'" in err


def test_import_error_is_one_warning_and_others_work(fresh_plugins, make_distribution, capsys):
    make_distribution("fertk-good", "good", GOOD)
    make_distribution("fertk-broken", "broken", IMPORT_BROKEN)
    regs = fresh_plugins.registries()
    assert "goodnet" in regs["backbones"]
    err = capsys.readouterr().err.strip().splitlines()
    broken = [line for line in err if "'broken'" in line]
    assert len(broken) == 1
    assert "failed to load" in broken[0] and "ModuleNotFoundError" in broken[0]
    infos = {i.name: i for i in fresh_plugins.plugin_infos()}
    assert infos["broken"].errors


def test_exception_in_hook_is_reported(fresh_plugins, make_distribution, capsys):
    make_distribution("fertk-good", "good", GOOD)
    make_distribution("fertk-hookbroken", "hookbroken", HOOK_BROKEN)
    regs = fresh_plugins.registries()
    assert "goodnet" in regs["backbones"]
    assert "half" in regs["backbones"]  # registered before the exception
    err = capsys.readouterr().err
    assert "plugin 'hookbroken' failed in register_backbones: RuntimeError: boom in hook" in err


def test_duplicate_from_plugin_names_both(fresh_plugins, make_distribution, capsys):
    make_distribution("fertk-good", "good", GOOD)
    make_distribution("fertk-dup", "zdup", DUPLICATE)
    regs = fresh_plugins.registries()
    assert regs["backbones"].get("goodnet").resolve()() == "goodnet"  # first owner kept
    assert "dupnet_unique" in regs["backbones"]  # the rest of the plugin still registers
    err = capsys.readouterr().err
    assert "'goodnet' is registered twice: by plugin 'good' and by plugin 'zdup'" in err


def test_entry_point_cannot_shadow_builtin(fresh_plugins, make_distribution, capsys):
    make_distribution("fertk-shadow", "fertk.backbones", GOOD)
    fresh_plugins.registries()
    err = capsys.readouterr().err
    assert "plugin 'fertk.backbones' from distribution 'fertk-shadow' not loaded" in err


def test_in_process_plugin(fresh_plugins):
    class Inline:
        @hookimpl
        def register_augmentations(self, register):
            register("inline_aug", lambda **kw: (lambda img: img))

    fresh_plugins.register_plugin(Inline(), name="inline")
    aug = fresh_plugins.registries()["augmentations"].create("inline_aug")
    assert aug(5) == 5
    with pytest.raises(Exception, match="already registered"):
        fresh_plugins.register_plugin(Inline(), name="inline")


# -- issue #14: plugin isolation ----------------------------------------------------------
TAKEOVER = """
from fertk import hookimpl

@hookimpl
def register_backbones(register):
    register("compact", lambda **kw: "impostor backbone")

@hookimpl(tryfirst=True)
def register_detectors(register):
    register("dlib", lambda **kw: "impostor detector")
"""

EXITS_AT_IMPORT = """
import sys
sys.exit(3)
"""

EXITS_IN_HOOK = """
import sys
from fertk import hookimpl

@hookimpl
def register_backbones(register):
    sys.exit(4)
"""

MISSPELLED = """
from fertk import hookimpl

@hookimpl
def register_backbone(register):
    register("never_registered", lambda **kw: None)
"""


def _owners(kind):
    import json

    from click.testing import CliRunner

    from fertk.cli import cli

    result = CliRunner().invoke(cli, ["list", kind, "--json"])
    assert result.exit_code == 0, result.output
    return {d["name"]: d["plugin"] for d in json.loads(result.stdout)}


def test_entry_point_cannot_take_builtin_names(fresh_plugins, make_distribution, capsys):
    make_distribution("fertk-takeover", "takeover", TAKEOVER)
    det = fresh_plugins.get_registry("detectors").create("dlib")
    assert type(det).__name__ == "DlibDetector"  # the built-in, not "impostor detector"
    err = capsys.readouterr().err
    assert _owners("backbones")["compact"] == "fertk.backbones"
    assert _owners("detectors")["dlib"] == "fertk.detectors"
    assert ("backbone 'compact' is registered twice: by plugin 'fertk.backbones' and by plugin "
            "'takeover'") in err
    assert "detector 'dlib' is registered twice: by plugin 'fertk.detectors' and by plugin 'takeover'" in err
    infos = {i.name: i for i in fresh_plugins.plugin_infos()}
    assert len(infos["takeover"].errors) == 2


def test_in_process_plugin_cannot_take_builtin_names(fresh_plugins, capsys):
    class Takeover:
        @hookimpl
        def register_backbones(self, register):
            register("compact", lambda **kw: "impostor")

    fresh_plugins.register_plugin(Takeover(), name="takeover")
    assert fresh_plugins.get_registry("backbones").get("compact").plugin == "fertk.backbones"
    assert "by plugin 'fertk.backbones' and by plugin 'takeover'" in capsys.readouterr().err


def test_plugin_cannot_take_builtin_command(fresh_plugins, capsys):
    import click

    from fertk.cli import main

    class Takeover:
        @hookimpl
        def register_commands(self, cli):
            @cli.command("list")
            def impostor():
                click.echo("impostor list")

    fresh_plugins.register_plugin(Takeover(), name="takeover")
    assert main(["list", "backbones", "--json"]) == 0
    captured = capsys.readouterr()
    assert "impostor" not in captured.out and '"compact"' in captured.out
    assert ("command 'list' is registered twice: by plugin 'fertk.commands.core' and by plugin "
            "'takeover'") in captured.err


def test_sys_exit_at_import_is_one_warning(fresh_plugins, make_distribution, capsys):
    from fertk.cli import main

    make_distribution("fertk-good", "good", GOOD)
    make_distribution("fertk-exits", "exits", EXITS_AT_IMPORT)
    assert main(["list", "backbones", "--json"]) == 0
    captured = capsys.readouterr()
    assert '"goodnet"' in captured.out
    lines = [line for line in captured.err.splitlines() if "'exits'" in line]
    assert lines == ["fertk: warning: plugin 'exits' failed to load: SystemExit: 3"]


def test_sys_exit_in_hook_is_one_warning(fresh_plugins, make_distribution, capsys):
    make_distribution("fertk-good", "good", GOOD)
    make_distribution("fertk-exitshook", "exitshook", EXITS_IN_HOOK)
    assert "goodnet" in fresh_plugins.registries()["backbones"]
    err = capsys.readouterr().err
    assert "plugin 'exitshook' failed in register_backbones: SystemExit: 4" in err


def test_misspelled_hook_is_reported(fresh_plugins, make_distribution):
    import json

    from click.testing import CliRunner

    from fertk.cli import cli

    make_distribution("fertk-typo", "typo", MISSPELLED)
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    assert "did you mean 'register_backbones'" in result.stderr  # the one warning line
    typo = next(d for d in json.loads(result.stdout) if d["name"] == "typo")
    assert typo["errors"] == ["plugin 'typo' implements unknown hook 'register_backbone' (did you "
                              "mean 'register_backbones'?); it is never called"]
    table = CliRunner().invoke(cli, ["plugins"])
    assert "unknown hook" in table.stdout


def test_misspelled_hook_in_process_plugin_is_reported(fresh_plugins, capsys):
    class Typo:
        @hookimpl
        def register_detector(self, register):
            register("x", lambda **kw: None)

    fresh_plugins.register_plugin(Typo(), name="typo")
    infos = {i.name: i for i in fresh_plugins.plugin_infos()}
    assert infos["typo"].errors and "unknown hook 'register_detector'" in infos["typo"].errors[0]


def test_invalid_metadata_of_a_plugin_is_reported_in_one_line(fresh_plugins):
    """A plugin registering a typed field with the wrong type loses that component only; the
    warning names the plugin, the component and the field (fertk plugins shows it)."""
    class Typo:
        @hookimpl
        def register_temporal_heads(self, register):
            register("badhead", lambda **kw: None, trainable="yes")
            register("goodhead2", lambda **kw: None, trainable=False, note="kept")

    fresh_plugins.register_plugin(Typo(), name="typo")
    reg = fresh_plugins.get_registry("temporal")
    assert "badhead" not in reg and reg.get("goodhead2").metadata["note"] == "kept"
    infos = {i.name: i for i in fresh_plugins.plugin_infos()}
    assert infos["typo"].errors == ["plugin 'typo', temporal head 'badhead': metadata field 'trainable' "
                                    "must be true or false, got 'yes' (str)"]
