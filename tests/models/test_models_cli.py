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
    result = runner.invoke(cli, ["models", "compact_tiny", "--json", "--no-heads", "--batch", "4"])
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
