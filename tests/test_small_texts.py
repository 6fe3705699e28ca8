"""The small texts of issue #38 item 7: usage lines name what the arguments are, options say
what they do, ``synth --sequence-length`` is not mistaken for ``run --max-frames`` (the old
spelling still works, unshown), and examples/README.md lists every recipe."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
from click.testing import CliRunner

from fertk.cli import cli

REPO = Path(__file__).resolve().parent.parent


def _help(*command: str) -> str:
    res = CliRunner().invoke(cli, [*command, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    return res.output


def test_usage_lines_name_the_data_set():
    assert re.search(r"Usage: \S+ eval \[OPTIONS\] CHECKPOINT DATASET\n", _help("eval"))
    assert re.search(r"Usage: \S+ splits \[OPTIONS\] DATASET\n", _help("splits"))
    assert re.search(r"Usage: \S+ prepare \[OPTIONS\] DATASET\n", _help("prepare"))


def test_eval_out_default_is_the_folder_it_makes(tmp_path, monkeypatch):
    from fertk.training.evaluate import default_out_dir

    text = re.sub(r"-\s+", "-", " ".join(_help("eval").split()))  # click wraps after hyphens
    assert "eval-DATASET-FOLD-STAGE for a training run's checkpoint" in text
    assert "eval-DATASET-NAME for registered weights" in text
    monkeypatch.chdir(tmp_path)
    assert str(default_out_dir("runs/ck/folds/fold01/sequence", "ckplus")) == "eval-ckplus-fold01-sequence"
    assert str(default_out_dir("compact-fer2013", "fer2013")) == "eval-fer2013-compact-fer2013"
    (tmp_path / "eval-fer2013-compact-fer2013").mkdir()
    assert str(default_out_dir("compact-fer2013", "fer2013")) == "eval-fer2013-compact-fer2013-2"


def test_every_run_option_says_what_it_does():
    run = cli.get_command(click.Context(cli), "run")
    quiet = [p.opts[0] for p in run.params if isinstance(p, click.Option) and not p.help]
    assert quiet == [], quiet
    text = " ".join(_help("run").split())
    for option, words in (("--batch-size", "Face crops classified together"),
                          ("--csv / --no-csv", "one row per frame and face"),
                          ("--jsonl / --no-jsonl", "one JSON object per frame")):
        assert re.search(re.escape(option) + r" [^-]*" + re.escape(words), text), option


def test_synth_sequence_length_and_its_old_spelling(tmp_path):
    text = _help("synth")
    assert "--sequence-length N" in text and "--max-frames" not in text
    lengths = []
    for flag in ("--sequence-length", "--max-frames"):
        out = tmp_path / flag.strip("-")
        res = CliRunner().invoke(cli, ["synth", str(out), "--identities", "2", "--frames", "2",
                                       flag, "4", "--size", "128", "--layout", "folder",
                                       "--unlabelled", "0"])
        assert res.exit_code == 0, res.output
        seqs = json.loads((out / "synth.json").read_text())["sequences"]
        lengths.append([s["frames"] for s in seqs])
    assert lengths[0] == lengths[1] and all(2 <= n <= 4 for n in lengths[0])
    assert max(lengths[0]) > 2  # the lengths were drawn up to N


def test_examples_readme_lists_the_fer2013_and_fine_tune_recipes():
    table = (REPO / "examples" / "README.md").read_text()
    listed = " ".join(re.findall(r"^\| (.*?) \|", table, flags=re.M))
    recipes = [p.name for p in sorted((REPO / "examples" / "configs").glob("*.yaml"))
               if p.name.startswith("fer2013_") or "finetune" in p.name]
    assert len(recipes) >= 8
    for name in recipes:
        assert f"`{name}`" in listed, name
