"""One set of CLI options (issue #15 item 6): each concept has the same spelling, short name,
kind of value and default in every command that has it, component options are checked
against the registries, and old spellings still work without being shown."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from fertk.cli import cli
from fertk.clitools import DEFAULT_WORKERS, ComponentType

#: concept → its one visible spelling (long and short names).
CANONICAL = {
    "--detector": {"-d", "--detector"},
    "--crop": {"-c", "--crop"},
    "--detector-option": {"-D", "--detector-option"},
    "--crop-option": {"-C", "--crop-option"},
    "--option": {"-o", "--option"},
    "--recursive": {"-r", "--recursive"},
    "--stride": {"--stride"},
    "--workers": {"--workers"},
    "--json": {"--json"},
}
#: where each concept must exist (the commands it applies to).
REQUIRED = {
    "--detector": {"run", "detect", "prepare", "eval"},
    "--crop": {"run", "detect", "prepare", "eval"},
    "--detector-option": {"run", "detect", "prepare"},
    "--crop-option": {"run", "detect", "prepare", "eval"},
    "--option": {"prepare", "splits", "eval"},
    "--recursive": {"run", "detect"},
    "--stride": {"run", "detect"},
    "--workers": {"run", "prepare", "eval"},
}


def _commands(group: click.Group, prefix: str = ""):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def _visible(opt: click.Option) -> set[str]:
    hidden = set(getattr(opt, "hidden_aliases", ()))
    return {o for o in opt.opts + opt.secondary_opts if o not in hidden}


COMMANDS = dict(_commands(cli))


def test_each_concept_has_one_spelling_everywhere():
    seen: dict[str, set[str]] = {c: set() for c in CANONICAL}
    for name, cmd in COMMANDS.items():
        for p in cmd.params:
            if not isinstance(p, click.Option):
                continue
            for concept, spelling in CANONICAL.items():
                if concept in p.opts:
                    seen[concept].add(name)
                    assert _visible(p) == spelling, (name, concept, p.opts)
            assert "--every" not in _visible(p), (name, "--every is the hidden alias of --stride")
    for concept, where in REQUIRED.items():
        assert where <= seen[concept], (concept, where - seen[concept])


def test_help_texts_show_no_hidden_alias():
    """Examples and help texts use the canonical spellings (``detect --stride 5``)."""
    for name, cmd in COMMANDS.items():
        text = " ".join([cmd.help or "", cmd.epilog or ""]
                        + [getattr(p, "help", None) or "" for p in cmd.params])
        for p in cmd.params:
            for alias in getattr(p, "hidden_aliases", ()):
                assert not re.search(rf"{re.escape(alias)}\b(?!-)", text), (name, alias)


def test_values_and_defaults_agree():
    for name, cmd in COMMANDS.items():
        for p in cmd.params:
            if not isinstance(p, click.Option):
                continue
            if "--workers" in p.opts:
                assert p.default == DEFAULT_WORKERS, name
            if "--json" in p.opts:  # a bare --json prints JSON on stdout everywhere
                assert p.is_flag or p.flag_value == "-", name
            if {"--detector", "--crop", "--backbone", "--temporal"} & set(p.opts):
                assert isinstance(p.type, ComponentType), (name, p.opts)  # checked names
            if "--stride" in p.opts:
                assert p.default == 1, name


@pytest.mark.parametrize("args", [
    ["eval", "ckpt", "ckplus", "--root", ".", "--detector", "dlbi"],
    ["run", "x.jpg", "--crop", "lanmark"],
    ["prepare", "ckplus", "--root", ".", "-d", "nope"],
])
def test_component_names_are_checked_before_any_work(args):
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2 and "Invalid value" in res.output, res.output


def test_old_spellings_still_parse(tmp_path):
    """detect --every (now --stride) keeps working for existing scripts."""
    ctx = COMMANDS["detect"].make_context("detect", ["x.jpg", "--every", "5", "--json"])
    assert ctx.params["every"] == 5 and ctx.params["json_path"] == "-"
    ctx = COMMANDS["run"].make_context("run", ["x.jpg", "--every", "3", "-D", "upsample=0",
                                               "-C", "alpha=1.2", "-r"])
    assert ctx.params["stride"] == 3 and ctx.params["detector_opts"] == ("upsample=0",)
    assert ctx.params["crop_opts"] == ("alpha=1.2",) and ctx.params["recursive"]
    ctx = COMMANDS["detect"].make_context("detect", ["x.jpg", "--annotate", "--json", "f.json"])
    assert ctx.params["annotate_dir"] == "fertk-detect" and ctx.params["json_path"] == "f.json"


def test_readme_option_table_lists_each_concept_once():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = text[text.index("## Common options"):]
    table = table[:table.index("\n## ", 5)]
    import re

    first = [ln.split("|")[1] for ln in table.splitlines() if ln.startswith("|")]
    for concept in [*CANONICAL, "--annotate", "--out", "--device", "--max-frames"]:
        pattern = re.compile(r"[`/]" + re.escape(concept) + r"[ `\\]")
        assert len([c for c in first if pattern.search(c)]) == 1, concept


@pytest.mark.parametrize("argv", [
    ["run", "x.jpg", "-D", "model_dir=/tmp/models"],  # insightface: "point -D model_dir=DIR"
    ["detect", "x.jpg", "-D", "model_dir=/tmp/models"],
    ["run", "x.jpg", "--crop", "box", "--detector", "opencv"],  # "use --crop box"
    ["eval", "ckpt", "fer2013", "--root", ".", "--rows", "all"],  # "pass --rows all"
])
def test_suggestions_in_error_messages_parse(argv):
    ctx = COMMANDS[argv[0]].make_context(argv[0], argv[1:])
    assert ctx.params


def test_the_insightface_hint_names_an_option_run_has():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "plugins" / "fertk-insightface" /
            "fertk_insightface" / "scrfd.py").read_text(encoding="utf-8")
    assert "-D model_dir=DIR" in text
    assert {"-D"} <= {o for p in COMMANDS["run"].params for o in getattr(p, "opts", [])}
