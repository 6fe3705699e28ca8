"""Choosing a model from the command line (issue #38 item 1): ``fertk weights list`` marks the
default and shows, per model, accuracy on each data set found in the metadata, the temporal
head's accuracy, parameters, CPU ms per face and end-to-end fps, at 80 columns without a
broken word; ``fertk weights info`` is a short summary (everything behind ``--full`` /
``--json``); ``tools/weights_table.py`` makes the "which model for what" table."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fertk.cli import cli
from fertk.weights import ASSETS_DIR, BUNDLED, DEFAULT_WEIGHTS

REPO = Path(__file__).resolve().parents[2]
NAMES = list(BUNDLED)


def _cli(*args: str, width: int = 80) -> str:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.output


def _meta(name: str) -> dict:
    return json.loads((ASSETS_DIR / f"{BUNDLED[name][0]}.json").read_text())


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]


def _table_rows(out: str, key: str = "ms/face") -> list[list[str]]:
    """The cells of each row of the first table, a row's wrapped lines joined (a row starts
    where column ``key``, which every row fills, has a value)."""
    header = " ".join(out.split("┡")[0].split())
    rows: list[list[str]] = []
    body, k = False, None
    for line in out.splitlines():
        if line.startswith("┡"):
            body = True
            continue
        if line.startswith("└"):
            break
        if not body and line.startswith("┃") and k is None and key.split()[0] in line:
            k = next(i for i, c in enumerate(_cells(line)) if c and key.startswith(c.split()[0]))
        if body and line.startswith("│"):
            cells = _cells(line)
            if not cells[k] and rows:  # a wrapped line of the previous row
                rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
            else:
                rows.append(cells)
    assert key in header.replace("/ ", "/"), header
    return rows


def test_list_marks_the_default_and_shows_cost_and_head_at_80_columns(fresh_plugins, cache_dir):
    out = _cli("weights", "list")
    assert max(len(ln) for ln in out.splitlines()) <= 80, out
    rows = {r[0].split()[0]: r for r in _table_rows(out)}
    assert set(rows) == set(NAMES), out  # every name whole, in one cell
    assert rows[DEFAULT_WEIGHTS][0] == f"{DEFAULT_WEIGHTS} (default)"
    assert [r[0] for r in rows.values()].count(f"{DEFAULT_WEIGHTS} (default)") == 1
    header = " ".join(out.split("┡")[0].split())
    for col in ("FER2013", "GRU", "params", "ms/face"):
        assert col in header, out
    for name in NAMES:
        meta, line = _meta(name), " ".join(rows[name])
        assert f"{100 * meta['metrics']['PrivateTest']['accuracy']:.1f}" in line
        assert f"{meta['cost']['params']:,}" in line and f"{meta['cost']['cpu_ms_batch1_2cores']:.2f}" in line
        gru = ((meta.get("train") or {}).get("sequence_run") or {}).get("test", {}).get("gru")
        if gru:
            assert f"{100 * gru['accuracy']:.1f}" in line
    assert f"default: {DEFAULT_WEIGHTS}" in out
    data = {d["name"]: d for d in json.loads(_cli("weights", "list", "--json"))}
    assert [n for n, d in data.items() if d["default"]] == [DEFAULT_WEIGHTS]
    card = data[DEFAULT_WEIGHTS]["card"]
    assert card["params"] == _meta(DEFAULT_WEIGHTS)["cost"]["params"] and card["input"] == [48, 48]


@pytest.fixture
def with_ferplus(fresh_plugins, cache_dir, tmp_path, monkeypatch):
    """The bundled weights plus a FER+ model (``compact-ferplus``: its own metrics on FER+,
    cross metrics on FER2013, an end-to-end fps), and FER+ cross metrics for compact-fer2013:
    the metadata bench_ferplus.py and bundle_weights.py write."""
    import fertk.weights as weights

    assets = tmp_path / "assets"
    shutil.copytree(ASSETS_DIR, assets)
    base = _meta(DEFAULT_WEIGHTS)
    base["cross_metrics"] = {"ferplus": {"PublicTest": {"accuracy": 0.70},
                                         "PrivateTest": {"accuracy": 0.7123, "n": 3137,
                                                         "shared": {"accuracy": 0.7201}}}}
    (assets / f"{BUNDLED[DEFAULT_WEIGHTS][0]}.json").write_text(json.dumps(base))
    plus = json.loads(json.dumps(base))
    plus["classes"] = [*base["classes"], "contempt"]
    plus["train"]["dataset"] = "ferplus"
    plus["train"]["sequence_run"]["test"]["gru"]["accuracy"] = 0.8012
    plus["metrics"] = {"PublicTest": {"accuracy": 0.8311}, "PrivateTest": {"accuracy": 0.8456,
                                                                           "uar": 0.61, "n": 3137}}
    plus["cross_metrics"] = {"fer2013": {"PrivateTest": {"accuracy": 0.6012, "n": 3589}}}
    plus["cost"] = {**base["cost"], "end_to_end": {"fps": 31.7, "detector": "dlib"}}
    (assets / "compact_ferplus.json").write_text(json.dumps(plus))
    (assets / "compact_ferplus.safetensors").write_bytes(b"")
    monkeypatch.setattr(weights, "ASSETS_DIR", assets)
    monkeypatch.setitem(weights.BUNDLED, "compact-ferplus", ("compact_ferplus", "0" * 64))
    return plus


def test_new_data_sets_get_their_own_column(with_ferplus):
    wide = _cli("weights", "list", width=160)
    header = " ".join(wide.split("┡")[0].split())
    assert "FER2013 %" in header and "FER+ %" in header and "fps (detector)" in header, wide
    rows = {r[0].split()[0]: r for r in _table_rows(wide)}
    cols = _cells(next(ln for ln in wide.splitlines() if ln.startswith("┃") and "name" in ln))
    fer, plus, fps = cols.index("FER2013 %"), cols.index("FER+ %"), cols.index("fps (detector)")
    assert rows["compact-ferplus"][plus] == "84.6" and rows["compact-ferplus"][fer] == "60.1"
    assert rows[DEFAULT_WEIGHTS][plus] == "71.2" and rows[DEFAULT_WEIGHTS][fer] == "65.0"
    mini = json.loads((ASSETS_DIR / "minixception_fer2013.json").read_text())  # bench_ferplus's
    assert rows["compact-ferplus"][fps] == "32 (dlib)"
    assert rows["minixception-fer2013"][plus] == f"{100 * mini['cross_metrics']['ferplus']['PrivateTest']['accuracy']:.1f}"
    assert "FER+ PrivateTest" in " ".join(wide.split())
    narrow = _cli("weights", "list")
    assert max(len(ln) for ln in narrow.splitlines()) <= 80, narrow
    rows = {r[0].split()[0]: r for r in _table_rows(narrow)}
    assert set(rows) == {*NAMES, "compact-ferplus", "compact_tiny-ferplus"}
    assert "84.6" in rows["compact-ferplus"] and "71.2" in rows[DEFAULT_WEIGHTS], narrow


def test_info_is_a_summary_with_the_details_behind_full(fresh_plugins, cache_dir):
    out = _cli("weights", "info", DEFAULT_WEIGHTS)
    lines = out.splitlines()
    assert len(lines) < 60 and max(len(ln) for ln in lines) <= 80, out
    text = " ".join(out.split())
    meta = _meta(DEFAULT_WEIGHTS)
    assert "(the default)" in text and f"{meta['cost']['params']:,} parameters" in text
    assert f"FER2013 PrivateTest {100 * meta['metrics']['PrivateTest']['accuracy']:.1f} %" in text
    gru = meta["train"]["sequence_run"]["test"]["gru"]["accuracy"]
    assert f"{100 * gru:.1f} %" in text and "ms per face" in text and "--full" in text
    assert "config_digest" not in out  # the training details are behind --full
    full = _cli("weights", "info", DEFAULT_WEIGHTS, "--full")
    assert "config_digest" in full and "sequence_run" in full and len(full.splitlines()) > 100
    info = json.loads(_cli("weights", "info", DEFAULT_WEIGHTS, "--json"))
    assert info["default"] is True and info["train"]["sequence_run"]["test"]["gru"]["accuracy"] == gru


@pytest.fixture
def weights_table():
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import weights_table
    finally:
        sys.path.pop(0)
    return weights_table


def _markdown_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in ln.strip().strip("|").split("|")]
            for ln in text.splitlines() if ln.startswith("|")]


def test_weights_table_tool_says_which_model_for_what(with_ferplus, weights_table, capsys):
    weights_table.main(["--bundled"])
    out = capsys.readouterr().out
    rows = _markdown_rows(out)
    header, rule, body = rows[0], rows[1], rows[2:]
    assert all(len(r) == len(header) for r in rows) and set(rule) == {"---"}
    assert header[:2] == ["model", "use it for"] and "FER2013 %" in header and "FER+ %" in header
    by_name = {r[0].strip("`"): dict(zip(header, r, strict=True)) for r in body}
    assert set(by_name) == {*NAMES, "compact-ferplus"}
    assert body[0][0] == f"`{DEFAULT_WEIGHTS}`" and "the default" in body[0][1]
    assert "the most accurate on FER+" in by_name["compact-ferplus"]["use it for"]
    assert "also contempt" in by_name["compact-ferplus"]["use it for"]
    assert "the most accurate on FER2013" in by_name[DEFAULT_WEIGHTS]["use it for"]
    assert "a reference" in by_name["minixception-fer2013"]["use it for"]
    fastest = min(NAMES, key=lambda n: _meta(n)["cost"]["cpu_ms_batch1_2cores"])
    assert "the fastest" in by_name[fastest]["use it for"]
    assert by_name["compact-ferplus"]["FER+ %"] == "84.6"
    assert by_name["compact-ferplus"]["GRU %"] == "80.1"
    assert by_name["compact-ferplus"]["fps end to end"] == "32 (dlib)"
    assert "python tools/weights_table.py" in out
