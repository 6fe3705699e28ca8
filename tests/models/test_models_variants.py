"""``fertk models`` shows the trained models at their own input size (compact-fer2013 is the
paper's compact at 48x48, 903,559 parameters) and takes the engines ``fertk run`` takes, by
one rule (issue #38 item 1)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from fertk.cli import cli
from fertk.weights import ASSETS_DIR, BUNDLED


def _invoke(*args: str, width: int = 80):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": str(width)})


def test_trained_models_at_their_input_size():
    res = _invoke("models", "compact*", "--json", "--no-timing", "--no-heads")
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["compact"]["params"] == 2_673_031 and rows["compact"]["input_shape"] == [1, 96, 96]
    trained = rows["compact-fer2013"]
    meta = json.loads((ASSETS_DIR / f"{BUNDLED['compact-fer2013'][0]}.json").read_text())
    assert trained["kind"] == "trained" and trained["backbone"] == "compact"
    assert trained["params"] == 903_559 == meta["cost"]["params"]
    assert trained["input_shape"] == [1, 48, 48] and trained["macs"] == meta["cost"]["macs"]
    assert rows["compact_tiny-fer2013"]["params"] == 344_887
    assert "minixception-fer2013" not in rows  # neither its name nor its backbone matches
    table = _invoke("models", "compact*", "--no-timing", "--no-heads")
    lines = table.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= 80, table.stdout
    line = next(ln for ln in lines if " compact-fer2013 " in ln)
    assert "903,559" in line and "1x48x48" in line


def test_models_and_run_take_the_same_engines():
    for engine in ("torch", "int8_dynamic"):
        res = _invoke("models", "compact_tiny-fer2013", "--json", "--no-heads", "--batch", "2",
                      "--engine", engine)
        assert res.exit_code == 0, res.output
        (row,) = json.loads(res.stdout)
        assert row["engine"] == engine and row["latency_ms"] > 0 and "error" not in row, row
        run = cli.get_command(None, "run")
        ctx = run.make_context("fertk run", ["photo.jpg", "--engine", engine])
        assert ctx.params["engine"] == engine
    for command in (["models", "--no-timing"], ["run", "photo.jpg"]):
        res = _invoke(*command, "--engine", "int8_dynamc")
        assert res.exit_code == 2
        text = " ".join(res.output.split())
        assert "Unknown engine 'int8_dynamc'. Did you mean 'int8_dynamic'" in text
        assert "Traceback" not in res.output
