"""``fertk models`` and the temporal listing."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from fertk.cli import cli


def test_models_json_lists_paper_counts():
    result = CliRunner().invoke(cli, ["models", "--json", "--no-timing"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["compact"]["params"] == 2_673_031
    assert rows["compact_tiny"]["params"] == 1_229_623
    assert rows["compact"]["macs"] == 1_432_687_040
    assert {"dtan", "timm:resnet18", "example_convnet", "gru", "average", "last"} <= set(rows)
    for row in rows.values():
        assert "error" not in row, row
        assert isinstance(row["params"], int) and isinstance(row["macs"], int) and row["name"]
        assert "latency_ms" not in row
    assert rows["gru"]["kind"] == "temporal" and rows["dtan"]["input_shape"] == [1, 64, 64]


def test_models_timing_and_table():
    runner = CliRunner()
    result = runner.invoke(cli, ["models", "compact_tiny", "--json", "--no-heads", "--no-trained",
                                 "--batch", "4"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["latency_ms"] > 0 and row["throughput_b4"] > 0 and row["engine"] == "eager"
    table = runner.invoke(cli, ["models", "dtan", "--no-timing", "--no-heads", "--num-classes", "6"])
    assert table.exit_code == 0 and "5,766,134" in table.stdout  # 5,766,635 - 501 (one class less)


def test_models_unknown_extra_is_one_line_error():
    result = subprocess.run([sys.executable, "-m", "fertk.cli", "models", "--extra", "compat"],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "Unknown backbone 'compat'" in result.stderr and "Traceback" not in result.stderr


def test_list_temporal_and_light_imports():
    code = (
        "import json, sys, io, contextlib\n"
        "from fertk.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf): main(['list', 'temporal', '--json'])\n"
        "names = {d['name'] for d in json.loads(buf.getvalue())}\n"
        "heavy = [m for m in ('torch', 'timm', 'cv2', 'onnxruntime') if m in sys.modules]\n"
        "print(json.dumps([sorted(names), heavy]))\n"
    )
    out = subprocess.check_output([sys.executable, "-c", code], text=True)
    names, heavy = json.loads(out.strip().splitlines()[-1])
    assert {"gru", "average", "last"} <= set(names)
    assert heavy == []


def test_models_mark_trained_weights():
    result = CliRunner().invoke(cli, ["models", "[cmga]*", "--json", "--no-timing"])
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["minixception"]["trained"] == "yes"
    assert rows["minixception"]["weights"] == ["minixception-fer2013"]
    assert rows["compact"]["trained"] == "yes" and rows["compact"]["weights"] == ["compact-fer2013", "compact-ferplus"]
    assert rows["compact_bn"]["trained"] == "no" and rows["compact_bn"]["weights"] == []
    assert rows["compact_tiny"]["trained"] == "yes"  # compact_tiny-fer2013, with its GRU
    assert "compact_tiny-fer2013" in rows["gru"]["weights"] and rows["average"]["trained"] == "n/a"
    table = CliRunner().invoke(cli, ["models", "m*", "--no-timing"], env={"COLUMNS": "80"})
    assert "trained weights: minixception: minixception-fer2013" in table.stdout
    line = next(ln for ln in table.stdout.splitlines() if "minixception" in ln and "yes" in ln)
    assert "56,951" in line


def test_models_table_never_cuts_a_number_and_warns_when_busy(monkeypatch):
    import fertk.commands.models as models
    import fertk.models.cost as cost

    def timing(run, x1, xb, batch, threads):
        return {"latency_ms": 1234.567, "latency_median_ms": 5000.0, "latency_spread": 3.0,
                "threads": 1, f"throughput_b{batch}": 12345678.9, "throughput_threads": 2}

    monkeypatch.setattr(models, "_timing", timing)
    monkeypatch.setattr(cost, "machine_load", lambda: 3.5)
    result = CliRunner().invoke(cli, ["models", "[cg]*"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    # compact, compact_bn, compact_tiny, gru and the trained compact and compact_tiny on
    # FER2013 and on FER+
    assert result.stdout.count("1234.57") == 8 and result.stdout.count("12,345,679") == 8
    assert "2,673,031" in result.stdout  # MMACs give way first at 80 columns:
    wider = CliRunner().invoke(cli, ["models", "[cg]*"], env={"COLUMNS": "100"})
    assert "1,432.7" in wider.stdout and max(len(ln) for ln in wider.stdout.splitlines()) <= 100
    assert "machine is busy (load 3.5 per CPU)" in result.stderr
    assert ("varied by more than 1.5x between rounds (compact, compact_bn, compact_tiny, "
            "compact-fer2013, ...)") in result.stderr
