"""The CLI skeleton through click's CliRunner and through main() for the one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from fertk import __version__, hookimpl
from fertk.cli import cli, main


class _Demo:
    @hookimpl
    def register_backbones(self, register):
        register("demo_net", lambda **kw: None, description="demo backbone")

    @hookimpl
    def register_commands(self, cli):
        import click

        from fertk.clitools import component_option

        @cli.command("demo-pick")
        @component_option("--backbone", kind="backbones", default="demo_net")
        def pick(backbone):
            click.echo(f"picked {backbone}")


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_list_json_and_table(fresh_plugins):
    fresh_plugins.register_plugin(_Demo(), name="demo")
    result = CliRunner().invoke(cli, ["list", "backbones", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    entry = next(d for d in data if d["name"] == "demo_net")
    assert entry == {"name": "demo_net", "plugin": "demo", "description": "demo backbone"}
    table = CliRunner().invoke(cli, ["list", "backbone"])  # singular accepted
    assert table.exit_code == 0 and "demo_net" in table.output


def test_list_pattern(fresh_plugins):
    fresh_plugins.register_plugin(_Demo(), name="demo")
    result = CliRunner().invoke(cli, ["list", "backbones", "demo*", "--json"])
    assert [d["name"] for d in json.loads(result.output)] == ["demo_net"]


def test_unknown_kind_one_line(capsys):
    code = main(["list", "nosuchkind"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1
    assert err[0].startswith("Error: Unknown component kind 'nosuchkind'.")
    assert "backbones" in err[0]


def test_component_option_validated_at_parse(fresh_plugins, capsys):
    fresh_plugins.register_plugin(_Demo(), name="demo")
    assert main(["demo-pick", "--backbone", "demo_net"]) == 0
    assert "picked demo_net" in capsys.readouterr().out
    code = main(["demo-pick", "--backbone", "demo_nte"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "Unknown backbone 'demo_nte'. Did you mean 'demo_net'?" in err[0]
    assert "--backbone" in err[0]


def test_component_option_completion(fresh_plugins):
    fresh_plugins.register_plugin(_Demo(), name="demo")
    from fertk.clitools import ComponentType

    items = ComponentType("backbones").shell_complete(None, None, "demo")
    assert [i.value for i in items] == ["demo_net"]


def test_plugins_json(fresh_plugins):
    fresh_plugins.register_plugin(_Demo(), name="demo")
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0
    data = {d["name"]: d for d in json.loads(result.output)}
    assert "demo" in data and not any(d["builtin"] for d in data.values())
    assert data["demo"]["hooks"] == ["register_backbones", "register_commands"]
    everything = json.loads(CliRunner().invoke(cli, ["plugins", "--all", "--json"]).output)
    assert any(d["builtin"] and d["name"] == "fertk.commands.core" for d in everything)


def test_unknown_command_one_line(capsys):
    assert main(["nosuchcommand"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nosuchcommand" in err[0]


def test_console_script_help_is_fast_and_light():
    code = (
        "import sys, time; t=time.perf_counter(); from fertk.cli import main; "
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help']); main(['list', 'backbones', '--json'])\n"
        "bad = [m for m in ('torch', 'dlib', 'timm', 'cv2', 'onnxruntime') if m in sys.modules]\n"
        "print(bad)"
    )
    out = subprocess.check_output([sys.executable, "-c", code], text=True)
    assert out.strip() == "[]", f"heavy modules imported by the CLI: {out}"
